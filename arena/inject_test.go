package arena_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/inject"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestInjectedFreezeUndoFailsTwice: Freeze fails on the third chunk and
// its undo fails on the first two. The arena must say frozen, and once
// thawed must not clear memory it handed out before (a second failed
// undo once saved the shut fast path's 0 as the frontier to restore).
func TestInjectedFreezeUndoFailsTwice(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{InitialSize: 16 << 10, MaxChunk: 16 << 10})
	for range 3 { // three chunks
		_, err := b.Alloc(16<<10, 8)
		require.NoError(t, err)
	}
	b.Reset() // back to the first chunk, now dirty
	p, err := b.Alloc(64, 8)
	require.NoError(t, err)
	mem := bytesAt(p, 64)
	for i := range mem {
		mem[i] = 0xab
	}
	// freeze 1, freeze 2, freeze 3 fails; thaw 1 and thaw 2 fail.
	inject.ArmPlan([]bool{false, false, true, true, true}, inject.Mprotect)
	err = b.Freeze()
	inject.Disarm()
	require.ErrorIs(t, err, unix.ENOMEM)
	_, err = b.State()
	assert.ErrorIs(t, err, arena.ErrFrozen, "a chunk is still read-only")
	_, err = b.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	require.NoError(t, b.Thaw())
	_, err = b.State()
	assert.NoError(t, err)
	q, err := b.Alloc(64, 8)
	require.NoError(t, err)
	assert.Equal(t, uintptr(p)+64, uintptr(q))
	for i, x := range mem {
		require.Equal(t, byte(0xab), x, "byte %d of a live block", i)
	}
	assert.NoError(t, guard.FlushUnmaps())
}
