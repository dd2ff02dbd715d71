package arena_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/arenatest"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// newPool makes a pool closed at the end of the test.
func newPool(t *testing.T, o *arena.PoolOptions) *arena.Pool {
	t.Helper()
	p, err := arena.NewPool(o)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// TestPool: Get hands out the arena Put last, reset; Put ends the
// caller's use of it (the generation changes, allocation is refused);
// the next Get's allocations read zero where the last user wrote.
func TestPool(t *testing.T) {
	mapcheck.Baseline(t)
	p := newPool(t, &arena.PoolOptions{Arena: &arena.Options{Name: "request"}})
	b, err := p.Get()
	require.NoError(t, err)
	assert.Equal(t, "request", b.Name())
	s, err := arena.MakeSlice[byte](b, 1000, 1000)
	require.NoError(t, err)
	for i := range s {
		s[i] = 0xAB
	}
	gen, err := b.State()
	require.NoError(t, err)

	require.NoError(t, p.Put(b))
	g, err := b.State()
	assert.NotEqual(t, gen, g, "Put changes the generation: a structure that kept it notices")
	assert.ErrorIs(t, err, arena.ErrClosed, "the arena is not the caller's any more")
	_, err = b.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed, "allocation after Put is refused")
	_, err = arena.New[int64](b)
	assert.ErrorIs(t, err, arena.ErrClosed)
	b.Reset() // a stale holder's Reset reopens nothing
	_, err = b.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.ErrorIs(t, b.Freeze(), arena.ErrClosed, "nor can it freeze what the next Get hands out")

	c, err := p.Get()
	require.NoError(t, err)
	assert.Same(t, b, c, "the kept arena comes back")
	g2, err := c.State()
	require.NoError(t, err)
	assert.Equal(t, g, g2)
	s2, err := arena.MakeSlice[byte](c, 1000, 1000)
	require.NoError(t, err)
	assert.Equal(t, unsafe.SliceData(s), unsafe.SliceData(s2), "the same memory")
	assert.True(t, arenatest.IsZero(s2), "and it reads zero")
	assert.Equal(t, uint64(1), c.Stats().Resets)
	require.NoError(t, p.Put(c))
}

// TestPoolMisuse: each misuse of Get and Put is an error that errors.Is
// names, and changes nothing.
func TestPoolMisuse(t *testing.T) {
	mapcheck.Baseline(t)
	p := newPool(t, nil)
	other := newPool(t, nil)
	mine, err := p.Get()
	require.NoError(t, err)
	theirs, err := other.Get()
	require.NoError(t, err)
	plain := newBump(t, nil)
	closed, err := p.Get()
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	twice, err := p.Get()
	require.NoError(t, err)
	require.NoError(t, p.Put(twice))
	for _, c := range []struct {
		name string
		b    *arena.Bump
		want error
	}{
		{"nil", nil, arena.ErrNoArena},
		{"zero Bump", new(arena.Bump), arena.ErrNoArena},
		{"made by NewBump", plain, arena.ErrNotOwned},
		{"made by another pool", theirs, arena.ErrNotOwned},
		{"closed", closed, arena.ErrClosed},
		{"already Put", twice, arena.ErrDoubleFree},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorIs(t, p.Put(c.b), c.want)
		})
	}
	_, err = plain.Alloc(8, 8)
	assert.NoError(t, err, "a refused Put leaves the arena as it was")
	_, err = theirs.Alloc(8, 8)
	assert.NoError(t, err)
	require.NoError(t, other.Put(theirs))

	var zero arena.Pool
	_, err = zero.Get()
	assert.ErrorIs(t, err, arena.ErrNoArena)
	assert.ErrorIs(t, zero.Put(mine), arena.ErrNoArena)
	assert.ErrorIs(t, zero.Close(), arena.ErrNoArena)
	_, err = arena.NewPool(&arena.PoolOptions{Max: -1})
	assert.ErrorIs(t, err, arena.ErrSize)
	_, err = arena.NewPool(&arena.PoolOptions{MaxBytes: -1})
	assert.ErrorIs(t, err, arena.ErrSize)
	_, err = arena.NewPool(&arena.PoolOptions{Arena: &arena.Options{CheckFreed: true}})
	assert.ErrorIs(t, err, arena.ErrUnsupported, "the arenas' options are checked once, by NewPool")

	// After Close: Get refuses, Put closes what it is given.
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "a second Close does nothing")
	_, err = p.Get()
	assert.ErrorIs(t, err, arena.ErrClosed)
	require.NoError(t, p.Put(mine))
	_, err = mine.State()
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = twice.State()
	assert.ErrorIs(t, err, arena.ErrClosed, "Close closed the arenas it kept")
}

