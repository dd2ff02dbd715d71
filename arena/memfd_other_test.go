//go:build !linux

package arena_test

import (
	"errors"
	"testing"

	"github.com/mmarena/mmarena/arena"
)

// TestMemfdUnsupported: without memfd_create, CreateMemfd says so.
func TestMemfdUnsupported(t *testing.T) {
	type root struct{ n int64 }
	_, _, err := arena.CreateMemfd[root](nil)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CreateMemfd: %v, want errors.ErrUnsupported", err)
	}
}
