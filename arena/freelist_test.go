package arena_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

func fill(p unsafe.Pointer, n uintptr, v byte) {
	mem := bytesAt(p, n)
	for i := range mem {
		mem[i] = v
	}
}

func holds(p unsafe.Pointer, n uintptr, v byte) bool {
	for _, x := range bytesAt(p, n) {
		if x != v {
			return false
		}
	}
	return true
}

func TestFreeListAlloc(t *testing.T) {
	mapcheck.Baseline(t)
	sizes := []uintptr{1, 8, 9, 100, 128, 129, 1000, 4096, 5000, 32 << 10, 32<<10 + 1, 1 << 20}
	aligns := []uintptr{8, 16, 64, 4096, 1 << 16, 2 << 20}
	for _, al := range aligns {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("align=%d/size=%d", al, size), func(t *testing.T) {
				f := newFreeList(t, nil)
				var ps []unsafe.Pointer
				for i := range 20 {
					p, err := f.Alloc(size, al)
					require.NoError(t, err)
					require.True(t, align.IsAligned(uintptr(p), al), "%#x not aligned to %d", uintptr(p), al)
					require.True(t, holds(p, size, 0), "block %d not zeroed", i)
					fill(p, size, byte(i+1))
					n, err := f.UsableSize(p)
					require.NoError(t, err)
					require.GreaterOrEqual(t, n, size)
					if size > 128 && size <= 32<<10 && al <= size/8 {
						assert.LessOrEqual(t, float64(n-size)/float64(size), 0.125, "waste of a %d-byte block", n)
					}
					ps = append(ps, p)
				}
				for i, p := range ps {
					require.True(t, holds(p, size, byte(i+1)), "block %d lost its bytes", i)
				}
				for _, p := range ps {
					require.NoError(t, f.Free(p))
				}
				st := f.Stats()
				assert.Equal(t, uint64(0), st.InUse)
				assert.Equal(t, uint64(20), st.Frees)
			})
		}
	}
}

func TestFreeListHugeAlignment(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	p, err := f.Alloc(100, 1<<30)
	require.NoError(t, err)
	assert.True(t, align.IsAligned(uintptr(p), 1<<30))
	n, err := f.UsableSize(p)
	require.NoError(t, err)
	assert.Equal(t, uintptr(align.PageSize()), n, "waste is under a page, whatever the alignment")
	require.NoError(t, f.Free(p))
}

func TestFreeListReuseIsZeroed(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	a, err := f.Alloc(64, 8)
	require.NoError(t, err)
	fill(a, 64, 0xAB)
	require.NoError(t, f.Free(a))
	b, err := f.Alloc(60, 8)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the freed block is reused first")
	assert.True(t, holds(b, 64, 0), "and handed out zeroed")
}

func TestFreeListBadFrees(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Name: "strict"})
	other := newFreeList(t, nil)
	region, err := guard.Map(4096, nil)
	require.NoError(t, err)
	defer region.Close()

	a, err := f.Alloc(64, 8)
	require.NoError(t, err)
	b, err := f.Alloc(64, 8)
	require.NoError(t, err)
	big, err := f.Alloc(100<<10, 8)
	require.NoError(t, err)
	live, err := f.Alloc(64, 8)
	require.NoError(t, err)
	fill(live, 64, 7)
	foreign, err := other.Alloc(64, 8)
	require.NoError(t, err)
	freedBig, err := f.Alloc(200<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(freedBig))
	require.NoError(t, f.Free(a))
	require.NoError(t, f.Free(b))

	heap := new([64]byte)
	var stack [16]byte
	tests := []struct {
		name string
		p    unsafe.Pointer
		want error
	}{
		{"double free", a, arena.ErrDoubleFree},
		{"delayed double free", b, arena.ErrDoubleFree},
		{"double free of a large block", freedBig, arena.ErrDoubleFree},
		{"interior", unsafe.Add(live, 8), arena.ErrInvalidFree},
		{"unaligned", unsafe.Add(live, 1), arena.ErrInvalidFree},
		{"interior of a large block", unsafe.Add(big, 4096), arena.ErrInvalidFree},
		{"go heap", unsafe.Pointer(heap), arena.ErrNotOwned},
		{"stack", unsafe.Pointer(&stack[3]), arena.ErrNotOwned},
		{"another arena", foreign, arena.ErrNotOwned},
		{"another mapping", region.Pointer(), arena.ErrNotOwned},
	}
	before := f.Stats()
	before.Resident = 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Free(tt.p)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			_, err = f.UsableSize(tt.p)
			assert.ErrorIs(t, err, tt.want)
			after := f.Stats()
			after.Resident = 0
			assert.Equal(t, before, after, "a refused Free changes nothing")
		})
	}
	assert.NoError(t, f.Free(nil), "Free(nil) is a no-op")
	assert.True(t, holds(live, 64, 7))
	// The arena still works, and the first double-freed block is intact.
	c, err := f.Alloc(64, 8)
	require.NoError(t, err)
	assert.Contains(t, []unsafe.Pointer{a, b}, c)
	_ = runtime.KeepAlive
	runtime.KeepAlive(heap)
}

