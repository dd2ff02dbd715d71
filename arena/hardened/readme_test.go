package hardened_test

import (
	"testing"

	"github.com/mmarena/mmarena/internal/readmecheck"
)

// TestReadmeExample fails when the README's hardened-mode snippet drifts
// from ExampleCatch, which go test runs and checks.
func TestReadmeExample(t *testing.T) {
	readmecheck.Example(t, "example_test.go", "../../README.md", "ExampleCatch")
}
