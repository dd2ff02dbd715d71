package hardened_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
)

// The helpers the pool's tests share with arena's, which drive pools
// through the arenas that sample into them.

var sink byte

func newBump(t testing.TB, opts *arena.Options) *arena.Bump {
	t.Helper()
	b, err := arena.NewBump(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	return b
}

func newFreeList(t testing.TB, opts *arena.Options) *arena.FreeList {
	t.Helper()
	f, err := arena.NewFreeList(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return f
}

// bytesAt views n bytes at p.
func bytesAt(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