func TestFreeListDoubleFreeAfterRelease(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	// Two spans of one class: emptying both releases the second.
	var ps []unsafe.Pointer
	for range 2 * (64 << 10) / 4096 {
		p, err := f.Alloc(4096, 8)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	for _, p := range ps {
		require.NoError(t, f.Free(p))
	}
	for _, p := range ps {
		assert.ErrorIs(t, f.Free(p), arena.ErrDoubleFree)
	}
}

func TestFreeListRealloc(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Limit: 8 << 20})
	p, err := f.Realloc(nil, 100)
	require.NoError(t, err)
	fill(p, 100, 3)
	q, err := f.Realloc(p, 110)
	require.NoError(t, err)
	assert.Equal(t, p, q, "112-byte class still fits: in place")
	assert.True(t, holds(q, 100, 3))
	assert.True(t, holds(unsafe.Add(q, 100), 10, 0))
	r, err := f.Realloc(q, 5000)
	require.NoError(t, err)
	assert.NotEqual(t, q, r)
	assert.True(t, holds(r, 100, 3), "the old bytes move with the block")
	assert.True(t, holds(unsafe.Add(r, 100), 4900, 0))
	assert.ErrorIs(t, f.Free(q), arena.ErrDoubleFree, "the old block was freed")
	// A failed Realloc leaves the block where and as it was.
	_, err = f.Realloc(r, 64<<20)
	assert.ErrorIs(t, err, arena.ErrLimit)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.True(t, holds(r, 100, 3))
	n, err := f.UsableSize(r)
	require.NoError(t, err)
	assert.Equal(t, uintptr(5120), n)
	// Shrinking a lot moves to a smaller class.
	s, err := f.Realloc(r, 16)
	require.NoError(t, err)
	assert.True(t, holds(s, 16, 3))
	z, err := f.Realloc(s, 0)
	require.NoError(t, err)
	assert.Nil(t, z)
	assert.ErrorIs(t, f.Free(s), arena.ErrDoubleFree, "Realloc(p, 0) freed p")
	_, err = f.Realloc(unsafe.Pointer(new(int)), 8)
	assert.ErrorIs(t, err, arena.ErrNotOwned)
}

func TestFreeListCalloc(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	p, err := f.Calloc(10, 24)
	require.NoError(t, err)
	assert.True(t, holds(p, 240, 0))
	assert.True(t, align.IsAligned(uintptr(p), 16))
	for _, tt := range []struct{ n, size uintptr }{{math.MaxUint64, 2}, {1 << 32, 1 << 32}, {math.MaxInt/2 + 1, 2}} {
		_, err := f.Calloc(tt.n, tt.size)
		assert.ErrorIs(t, err, arena.ErrSize)
		assert.ErrorIs(t, err, unix.ENOMEM)
	}
}

func TestFreeListBadInput(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Limit: 1 << 20})
	for _, al := range []uintptr{0, 3, 12} {
		_, err := f.Alloc(8, al)
		assert.ErrorIs(t, err, align.ErrAlignment, "align %d", al)
		assert.ErrorIs(t, err, unix.EINVAL)
	}
	_, err := f.Alloc(8, 2<<30)
	assert.ErrorIs(t, err, align.ErrAlignment, "a valid alignment larger than 1 GiB")
	assert.ErrorIs(t, err, unix.ENOMEM, "a valid alignment larger than 1 GiB")
	for _, size := range []uintptr{math.MaxUint64, math.MaxUint64 - 4096, math.MaxInt} {
		_, err := f.Alloc(size, 8)
		assert.ErrorIs(t, err, unix.ENOMEM, "size %d", size)
	}
	_, err = f.Alloc(2<<20, 8)
	assert.ErrorIs(t, err, arena.ErrLimit)
	p, err := f.Alloc(0, 8)
	require.NoError(t, err)
	assert.NoError(t, f.Free(p), "a zero-size allocation frees as a no-op")
	_, err = arena.NewFreeList(&arena.Options{Limit: -1})
	assert.ErrorIs(t, err, arena.ErrSize)
	assert.Equal(t, uint64(0), f.Stats().Committed, "nothing was mapped")
}

