package arena_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestIssue11FreeWithdrawnBlock frees a block that Alloc withdrew after
// finding it written after free. The block was freed once already, so a
// second Free is a double free; it used to be accepted, which put the
// block back into circulation and wrapped InUse below zero.
func TestIssue11FreeWithdrawnBlock(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Hardened: true, Name: "hard"})
	p, err := f.Alloc(48, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	*(*byte)(unsafe.Add(p, 3)) = 0x77 // a stale pointer writes after free
	_, err = f.Alloc(48, 8)
	require.ErrorIs(t, err, arena.ErrWriteAfterFree)
	before := f.Stats()
	before.Resident = 0

	err = f.Free(p)
	require.ErrorIs(t, err, arena.ErrDoubleFree)
	assert.Contains(t, err.Error(), "withdrawn")
	_, err = f.UsableSize(p)
	assert.ErrorIs(t, err, arena.ErrDoubleFree)
	_, err = f.Realloc(p, 100)
	assert.ErrorIs(t, err, arena.ErrDoubleFree)
	after := f.Stats()
	after.Resident = 0
	assert.Equal(t, before, after, "a refused Free changes nothing")
	assert.Equal(t, uint64(0), after.InUse)

	for range 1000 {
		q, err := f.Alloc(48, 8)
		require.NoError(t, err)
		require.NotEqual(t, p, q, "a withdrawn block is never handed out again")
	}
}
