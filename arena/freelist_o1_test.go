package arena

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/internal/inject"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDivide checks divide against the division it replaces for every
// offset in a span of every class, and past the largest span.
func TestDivide(t *testing.T) {
	for c := range numClasses {
		d, m := classSize[c], classRecip[c]
		for n := uintptr(0); n < 4*spanUnit+2*d; n++ {
			q, r := divide(n, d, m)
			if q != n/d || r != n%d {
				t.Fatalf("divide(%d, %d) = %d, %d; want %d, %d", n, d, q, r, n/d, n%d)
			}
		}
	}
}

// TestFreeListMalloc checks the two contracts: Malloc hands a reused
// block out as its last owner left it, Alloc clears it, and both hand out
// a block never used before reading zero.
func TestFreeListMalloc(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "malloc"})
	require.NoError(t, err)
	defer f.Close()
	for _, size := range []uintptr{8, 100, 4096, 32 << 10} {
		p, err := f.Malloc(size, 8)
		require.NoError(t, err)
		assert.Equal(t, -1, nonZero(p, size), "a fresh block reads zero")
		clear(bytesOf(p, int(size)))
		bytesOf(p, int(size))[size-1] = 0xAB
		require.NoError(t, f.Free(p))
		q, err := f.Malloc(size, 8)
		require.NoError(t, err)
		require.Equal(t, p, q, "the block just freed is reused")
		assert.Equal(t, byte(0xAB), bytesOf(q, int(size))[size-1], "Malloc does not clear")
		require.NoError(t, f.Free(q))
		r, err := f.Alloc(size, 8)
		require.NoError(t, err)
		require.Equal(t, p, r)
		assert.Equal(t, -1, nonZero(r, size), "Alloc clears a reused block")
		require.NoError(t, f.Free(r))
	}
	var zero FreeList
	_, err = zero.Malloc(8, 8)
	assert.ErrorIs(t, err, ErrNoArena)
	s, err := NewSyncFreeList(nil)
	require.NoError(t, err)
	p, err := s.Malloc(24, 8)
	require.NoError(t, err)
	require.NoError(t, s.Free(p))
	require.NoError(t, s.Close())
	_, err = s.Malloc(24, 8)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestFreeListMallocCheckFreed: with CheckFreed a reused block reads zero
// through Malloc too, and a write after free is still caught.
func TestFreeListMallocCheckFreed(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "malloc-checked", CheckFreed: true})
	require.NoError(t, err)
	defer f.Close()
	p, err := f.Malloc(64, 8)
	require.NoError(t, err)
	bytesOf(p, 64)[3] = 7
	require.NoError(t, f.Free(p))
	q, err := f.Malloc(64, 8)
	require.NoError(t, err)
	assert.Equal(t, -1, nonZero(q, 64))
	require.NoError(t, f.Free(q))
	bytesOf(q, 64)[5] = 1 // after free
	_, err = f.Malloc(64, 8)
	assert.ErrorIs(t, err, ErrWriteAfterFree)
}

// TestFreeListReleaseFailsClears: a span whose pages the kernel refused
// to drop is cleared before its units are cut again, since blocks of a
// new span are handed out as reading zero.
func TestFreeListReleaseFailsClears(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "release-fails"})
	require.NoError(t, err)
	defer f.Close()
	const size = 4096
	perSpan := int(spanUnit / size)
	var blocks []unsafe.Pointer
	for range 3 * perSpan { // three full spans: one stays, one is the spare, one is released
		p, err := f.Alloc(size, 8)
		require.NoError(t, err)
		fill := bytesOf(p, size)
		for i := range fill {
			fill[i] = 0xEE
		}
		blocks = append(blocks, p)
	}
	inject.Arm(1, 1, inject.Madvise) // every madvise fails
	for _, p := range blocks {
		require.NoError(t, f.Free(p))
	}
	inject.Disarm()
	// The first span stays (its class's only partial one), the second
	// is the spare, the third's Release failed. Malloc leaves the reused
	// blocks of the first two as they were; the third's must read zero.
	released := map[unsafe.Pointer]bool{}
	for _, p := range blocks[2*perSpan:] {
		released[p] = true
	}
	seen := 0
	for range 3 * perSpan {
		p, err := f.Malloc(size, 8)
		require.NoError(t, err)
		if released[p] {
			seen++
			require.Equal(t, -1, nonZero(p, size), "a block of the span whose Release failed")
		}
	}
	assert.Equal(t, perSpan, seen)
}

// TestFreeListLargeIndex frees pointers into, between and around many
// large blocks: each is answered from the granule index, as the scan of
// every large block answered before.
func TestFreeListLargeIndex(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "large-index"})
	require.NoError(t, err)
	defer f.Close()
	var blocks []unsafe.Pointer
	for i := range 200 {
		p, err := f.Alloc(uintptr(40<<10+i*4096), 8)
		require.NoError(t, err)
		blocks = append(blocks, p)
	}
	for i, p := range blocks {
		n := uintptr(40<<10 + i*4096)
		assert.ErrorIs(t, f.Free(add(p, 8)), ErrInvalidFree)
		assert.ErrorIs(t, f.Free(add(p, n-1)), ErrInvalidFree, "the last byte")
		assert.NotErrorIs(t, f.Free(add(p, n+4096)), ErrDoubleFree, "past the end: a guard page, or another block")
	}
	for i, p := range blocks {
		if i%2 == 0 {
			require.NoError(t, f.Free(p))
		}
	}
	for i, p := range blocks {
		if i%2 == 0 {
			assert.ErrorIs(t, f.Free(p), ErrDoubleFree)
		} else {
			assert.ErrorIs(t, f.Free(add(p, 4096)), ErrInvalidFree)
			require.NoError(t, f.Free(p))
		}
	}
	f.st.validate()
	assert.Equal(t, f.st.lc.n, len(f.st.large), "every large block freed is cached")
	assert.Equal(t, 0, f.Stats().Large)
}

// TestSnapshotSyncFreeListLive: a busy SyncFreeList's row shows what it
// holds at snapshot time, with no Stats call and no slow-path event, and
// a plain FreeList's lags by fewer than publishEvery operations.
func TestSnapshotSyncFreeListLive(t *testing.T) {
	s, err := NewSyncFreeList(&Options{Name: "live-sync"})
	require.NoError(t, err)
	defer s.Close()
	f, err := NewFreeList(&Options{Name: "live-plain"})
	require.NoError(t, err)
	defer f.Close()
	row := func(name string) Summary {
		for _, a := range TakeSnapshot().Arenas {
			if a.Name == name {
				return a
			}
		}
		t.Fatalf("%q not in the snapshot", name)
		return Summary{}
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 3000 {
				p, err := s.Alloc(uintptr(8+(i+w)%200), 8)
				if !assert.NoError(t, err) {
					return
				}
				if i%3 == 0 {
					assert.NoError(t, s.Free(p))
				}
			}
		})
	}
	for i := range 5000 {
		_, err := f.Alloc(64, 8)
		require.NoError(t, err)
		if i%500 == 0 {
			_ = row("live-plain") // concurrent with the other goroutines; -race checks the reads
		}
	}
	wg.Wait()
	r := row("live-sync")
	assert.Equal(t, uint64(6000), r.Allocs)
	assert.Equal(t, s.Stats().InUse, r.InUse)
	p := row("live-plain")
	assert.GreaterOrEqual(t, p.Allocs, uint64(5000-publishEvery+1))
	assert.False(t, p.Updated.IsZero())
}
