package arena

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/inject"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// largeArena returns a FreeList made with opts, closed at the end of
// the test, whose every mapping must be gone then (mapcheck).
func largeArena(t *testing.T, opts *Options) *FreeList {
	t.Helper()
	mapcheck.Baseline(t)
	f, err := NewFreeList(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return f
}

// pattern fills [p, p+n) with a pattern that depends on each word's
// offset and on seed, eight bytes at a time.
func pattern(p unsafe.Pointer, n uintptr, seed uint64) {
	w := unsafe.Slice((*uint64)(p), n/8)
	for i := range w {
		w[i] = uint64(i)*0x9e3779b97f4a7c15 ^ seed
	}
}

// hasPattern reports the first word of [p, p+n) that does not hold
// pattern(p, n, seed), or -1.
func hasPattern(p unsafe.Pointer, n uintptr, seed uint64) int {
	for i, v := range unsafe.Slice((*uint64)(p), n/8) {
		if v != uint64(i)*0x9e3779b97f4a7c15^seed {
			return i
		}
	}
	return -1
}

// TestLargeCacheReuse: a freed large block is cached and handed out
// again to a request that fits, with no system call; Alloc clears it,
// Malloc leaves its bytes; Stats count it cached, not in use.
func TestLargeCacheReuse(t *testing.T) {
	const size = 100 << 10
	f := largeArena(t, &Options{Name: "cache"})
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	n, err := f.UsableSize(p)
	require.NoError(t, err)
	fill(p, size, 0x5a)
	require.NoError(t, f.Free(p))
	s := f.Stats()
	assert.EqualValues(t, n, s.Cached)
	assert.EqualValues(t, n, s.Committed, "a cached block stays mapped")
	assert.EqualValues(t, 0, s.InUse)
	assert.Equal(t, 0, s.Large)
	assert.Contains(t, s.String(), "cached for reuse")

	for _, tt := range []struct {
		name  string
		alloc func(size, al uintptr) (unsafe.Pointer, error)
		want  byte
	}{{"alloc-clears", f.Alloc, 0}, {"malloc-keeps", f.Malloc, 0x5a}} {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Stats()
			q, err := tt.alloc(size-5000, 8) // a little smaller: the same bucket
			require.NoError(t, err)
			require.Equal(t, p, q, "the cached block is handed out again")
			assert.True(t, holds(q, n, tt.want))
			after := f.Stats()
			assert.Equal(t, before.Syscalls, after.Syscalls, "no system call")
			assert.EqualValues(t, n, after.InUse)
			assert.EqualValues(t, 0, after.Cached)
			assert.Equal(t, 1, after.Large)
			fill(q, size, 0x5a)
			require.NoError(t, f.Free(q))
		})
	}
	// A request too large for the block, or aligned more than it is,
	// maps a block of its own.
	q, err := f.Alloc(2*size, 8)
	require.NoError(t, err)
	assert.NotEqual(t, p, q)
	require.NoError(t, f.Free(q))
	f.st.validate()
}

// TestLargeCacheMisuse: every misuse of a cached block, and bad sizes,
// are refused with the right error and change nothing.
func TestLargeCacheMisuse(t *testing.T) {
	const size = 64 << 10
	f := largeArena(t, &Options{Name: "misuse"})
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	for _, tt := range []struct {
		name string
		call func() error
		want error
	}{
		{"double-free", func() error { return f.Free(p) }, ErrDoubleFree},
		{"interior-free", func() error { return f.Free(add(p, 4096)) }, ErrInvalidFree},
		{"last-byte-free", func() error { return f.Free(add(p, size-1)) }, ErrInvalidFree},
		{"realloc-freed", func() error { _, err := f.Realloc(p, 2*size); return err }, ErrDoubleFree},
		{"realloc-freed-smaller", func() error { _, err := f.Realloc(p, 100); return err }, ErrDoubleFree},
		{"usable-size-freed", func() error { _, err := f.UsableSize(p); return err }, ErrDoubleFree},
		{"overflowing-size", func() error { _, err := f.Alloc(math.MaxUint64-4095, 8); return err }, ErrSize},
		{"overflowing-calloc", func() error { _, err := f.Calloc(1<<40, 1<<40); return err }, ErrSize},
		{"huge-aligned", func() error { _, err := f.Alloc(size, 1<<31); return err }, unix.ENOMEM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Stats()
			require.ErrorIs(t, tt.call(), tt.want)
			after := f.Stats()
			before.Resident, after.Resident = 0, 0
			assert.Equal(t, before, after, "a refused call changes nothing")
		})
	}
	q, err := f.Alloc(0, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(q), "a zero-size block uses nothing")
	q, err = f.Alloc(size, 8)
	require.NoError(t, err)
	require.Equal(t, p, q)
	require.NoError(t, f.Free(q), "handed out again, it is live")
}

