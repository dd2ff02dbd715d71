package arena_test

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestSharedConcurrent has goroutines allocate at once, each filling its
// blocks with its own tag, and then checks that every block is aligned,
// was zeroed, and still holds its tag: no two goroutines got the same
// bytes. Run it with -race.
func TestSharedConcurrent(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := arena.NewShared(&arena.Options{InitialSize: 16 << 10, MaxChunk: 256 << 10})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	const workers, per = 8, 3000
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		blocks := make([][]unsafe.Pointer, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					size := uintptr(8 + (i*7+w)%120)
					p, err := s.Alloc(size, 8)
					if err != nil {
						errs <- err
						return
					}
					mem := bytesAt(p, size)
					if !isZero(mem) || !align.IsAligned(uintptr(p), 8) {
						t.Errorf("round %d worker %d block %d: not zeroed or misaligned", round, w, i)
						return
					}
					for j := range mem {
						mem[j] = byte(w + 1)
					}
					blocks[w] = append(blocks[w], p)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for w, bs := range blocks {
			for i, p := range bs {
				size := uintptr(8 + (i*7+w)%120)
				for _, x := range bytesAt(p, size) {
					if x != byte(w+1) {
						t.Fatalf("round %d: worker %d block %d overwritten by worker %d", round, w, i, x-1)
					}
				}
			}
		}
		st := s.Stats()
		assert.Equal(t, "shared", st.Kind)
		assert.GreaterOrEqual(t, st.InUse, uint64(workers*per*8))
		s.Reset()
		assert.Equal(t, uint64(0), s.Stats().InUse)
	}
}

func TestSharedHelpers(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := arena.NewShared(&arena.Options{Name: "sh", Limit: 1 << 20, InitialSize: 64 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	n, err := arena.New[node](s)
	require.NoError(t, err)
	n.Val = 3
	_, err = arena.New[withPtr](s)
	assert.ErrorIs(t, err, arena.ErrPointers)
	_, err = s.Alloc(8, 3)
	assert.ErrorIs(t, err, align.ErrAlignment)
	_, err = s.Alloc(2<<20, 8)
	assert.ErrorIs(t, err, arena.ErrLimit)
	p, err := s.Alloc(0, 8)
	require.NoError(t, err)
	assert.NotNil(t, p)
	str, err := arena.String(s, "shared")
	require.NoError(t, err)
	assert.Equal(t, "shared", str)
	assert.Equal(t, int64(3), n.Val)
	require.NoError(t, s.Trim())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = s.Alloc(0, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.ErrorIs(t, s.Trim(), arena.ErrClosed)
	s.Reset()
	assert.True(t, s.Stats().Closed)
}

// TestSharedSlabAlignment: a slab is cut where the chunk had got to, which
// a large allocation may leave at any offset; allocations from the slab
// are still aligned as asked (FuzzArenaOps found one that was not).
func TestSharedSlabAlignment(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := arena.NewShared(&arena.Options{InitialSize: 256 << 10})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Alloc(19208, 8) // large: cut from the chunk directly, leaving offset 19208
	require.NoError(t, err)
	for _, al := range []uintptr{16, 64, 256, 4096} {
		p, err := s.Alloc(100, al) // small: from a slab starting at that offset
		require.NoError(t, err)
		assert.Zero(t, uintptr(p)%al, "aligned to %d", al)
	}
}