func TestFreeListClose(t *testing.T) {
	mapcheck.Baseline(t)
	f, err := arena.NewFreeList(nil)
	require.NoError(t, err)
	p, err := f.Alloc(64, 8)
	require.NoError(t, err)
	_, err = f.Alloc(1<<20, 8)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	_, err = f.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.ErrorIs(t, f.Free(p), arena.ErrClosed)
	_, err = f.Realloc(p, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = f.UsableSize(p)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = arena.New[int](f)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.True(t, f.Stats().Closed)
}

func TestFreeListReturnsPages(t *testing.T) {
	mapcheck.Baseline(t)
	if runtime.GOOS != "linux" {
		t.Skip("Resident needs mincore, wired up on Linux only")
	}
	f := newFreeList(t, nil)
	var ps []unsafe.Pointer
	for range 100_000 {
		p, err := f.Alloc(100, 8)
		require.NoError(t, err)
		fill(p, 100, 1)
		ps = append(ps, p)
	}
	full := f.Stats()
	require.GreaterOrEqual(t, full.Resident, uint64(100_000*100))
	for _, p := range ps {
		require.NoError(t, f.Free(p))
	}
	empty := f.Stats()
	assert.Equal(t, uint64(0), empty.InUse)
	assert.LessOrEqual(t, empty.Resident, uint64(2*64<<10), "RSS falls to two spans: the last in use and a spare")
	assert.Greater(t, empty.Released, uint64(full.Resident/2))
	// Alloc and free at a span's edge: the spare absorbs it, no syscalls.
	calls := empty.Syscalls
	for range 1000 {
		p, err := f.Alloc(100, 8)
		require.NoError(t, err)
		require.NoError(t, f.Free(p))
	}
	assert.Equal(t, calls, f.Stats().Syscalls, "no thrashing at the boundary")
}

// TestFreeListReleasesInBatches frees 40 spans' worth of 64-byte blocks
// in the order they were allocated, which empties 38 spans side by side
// (the first becomes the class's spare, the last stays as its only
// partial span): their pages go back in one madvise per MiB, not one per
// span, and Stats releases what still waits.
func TestFreeListReleasesInBatches(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	const spans, perSpan = 40, 64 << 10 / 64
	var ps []unsafe.Pointer
	for range spans * perSpan {
		p, err := f.Alloc(64, 8)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	before := f.Stats()
	for _, p := range ps {
		require.NoError(t, f.Free(p))
	}
	after := f.Stats()
	assert.Equal(t, uint64(spans-2)*64<<10, after.Released-before.Released, "every emptied span but the spare and the last")
	assert.LessOrEqual(t, after.Syscalls-before.Syscalls, uint64(3), "38 spans of 64 KiB: two batches of 1 MiB and what Stats found waiting")
	for range 1000 { // and the arena goes on serving from the spans it kept
		p, err := f.Alloc(64, 8)
		require.NoError(t, err)
		require.NoError(t, f.Free(p))
	}
	assert.Equal(t, after.Syscalls, f.Stats().Syscalls)
}

func TestFreeListHardened(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{CheckFreed: true, Name: "hard"})
	p, err := f.Alloc(48, 8)
	require.NoError(t, err)
	fill(p, 48, 9)
	require.NoError(t, f.Free(p))
	assert.True(t, holds(p, 48, 0), "zeroed on free")
	*(*byte)(unsafe.Add(p, 5)) = 0x66 // a stale pointer writes after free
	_, err = f.Alloc(48, 8)
	require.ErrorIs(t, err, arena.ErrWriteAfterFree)
	assert.Contains(t, err.Error(), "byte 5 is 0x66")
	assert.Equal(t, uint64(1), f.Stats().Retired)
	q, err := f.Alloc(48, 8)
	require.NoError(t, err, "the next allocation gets another block")
	assert.NotEqual(t, p, q)
}

func TestFreeListStats(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Name: "fl"})
	for range 10 {
		_, err := f.Alloc(100, 8)
		require.NoError(t, err)
	}
	_, err := f.Alloc(100<<10, 8)
	require.NoError(t, err)
	st := f.Stats()
	assert.Equal(t, uint64(10*104+100<<10), st.InUse)
	assert.Equal(t, uint64(4<<20+100<<10), st.Committed)
	assert.Equal(t, 1, st.Large)
	require.Len(t, st.Classes, 1)
	assert.Equal(t, arena.ClassStats{Size: 104, InUse: 10, Free: 64<<10/104 - 10, Spans: 1, Bytes: 64 << 10}, st.Classes[0])
	assert.InDelta(t, float64(st.Committed)/float64(st.InUse), st.Fragmentation, 1e-9)
	s := st.String()
	assert.Contains(t, s, `freelist arena "fl"`)
	assert.Regexp(t, `(?m)^ +104 +10 +620 +1 +64 KiB$`, s)
}