// TestLargeCacheBound: the cache never holds more than LargeCache; the
// blocks it lets go are retired into the quarantine, so a use after free
// of one faults and is named, and a second Free is still a double free.
func TestLargeCacheBound(t *testing.T) {
	defer guard.SetQuarantine(guard.SetQuarantine(-1))
	const size = 100 << 10
	f := largeArena(t, &Options{Name: "bound", LargeCache: 256 << 10})
	var ps []unsafe.Pointer
	for range 5 {
		p, err := f.Alloc(size, 8)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	n, _ := f.UsableSize(ps[0])
	for i, p := range ps {
		require.NoError(t, f.Free(p))
		s := f.Stats()
		assert.LessOrEqual(t, s.Cached, uint64(256<<10))
		assert.EqualValues(t, min(i+1, 2)*int(n), s.Cached, "after %d frees", i+1)
	}
	f.st.validate()
	// The three oldest left the cache for the quarantine.
	for _, p := range ps[:3] {
		require.ErrorIs(t, f.Free(p), ErrDoubleFree)
		err := hardened.Catch(func() { sinkByte = *(*byte)(add(p, 10)) })
		var rep *hardened.Report
		require.ErrorAs(t, err, &rep, "a use after free of an evicted block faults")
		assert.Equal(t, hardened.KindUseAfterFree, rep.Kind)
		require.NotEmpty(t, rep.Freed)
		assert.Contains(t, rep.Freed[0], "freelist_large_test.go:", "named with the site of the Free that evicted it")
	}
	// A block larger than the whole cache is never cached.
	big, err := f.Alloc(512<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(big))
	assert.LessOrEqual(t, f.Stats().Cached, uint64(256<<10))
	require.ErrorIs(t, f.Free(big), ErrDoubleFree)
}

var sinkByte byte

// TestLargeCacheUseAfterFree: a cached block is not fenced; a write
// through a stale pointer lands in it, and the next Alloc of it clears
// that write away, so no owner ever reads it through Alloc.
func TestLargeCacheUseAfterFree(t *testing.T) {
	f := largeArena(t, &Options{Name: "stale"})
	p, err := f.Alloc(64<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	require.NoError(t, guard.Catch(func() { *(*byte)(add(p, 100)) = 7 }), "a cached block is not fenced")
	q, err := f.Alloc(64<<10, 8)
	require.NoError(t, err)
	require.Equal(t, p, q)
	assert.True(t, holds(q, 64<<10, 0))
}

// TestLargeCacheOff: with the cache off, or CheckFreed, a freed large
// block is retired at once, as before the cache existed.
func TestLargeCacheOff(t *testing.T) {
	defer guard.SetQuarantine(guard.SetQuarantine(-1))
	for _, opts := range []*Options{{LargeCache: -1}, {CheckFreed: true}} {
		t.Run(fmt.Sprintf("cache=%d/checkfreed=%v", opts.LargeCache, opts.CheckFreed), func(t *testing.T) {
			f := largeArena(t, opts)
			p, err := f.Alloc(64<<10, 8)
			require.NoError(t, err)
			require.NoError(t, f.Free(p))
			assert.EqualValues(t, 0, f.Stats().Cached)
			assert.EqualValues(t, 0, f.Stats().Committed)
			var rep *hardened.Report
			require.ErrorAs(t, hardened.Catch(func() { sinkByte = *(*byte)(p) }), &rep)
			assert.Equal(t, hardened.KindUseAfterFree, rep.Kind)
		})
	}
	_, err := NewFreeList(&Options{CheckFreed: true, LargeCache: 1 << 20})
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = NewBump(&Options{LargeCache: 1 << 20})
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = NewBump(&Options{LargeDecay: time.Second})
	require.ErrorIs(t, err, ErrUnsupported)
}

// TestLargeCacheDecay: once a cached block has waited the decay, the
// arena's next call gives its pages back (Released grows, Resident
// falls) and keeps it cached, reading zero even through Malloc.
func TestLargeCacheDecay(t *testing.T) {
	const size = 256 << 10
	f := largeArena(t, &Options{Name: "decay"})
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	fill(p, size, 1)
	require.NoError(t, f.Free(p))
	s := f.Stats()
	if runtime.GOOS == "linux" {
		assert.GreaterOrEqual(t, s.Resident, uint64(size), "a cached block keeps its pages until the decay")
	}
	f.st.lc.epoch = f.st.lc.epoch.Add(-defaultLargeDecay) // the decay has passed
	s2 := f.Stats()                                       // Stats runs the decay
	assert.Equal(t, s.Released+size, s2.Released)
	assert.EqualValues(t, size, s2.Cached, "still cached")
	if runtime.GOOS == "linux" {
		assert.Less(t, s2.Resident, uint64(size), "its pages went back")
	}
	q, err := f.Malloc(size, 8)
	require.NoError(t, err)
	require.Equal(t, p, q)
	assert.True(t, holds(q, size, 0), "a decayed block reads zero")
	f.st.validate()

	t.Run("at-free", func(t *testing.T) {
		g := largeArena(t, &Options{LargeDecay: -1})
		p, err := g.Alloc(size, 8)
		require.NoError(t, err)
		fill(p, size, 1)
		require.NoError(t, g.Free(p))
		assert.EqualValues(t, size, g.Stats().Released, "given back at Free")
		assert.EqualValues(t, size, g.Stats().Cached)
	})
}

// TestLargeCacheLimit: cached blocks count against Options.Limit, and a
// mapping that needs their room gets it: the cache gives way.
func TestLargeCacheLimit(t *testing.T) {
	f := largeArena(t, &Options{Name: "limited", Limit: 1 << 20})
	p, err := f.Alloc(600<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	assert.EqualValues(t, 600<<10, f.Stats().Cached)
	q, err := f.Alloc(900<<10, 8) // too large for the cached block
	require.NoError(t, err)
	assert.EqualValues(t, 0, f.Stats().Cached, "the cache gave its room up")
	_, err = f.Alloc(200<<10, 8)
	require.ErrorIs(t, err, ErrLimit)
	require.NoError(t, f.Free(q))
	_, err = f.Alloc(2<<20, 8)
	require.ErrorIs(t, err, ErrLimit)
	assert.EqualValues(t, 900<<10, f.Stats().Cached, "a request no eviction could serve leaves the cache alone")

	// A chunk for small blocks takes the cache's room too.
	g := largeArena(t, &Options{Name: "limited-small", Limit: 4<<20 + 512<<10})
	p, err = g.Alloc(1<<20, 8)
	require.NoError(t, err)
	require.NoError(t, g.Free(p))
	s, err := g.Alloc(64, 8)
	require.NoError(t, err, "1 MiB cached and a 4 MiB chunk pass the limit: the cache gives way")
	assert.EqualValues(t, 0, g.Stats().Cached)
	require.NoError(t, g.Free(s))
}

// TestLargeCacheClose: Close retires cached blocks with the live ones;
// nothing is left mapped past the quarantine, and a stale pointer into a
// cached block faults as a use after close.
func TestLargeCacheClose(t *testing.T) {
	defer guard.SetQuarantine(guard.SetQuarantine(-1))
	mapcheck.Baseline(t)
	f, err := NewFreeList(&Options{Name: "closing"})
	require.NoError(t, err)
	p, err := f.Alloc(64<<10, 8)
	require.NoError(t, err)
	q, err := f.Alloc(128<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	require.NoError(t, f.Close())
	for _, x := range []unsafe.Pointer{p, q} {
		var rep *hardened.Report
		require.ErrorAs(t, hardened.Catch(func() { sinkByte = *(*byte)(x) }), &rep)
		assert.Equal(t, hardened.KindUseAfterClose, rep.Kind)
	}
	require.ErrorIs(t, f.Free(p), ErrClosed)
}

// TestReallocLargeMoves grows a block from 256 KiB to 256 MiB by
// doubling, then shrinks it by halves, checking every byte at every step:
// the kept bytes move, the new bytes read zero, and the old block, its
// pages moved away, is cached clean.
func TestReallocLargeMoves(t *testing.T) {
	top := uintptr(256 << 20)
	if testing.Short() {
		top = 16 << 20
	}
	f := largeArena(t, &Options{Name: "realloc"})
	n := uintptr(256 << 10)
	p, err := f.Alloc(n, 8)
	require.NoError(t, err)
	pattern(p, n, 1)
	for n < top {
		q, err := f.Realloc(p, 2*n)
		require.NoError(t, err)
		require.Equal(t, -1, hasPattern(q, n, 1), "%d bytes kept", n)
		require.True(t, holds(add(q, n), n, 0), "the new %d bytes read zero", n)
		if _, err := f.UsableSize(p); p != q {
			require.ErrorIs(t, err, ErrDoubleFree, "the old block is freed")
		}
		p, n = q, 2*n
		pattern(p, n, 1)
	}
	for n > 64<<10 {
		q, err := f.Realloc(p, n/2-100) // not a page multiple: the last page's tail is cleared
		require.NoError(t, err)
		n /= 2
		require.Equal(t, -1, hasPattern(q, n-104, 1), "%d bytes kept", n)
		u, err := f.UsableSize(q)
		require.NoError(t, err)
		require.True(t, holds(add(q, n-100), u-(n-100), 0), "past the new size reads zero")
		p = q
		pattern(p, n, 1)
	}
	f.st.validate()
	require.NoError(t, f.Free(p))
}

// TestReallocLargeFallback: where pages cannot move (made to fail here,
// as they do on darwin and freebsd), Realloc copies, with the same
// result.
func TestReallocLargeFallback(t *testing.T) {
	f := largeArena(t, &Options{Name: "copy"})
	p, err := f.Alloc(1<<20, 8)
	require.NoError(t, err)
	pattern(p, 1<<20, 3)
	// The new block's mmap succeeds, the mremap fails.
	failed := inject.Counts().Failures
	inject.ArmPlan([]bool{false, true}, inject.Mmap)
	q, err := f.Realloc(p, 3<<20)
	inject.Disarm()
	require.Equal(t, failed+1, inject.Counts().Failures, "the move was refused")
	require.NoError(t, err)
	require.Equal(t, -1, hasPattern(q, 1<<20, 3))
	require.True(t, holds(add(q, 1<<20), 2<<20, 0))
	require.NoError(t, f.Free(q))
	assert.True(t, errors.Is(f.Free(q), ErrDoubleFree))
}

// fill sets [p, p+n) to v.
func fill(p unsafe.Pointer, n uintptr, v byte) {
	b := bytesOf(p, int(n))
	for i := range b {
		b[i] = v
	}
}

// holds reports whether every byte of [p, p+n) is v.
func holds(p unsafe.Pointer, n uintptr, v byte) bool {
	for _, x := range bytesOf(p, int(n)) {
		if x != v {
			return false
		}
	}
	return true
}

// TestLargeCacheBudget: when guard's mapping budget refuses a fresh
// large block, the cached blocks give their mappings up and the block is
// mapped.
func TestLargeCacheBudget(t *testing.T) {
	f := largeArena(t, &Options{Name: "budget"})
	var ps []unsafe.Pointer
	for range 6 {
		p, err := f.Alloc(64<<10, 8)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	for _, p := range ps {
		require.NoError(t, f.Free(p))
	}
	require.NoError(t, guard.FlushQuarantine())
	_, held := guard.Budget()
	defer guard.SetBudget(guard.SetBudget(held)) // nothing more
	_, err := guard.Map(1, nil)
	require.ErrorIs(t, err, guard.ErrBudget, "the budget is spent")
	p, err := f.Alloc(1<<20, 8) // fits no cached block
	require.NoError(t, err)
	assert.EqualValues(t, 0, f.Stats().Cached, "the cache gave its mappings up")
	require.NoError(t, f.Free(p))
}

// TestLargeCacheSync: two goroutines allocate, grow and free large
// blocks on one SyncFreeList, through its cache and MoveTo, each block
// keeping its bytes; run with -race.
func TestLargeCacheSync(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := NewSyncFreeList(&Options{Name: "sync-large", LargeCache: 1 << 20})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	errs := make(chan error, 2)
	for g := range 2 {
		go func() {
			errs <- func() error {
				for i := range 100 {
					n := uintptr(64<<10 + (i%4)*32<<10)
					p, err := s.Alloc(n, 8)
					if err != nil {
						return err
					}
					pattern(p, n, uint64(g*1000+i))
					q, err := s.Realloc(p, 3*n)
					if err != nil {
						return err
					}
					if w := hasPattern(q, n, uint64(g*1000+i)); w >= 0 || !holds(add(q, n), 2*n, 0) {
						return fmt.Errorf("block %d of goroutine %d lost its bytes at word %d", i, g, w)
					}
					if err := s.Free(q); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	for range 2 {
		require.NoError(t, <-errs)
	}
	assert.LessOrEqual(t, s.Stats().Cached, uint64(1<<20))
}
