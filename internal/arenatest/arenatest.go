// Package arenatest holds the small helpers that the tests of arena,
// arena/hardened and list share: arenas that close themselves when the
// test ends, a byte view of a block, and the Alloc+Free benchmark loop.
// Only tests import it.
package arenatest

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
)

// NewBump makes a Bump that is closed, and checked to close cleanly,
// when t ends.
func NewBump(t testing.TB, opts *arena.Options) *arena.Bump {
	t.Helper()
	b, err := arena.NewBump(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	return b
}

// NewFreeList makes a FreeList that is closed, and checked to close
// cleanly, when t ends.
func NewFreeList(t testing.TB, opts *arena.Options) *arena.FreeList {
	t.Helper()
	f, err := arena.NewFreeList(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return f
}

// BytesAt views n bytes at p. p must point at n readable bytes.
func BytesAt(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

// IsZero reports whether every byte of b is zero.
func IsZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// AllocFree is the loop of an Alloc and Free pair benchmark; touch
// writes the block's first byte in between.
func AllocFree(b *testing.B, f *arena.FreeList, size uintptr, touch bool) {
	for b.Loop() {
		p, err := f.Alloc(size, 8)
		if err != nil {
			b.Fatal(err)
		}
		if touch {
			*(*byte)(p) = 1
		}
		if err := f.Free(p); err != nil {
			b.Fatal(err)
		}
	}
}