// TestPoolBounds: the pool keeps at most Max arenas and MaxBytes of their
// chunks; Put trims an arena over the byte bound, and closes one that is
// still over it or that finds the pool full.
func TestPoolBounds(t *testing.T) {
	mapcheck.Baseline(t)
	const chunk = 64 << 10
	p := newPool(t, &arena.PoolOptions{Max: 2, MaxBytes: 4 * chunk, Arena: &arena.Options{InitialSize: chunk, MaxChunk: chunk}})
	var bs []*arena.Bump
	for range 3 {
		b, err := p.Get()
		require.NoError(t, err)
		bs = append(bs, b)
	}
	// bs[0] grows to three chunks, bs[1] to two.
	for i, n := range []int{3, 2} {
		for range n {
			_, err := bs[i].Alloc(chunk, 8)
			require.NoError(t, err)
		}
	}
	require.NoError(t, p.Put(bs[0]))
	assert.Equal(t, uint64(3*chunk), bs[0].Stats().Committed, "within the bound: kept whole")
	require.NoError(t, p.Put(bs[1]))
	assert.Equal(t, uint64(chunk), bs[1].Stats().Committed, "over the byte bound: trimmed to its first chunk")
	_, err := bs[1].State()
	assert.ErrorIs(t, err, arena.ErrClosed, "kept, shut")
	assert.False(t, bs[1].Stats().Closed)
	require.NoError(t, p.Put(bs[2]))
	assert.True(t, bs[2].Stats().Closed, "the pool is full: closed")

	// The last Put comes out first.
	a, err := p.Get()
	require.NoError(t, err)
	assert.Same(t, bs[1], a)
	c, err := p.Get()
	require.NoError(t, err)
	assert.Same(t, bs[0], c)
	require.NoError(t, p.Put(c))
	require.NoError(t, p.Put(a))

	// A bound smaller than a chunk keeps nothing.
	q := newPool(t, &arena.PoolOptions{MaxBytes: chunk / 2})
	d, err := q.Get()
	require.NoError(t, err)
	_, err = d.Alloc(64, 8)
	require.NoError(t, err)
	require.NoError(t, q.Put(d))
	assert.True(t, d.Stats().Closed)
}

