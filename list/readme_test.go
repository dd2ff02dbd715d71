package list_test

import (
	"testing"

	"github.com/mmarena/mmarena/internal/readmecheck"
)

// TestReadmeExample fails when the README's list snippet drifts from
// Example, which go test runs and checks.
func TestReadmeExample(t *testing.T) {
	readmecheck.Example(t, "example_test.go", "../README.md", "Example")
}

// TestReadmeRefListExample does the same for the README's list across
// processes and ExampleOnMemfd.
func TestReadmeRefListExample(t *testing.T) {
	readmecheck.Example(t, "reflist_example_test.go", "../README.md", "ExampleOnMemfd")
}

// TestReadmeRefListFileExample does the same for the README's list in a
// file and ExampleOnFile.
func TestReadmeRefListFileExample(t *testing.T) {
	readmecheck.Example(t, "reflist_example_test.go", "../README.md", "ExampleOnFile")
}
