//go:build !linux

package arena_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmarena/mmarena/arena"
)

// TestFileUnsupported: where guard cannot map a file shared, CreateFile
// says so and leaves no file behind.
func TestFileUnsupported(t *testing.T) {
	type root struct{ n int64 }
	path := filepath.Join(t.TempDir(), "a")
	_, err := arena.CreateFile[root](path, nil)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CreateFile: %v, want errors.ErrUnsupported", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CreateFile left %s behind: %v", path, err)
	}
}