// TestPoolAllocatesNothing: a request's cycle through the pool, Get, a
// hundred small objects and Put, makes no Go heap allocation once the
// pool keeps an arena.
func TestPoolAllocatesNothing(t *testing.T) {
	mapcheck.Baseline(t)
	p := newPool(t, nil)
	cycle := func() {
		b, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if _, err := arena.New[[4]int64](b); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Put(b); err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	_ = arena.TakeSnapshot() // an ask, answered by the next Put without allocating
	assert.Zero(t, testing.AllocsPerRun(1000, cycle))
}

// TestPoolNoLeakReports: arenas kept by a pool are never reported as
// leaks, not even when the pool is dropped without Close: it closes them.
// (Pooling Bumps in a sync.Pool printed a leak report each time the
// sync.Pool dropped one.)
func TestPoolNoLeakReports(t *testing.T) {
	mapcheck.Baseline(t)
	got := make(chan arena.LeakReport, 16)
	old := arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	defer arena.SetLeakHandler(old)
	_, held := guard.Budget()
	fill := func() {
		p, err := arena.NewPool(&arena.PoolOptions{Arena: &arena.Options{Name: "pooled"}})
		require.NoError(t, err)
		var bs []*arena.Bump
		for range 4 {
			b, err := p.Get()
			require.NoError(t, err)
			_, err = b.Alloc(64, 8)
			require.NoError(t, err)
			bs = append(bs, b)
		}
		for _, b := range bs {
			require.NoError(t, p.Put(b))
		}
	}
	fill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		require.NoError(t, guard.FlushQuarantine())
		if _, now := guard.Budget(); now == held {
			break // the dropped pool closed its four arenas
		}
		require.True(t, time.Now().Before(deadline), "the dropped pool's arenas are still mapped")
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-got:
		t.Fatalf("leak report for a pooled arena: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPoolConcurrent: many goroutines share a pool; run with -race.
func TestPoolConcurrent(t *testing.T) {
	mapcheck.Baseline(t)
	p := newPool(t, &arena.PoolOptions{Max: 3})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				b, err := p.Get()
				if err != nil {
					t.Error(err)
					return
				}
				o, err := arena.New[[8]int64](b)
				if err != nil {
					t.Error(err)
					return
				}
				if *o != [8]int64{} {
					t.Error("a pooled arena handed out memory that does not read zero")
				}
				o[0] = int64(w*1000 + i)
				if err := p.Put(b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestPoolSampled: a pool of hardened Bumps (Options.Sample) keeps the
// rules: allocation after Put is refused, sampled or not.
func TestPoolSampled(t *testing.T) {
	mapcheck.Baseline(t)
	p := newPool(t, &arena.PoolOptions{Arena: &arena.Options{Sample: &hardened.Options{Every: 2}}})
	b, err := p.Get()
	require.NoError(t, err)
	for range 4 {
		_, err := arena.New[int64](b)
		require.NoError(t, err)
	}
	require.NoError(t, p.Put(b))
	for range 4 {
		_, err := arena.New[int64](b)
		assert.True(t, errors.Is(err, arena.ErrClosed), "got %v", err)
	}
	c, err := p.Get()
	require.NoError(t, err)
	for range 4 {
		o, err := arena.New[int64](c)
		require.NoError(t, err)
		assert.Zero(t, *o)
	}
	require.NoError(t, p.Put(c))
}

// TestIssue13ReuseKeepsQuarantine: with NewBump and Close taking chunks
// from guard's reuse cache, a pointer kept past Close still faults and
// is named, with the Close site, for as long as its range is in the
// quarantine, however many arenas come and go meanwhile; and no arena
// gets a range still in it.
func TestIssue13ReuseKeepsQuarantine(t *testing.T) {
	mapcheck.Baseline(t)
	const held = 32 // ranges the quarantine holds in this test
	old := guard.SetQuarantine(held * (64<<10 + 2*int64(os.Getpagesize())))
	defer guard.SetQuarantine(old)
	q0 := guard.Quarantined()
	type closed struct {
		p    *[64]int64
		addr uintptr
	}
	var kept []closed
	for i := range 400 {
		b, err := arena.NewBump(&arena.Options{Name: "request"})
		require.NoError(t, err)
		p, err := arena.New[[64]int64](b)
		require.NoError(t, err)
		addr := uintptr(unsafe.Pointer(p))
		for j := len(kept) - 1; j >= 0 && j > len(kept)-held; j-- {
			require.NotEqual(t, kept[j].addr, addr, "cycle %d got the range closed at cycle %d, still quarantined", i, j)
		}
		assert.Zero(t, *p, "a reused range reads zero")
		p[3] = int64(i)
		require.NoError(t, b.Close()) // reuse test: the Close site
		kept = append(kept, closed{p, addr})
		if i < held-1 { // the first pointer, checked while its range is quarantined
			checkClosed(t, kept[0].p)
		}
	}
	for _, c := range kept[len(kept)-held+1:] {
		checkClosed(t, c.p)
	}
	assert.Greater(t, guard.Quarantined().Reused-q0.Reused, uint64(300), "the ranges that left the quarantine were reused")
}

// checkClosed asserts that reading p faults and hardened.Catch names it a
// use after close of "request", closed at the line of this file marked
// "reuse test: the Close site".
func checkClosed(t *testing.T, p *[64]int64) {
	t.Helper()
	err := hardened.Catch(func() { sinkInt = p[3] })
	var rep *hardened.Report
	require.ErrorAs(t, err, &rep)
	assert.Equal(t, hardened.KindUseAfterClose, rep.Kind)
	assert.Equal(t, "request", rep.Arena)
	require.NotEmpty(t, rep.Freed)
	src, err := os.ReadFile("pool_test.go")
	require.NoError(t, err)
	mark := "// reuse test: " + "the Close site" // split, so that only the marked line holds it whole
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, mark) {
			assert.Contains(t, rep.Freed[0], fmt.Sprintf("pool_test.go:%d", i+1))
			return
		}
	}
	t.Fatal("no marked line")
}
