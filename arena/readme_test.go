package arena_test

import (
	"testing"

	"github.com/mmarena/mmarena/internal/readmecheck"
)

// TestReadmeExample fails when the README's arena snippet drifts from
// Example, which go test runs and checks.
func TestReadmeExample(t *testing.T) {
	readmecheck.Example(t, "example_test.go", "../README.md", "Example")
	readmecheck.Example(t, "example_test.go", "../README.md", "ExampleFreeList")
	readmecheck.Example(t, "example_test.go", "../README.md", "ExamplePool")
	readmecheck.Example(t, "example_test.go", "../README.md", "ExampleRef")
	readmecheck.Example(t, "memfd_example_test.go", "../README.md", "ExampleCreateMemfd")
	readmecheck.Example(t, "file_example_test.go", "../README.md", "ExampleCreateFile")
	readmecheck.Example(t, "typed_example_test.go", "../README.md", "Example_cache")
}
