package expvarpub_test

import (
	"testing"

	"github.com/mmarena/mmarena/internal/readmecheck"
)

// TestReadmeExample fails when the README's "In a server" program
// drifts from Example_server, which go test runs and checks.
func TestReadmeExample(t *testing.T) {
	readmecheck.Example(t, "server_example_test.go", "../../README.md", "Example_server")
}