func TestMemalign(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Limit: 64 << 20})
	for _, al := range []uintptr{0, 1, 3, 4, 12, 24} {
		p, err := align.Memalign(f, al, 64)
		assert.Nil(t, p)
		assert.ErrorIs(t, err, unix.EINVAL, "alignment %d", al)
	}
	_, err := align.Memalign(f, 4096, math.MaxUint64-100)
	assert.ErrorIs(t, err, unix.ENOMEM, "rounding overflows")
	_, err = align.Memalign(f, 64, 128<<20)
	assert.ErrorIs(t, err, unix.ENOMEM, "past the arena's limit")
	p, err := align.Memalign(f, 64, 0)
	assert.NoError(t, err)
	assert.Nil(t, p, "size 0 gives nil")
	assert.Equal(t, uint64(0), f.Stats().Allocs, "nothing allocated on error")
	for al := uintptr(8); al <= 1<<30; al <<= 1 {
		p, err := align.Memalign(f, al, 100)
		require.NoError(t, err, "alignment %d", al)
		require.True(t, align.IsAligned(uintptr(p), al))
		require.True(t, holds(p, 100, 0))
		require.NoError(t, f.Free(p))
	}
}

// TestSyncFreeListCrossGoroutine has producers allocate and fill blocks
// that consumers verify and free, so blocks cross goroutines both ways.
func TestSyncFreeListCrossGoroutine(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := arena.NewSyncFreeList(&arena.Options{Name: "xg"})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	type block struct {
		p    unsafe.Pointer
		n    uintptr
		fill byte
	}
	ch := make(chan block, 64)
	const producers, per = 4, 5000
	var pw, cw sync.WaitGroup
	failures := make(chan string, 16)
	for w := range producers {
		pw.Go(func() {
			for i := range per {
				n := uintptr(8 + (i*37+w*11)%3000)
				p, err := s.Alloc(n, 8)
				if err != nil {
					failures <- err.Error()
					return
				}
				if !holds(p, n, 0) {
					failures <- "block not zeroed"
					return
				}
				v := byte(1 + (i+w)%250)
				fill(p, n, v)
				ch <- block{p, n, v}
			}
		})
	}
	for range 2 {
		cw.Go(func() {
			for b := range ch {
				if !holds(b.p, b.n, b.fill) {
					failures <- fmt.Sprintf("block at %#x changed before it was freed", uintptr(b.p))
				}
				if err := s.Free(b.p); err != nil {
					failures <- err.Error()
				}
			}
		})
	}
	pw.Wait()
	close(ch)
	cw.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	st := s.Stats()
	assert.Equal(t, uint64(0), st.InUse)
	assert.Equal(t, uint64(producers*per), st.Frees)
	_, err = s.Calloc(2, 8)
	require.NoError(t, err)
	_, err = s.Realloc(nil, 8)
	require.NoError(t, err)
	_, err = s.UsableSize(nil)
	require.NoError(t, err)
}

func TestFreeListNew(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, nil)
	n, err := arena.New[node](f)
	require.NoError(t, err)
	n.Val = 5
	s, err := arena.MakeSlice[point](f, 10, 20)
	require.NoError(t, err)
	s[9] = point{1, 2}
	require.NoError(t, f.Free(unsafe.Pointer(n)))
	require.NoError(t, f.Free(unsafe.Pointer(&s[0])))
	_, err = arena.New[withPtr](f)
	assert.ErrorIs(t, err, arena.ErrPointers)
	assert.True(t, errors.Is(f.Free(unsafe.Pointer(n)), arena.ErrDoubleFree))
}

func TestFreeListFreeze(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{Name: "table"})
	small, err := f.Alloc(100, 8)
	require.NoError(t, err)
	big, err := f.Alloc(1<<20, 8)
	require.NoError(t, err)
	fill(small, 100, 3)
	require.NoError(t, f.Freeze())
	assert.True(t, holds(small, 100, 3))
	for _, p := range []unsafe.Pointer{small, big} {
		err := guard.Catch(func() { *(*byte)(p) = 9 })
		assert.ErrorContains(t, err, `of region "table" (read-only page, frozen)`)
	}
	_, err = f.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	assert.ErrorIs(t, f.Free(small), arena.ErrFrozen)
	_, err = f.Realloc(small, 200)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	_, err = f.Realloc(small, 50)
	assert.ErrorIs(t, err, arena.ErrFrozen, "shrinking in place would write too")
	require.NoError(t, f.Thaw())
	require.NoError(t, f.Thaw())
	*(*byte)(big) = 9
	require.NoError(t, f.Free(small))
	require.NoError(t, f.Free(big))
}
