package hardened_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// poke writes v at p+off; peek reads it. Both go through a variable
// offset so the compiler keeps the access.
func poke(p unsafe.Pointer, off int, v byte) { *(*byte)(unsafe.Add(p, off)) = v }
func peek(p unsafe.Pointer, off int) byte {
	sink = *(*byte)(unsafe.Add(p, off)) // a store to a global, so the load stays
	return sink
}

// report runs fn under hardened.Catch and requires a *hardened.Report.
func report(t *testing.T, fn func()) *hardened.Report {
	t.Helper()
	err := hardened.Catch(fn)
	var r *hardened.Report
	require.ErrorAs(t, err, &r, "%v", err)
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe, "a report from a fault unwraps to the fault")
	return r
}

// fences runs a test on each fence guard offers here.
func fences(t *testing.T, test func(t *testing.T)) {
	for _, f := range []guard.Fence{guard.FenceAuto, guard.FenceMprotect} {
		t.Run(f.String(), func(t *testing.T) {
			defer hardened.SetFence(f)()
			test(t)
		})
	}
}

// sitesName checks that a report's sites start in this file, at a test
// function.
func sitesName(t *testing.T, sites []string, fn string) {
	t.Helper()
	require.NotEmpty(t, sites)
	assert.Contains(t, sites[0], fn)
	assert.Contains(t, sites[0], "pool_test.go:")
}

func allocSampled(t *testing.T, f *arena.FreeList, size uintptr) unsafe.Pointer {
	t.Helper()
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	return p
}

func TestSampledOverflow(t *testing.T) {
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		f := newFreeList(t, &arena.Options{Name: "overflow", Sample: &hardened.Options{Every: 1}})
		p := allocSampled(t, f, 48)
		assert.True(t, isZero(bytesAt(p, 48)), "sampled memory is zeroed")
		assert.Zero(t, (uintptr(p)+48)%uintptr(align.PageSize()), "the block ends at the fence")
		poke(p, 47, 1) // the last byte is the block's

		r := report(t, func() { poke(p, 48, 1) })
		assert.Equal(t, hardened.KindOverflow, r.Kind)
		assert.EqualValues(t, 1, r.Distance)
		assert.EqualValues(t, 48, r.Size)
		assert.Equal(t, uintptr(p), r.Block)
		assert.Equal(t, "overflow", r.Arena)
		assert.Nil(t, r.Freed)
		sitesName(t, r.Allocated, "allocSampled")
		assert.Contains(t, r.Error(), "arena: overflow: 1 byte past the end of a 48-byte block")

		r = report(t, func() { _ = peek(p, 48+100) })
		assert.Equal(t, hardened.KindOverflow, r.Kind)
		assert.EqualValues(t, 101, r.Distance)

		// A block larger than a slot gets a mapping of its own.
		q := allocSampled(t, f, 20000)
		r = report(t, func() { poke(q, 20000, 1) })
		assert.Equal(t, hardened.KindOverflow, r.Kind)
		assert.EqualValues(t, 1, r.Distance)
		assert.EqualValues(t, 20000, r.Size)
		require.NoError(t, f.Free(q))
		require.NoError(t, f.Free(p))
	})
}

func TestSampledUnderflow(t *testing.T) {
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1, Underflow: true}})
		p := allocSampled(t, f, 100)
		assert.Zero(t, uintptr(p)%uintptr(align.PageSize()), "the block starts at the fence")
		r := report(t, func() { poke(p, -1, 1) })
		assert.Equal(t, hardened.KindUnderflow, r.Kind)
		assert.EqualValues(t, 1, r.Distance)
		assert.Contains(t, r.Error(), "1 byte before the start of a 100-byte block")
		r = report(t, func() { _ = peek(p, -4096) })
		assert.Equal(t, hardened.KindUnderflow, r.Kind)
		assert.EqualValues(t, 4096, r.Distance)
		require.NoError(t, f.Free(p))
	})
}

func freeSampled(t *testing.T, f *arena.FreeList, p unsafe.Pointer) {
	t.Helper()
	require.NoError(t, f.Free(p))
}

func TestSampledUseAfterFree(t *testing.T) {
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		f := newFreeList(t, &arena.Options{Name: "uaf", Sample: &hardened.Options{Every: 1}})
		p := allocSampled(t, f, 64)
		poke(p, 8, 7)
		freeSampled(t, f, p)
		r := report(t, func() { _ = peek(p, 8) })
		assert.Equal(t, hardened.KindUseAfterFree, r.Kind)
		assert.EqualValues(t, 8, r.Distance)
		sitesName(t, r.Allocated, "allocSampled")
		sitesName(t, r.Freed, "freeSampled")
		assert.Contains(t, r.Error(), "use after free: 8 bytes into a 64-byte block")
		assert.Contains(t, r.String(), "freed at:\n")

		// The freed block is fenced until its slot comes round again.
		err := f.Free(p)
		require.ErrorIs(t, err, arena.ErrDoubleFree)
		assert.Contains(t, err.Error(), "freeSampled", "a double free names the first free")
		require.ErrorIs(t, f.Free(unsafe.Add(p, 8)), arena.ErrInvalidFree)
		s := f.Stats().Sample
		require.NotNil(t, s)
		assert.Equal(t, 0, s.Live)
		assert.Equal(t, 1, s.Quarantined)
	})
}

func TestSampledUseAfterReset(t *testing.T) {
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		b := newBump(t, &arena.Options{Name: "reset", Sample: &hardened.Options{Every: 1}})
		type rec struct{ A, B int64 }
		x, err := arena.New[rec](b)
		require.NoError(t, err)
		assert.Zero(t, (uintptr(unsafe.Pointer(x))+16)%uintptr(align.PageSize()), "New's object ends at the fence")
		x.B = 5
		gen, _ := b.State()
		b.Reset()
		now, _ := b.State()
		assert.NotEqual(t, gen, now)
		// Through x.B the fault may come at x's first byte: Go probes a
		// pointer for nil there before the race detector's hook runs.
		r := report(t, func() { x.B++ })
		assert.Equal(t, hardened.KindUseAfterReset, r.Kind)
		assert.Contains(t, []int64{0, 8}, r.Distance)
		r = report(t, func() { poke(unsafe.Pointer(x), 8, 1) })
		assert.EqualValues(t, 8, r.Distance)
		sitesName(t, r.Allocated, "TestSampledUseAfterReset")
		sitesName(t, r.Freed, "TestSampledUseAfterReset")
		assert.Contains(t, r.Error(), ", reset at ")

		y, err := arena.New[rec](b)
		require.NoError(t, err)
		assert.Zero(t, *y, "memory handed out after Reset reads zero")
		s := b.Stats()
		require.NotNil(t, s.Sample)
		assert.EqualValues(t, 2, s.Sample.Sampled)
		assert.EqualValues(t, 2, s.Allocs)
		assert.EqualValues(t, 16, s.InUse)
	})
}

func TestSampledUseAfterClose(t *testing.T) {
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		f, err := arena.NewFreeList(&arena.Options{Name: "closed", Sample: &hardened.Options{Every: 1}})
		require.NoError(t, err)
		p := allocSampled(t, f, 32)
		q := allocSampled(t, f, 40000)
		prev := arena.SetLeakHandler(func(arena.LeakReport) {})
		defer arena.SetLeakHandler(prev)
		require.NoError(t, f.Close())
		r := report(t, func() { _ = peek(p, 0) })
		assert.Equal(t, hardened.KindUseAfterClose, r.Kind)
		assert.Contains(t, r.Error(), "closed at ")
		r = report(t, func() { _ = peek(q, 39999) })
		assert.Equal(t, hardened.KindUseAfterClose, r.Kind)
		assert.EqualValues(t, 39999, r.Distance)
	})
}

// TestSampledOverflowAtFree: with a size that is not a multiple of the
// alignment, a few bytes lie between the block and the fence; Free finds
// a write there.
func TestSampledOverflowAtFree(t *testing.T) {
	f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1}})
	p, err := f.Alloc(13, 8)
	require.NoError(t, err)
	assert.Zero(t, uintptr(p)%8)
	assert.Nil(t, hardened.Catch(func() { poke(p, 14, 0) }), "the slack is not fenced")
	err = f.Free(p)
	var r *hardened.Report
	require.ErrorAs(t, err, &r)
	assert.Equal(t, hardened.KindOverflow, r.Kind)
	assert.True(t, r.AtFree)
	assert.EqualValues(t, 2, r.Distance)
	assert.Contains(t, err.Error(), "found by Free")
	require.ErrorIs(t, f.Free(p), arena.ErrDoubleFree, "the block was freed all the same")
	assert.EqualValues(t, 1, f.Stats().Frees)
}

func TestSampledEveryNth(t *testing.T) {
	f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 3}})
	var ps []unsafe.Pointer
	for range 9 {
		ps = append(ps, allocSampled(t, f, 100))
	}
	s := f.Stats()
	assert.EqualValues(t, 3, s.Sample.Sampled)
	assert.Equal(t, 3, s.Sample.Live)
	assert.EqualValues(t, 9, s.Allocs)
	for i, p := range ps {
		n, err := f.UsableSize(p)
		require.NoError(t, err)
		if i%3 == 2 {
			assert.EqualValues(t, 100, n, "a sampled block is exactly its size")
		} else {
			assert.EqualValues(t, 104, n, "others are their class's size")
		}
	}
	// Realloc moves a sampled block even when it shrinks, so it stays
	// flush against its fence.
	q, err := f.Realloc(ps[2], 60)
	require.NoError(t, err)
	assert.NotEqual(t, ps[2], q)
	for i, p := range ps {
		if i != 2 {
			require.NoError(t, f.Free(p))
		}
	}
	require.NoError(t, f.Free(q))
	assert.Equal(t, 0, f.Unfreed().Blocks)
}

// TestSampledMappings: with guard markers a pool segment is one kernel
// mapping however its slots are fenced; with mprotect, slots split it.
func TestSampledMappings(t *testing.T) {
	for _, fence := range []guard.Fence{guard.FenceAuto, guard.FenceMprotect} {
		t.Run(fence.String(), func(t *testing.T) {
			defer hardened.SetFence(fence)()
			probe, err := guard.Map(1, &guard.Options{Fence: fence})
			require.NoError(t, err)
			resolved := probe.Fence()
			require.NoError(t, probe.Close())

			mapcheck.Baseline(t)
			f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1}})
			var ps []unsafe.Pointer
			for range 20 { // two 16-slot segments
				ps = append(ps, allocSampled(t, f, 100))
			}
			for i := 0; i < len(ps); i += 2 {
				require.NoError(t, f.Free(ps[i]))
			}
			m := f.Stats().Sample.Mappings
			t.Logf("%s: 20 slots used, 10 freed: %d kernel mappings", resolved, m)
			if resolved == guard.FenceMarkers {
				assert.Equal(t, 2, m)
			} else {
				assert.Greater(t, m, 20)
			}
			for i := 1; i < len(ps); i += 2 {
				require.NoError(t, f.Free(ps[i]))
			}
		})
	}
}

func TestSampledQuarantine(t *testing.T) {
	f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1, Slots: 2}})
	a := allocSampled(t, f, 8)
	b := allocSampled(t, f, 8)
	c := allocSampled(t, f, 8) // every slot is live: an ordinary block
	s := f.Stats().Sample
	assert.EqualValues(t, 2, s.Sampled)
	assert.EqualValues(t, 1, s.Skipped)
	poke(a, 0, 9)
	require.NoError(t, f.Free(a))
	require.NoError(t, f.Free(c))
	d := allocSampled(t, f, 8) // takes a's slot, the oldest quarantined
	assert.Equal(t, a, d, "the same size lands at the same place")
	assert.Zero(t, peek(d, 0), "a reused slot reads zero")
	require.NoError(t, f.Free(b))
	require.NoError(t, f.Free(d))
	assert.Equal(t, 2, f.Stats().Sample.Quarantined)
}

// TestSampledBudget: when guard's mapping budget is spent, sampling stops
// and allocation carries on.
func TestSampledBudget(t *testing.T) {
	defer arena.SetLeakHandler(arena.SetLeakHandler(func(arena.LeakReport) {}))
	fences(t, func(t *testing.T) {
		mapcheck.Baseline(t)
		f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 2}})
		_ = allocSampled(t, f, 64) // an ordinary block: maps a chunk
		_ = allocSampled(t, f, 64) // sampled: maps the pool
		_, held := guard.Budget()
		defer guard.SetBudget(guard.SetBudget(held))
		for range 6 {
			p := allocSampled(t, f, 64)
			poke(p, 63, 1)
		}
		s := f.Stats().Sample
		if f.Stats().Sample.Stopped == "" {
			// Guard markers fence without new mappings: nothing to stop.
			assert.EqualValues(t, 4, s.Sampled)
		} else {
			assert.Contains(t, s.Stopped, "budget")
			assert.EqualValues(t, 1, s.Sampled)
		}
		assert.EqualValues(t, 8, f.Stats().Allocs)
	})
	t.Run("no room for the pool", func(t *testing.T) {
		mapcheck.Baseline(t)
		f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 2}})
		_ = allocSampled(t, f, 64)
		_, held := guard.Budget()
		defer guard.SetBudget(guard.SetBudget(held))
		p := allocSampled(t, f, 64)
		poke(p, 63, 1)
		s := f.Stats().Sample
		assert.Contains(t, s.Stopped, "budget")
		assert.EqualValues(t, 0, s.Sampled)
		assert.EqualValues(t, 1, s.Skipped)
	})
}

func TestSampledFreeze(t *testing.T) {
	fences(t, func(t *testing.T) {
		f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1}})
		p := allocSampled(t, f, 64)
		poke(p, 0, 3)
		require.NoError(t, f.Freeze())
		assert.EqualValues(t, 3, peek(p, 0))
		err := hardened.Catch(func() { poke(p, 0, 4) })
		var fe *guard.FaultError
		require.ErrorAs(t, err, &fe, "%v", err)
		assert.Equal(t, guard.PartFrozen, fe.Part)
		require.NoError(t, f.Thaw())
		poke(p, 0, 4)
		require.NoError(t, f.Free(p))

		b := newBump(t, &arena.Options{Sample: &hardened.Options{Every: 1}})
		x, err := arena.New[int64](b)
		require.NoError(t, err)
		require.NoError(t, b.Freeze())
		require.ErrorAs(t, hardened.Catch(func() { *x = 1 }), &fe)
		assert.Equal(t, guard.PartFrozen, fe.Part)
		b.Reset() // thaws, then fences the sampled block
		r := report(t, func() { *x = 1 })
		assert.Equal(t, hardened.KindUseAfterReset, r.Kind)
	})
}

func TestUnfreed(t *testing.T) {
	mapcheck.Baseline(t)
	f, err := arena.NewFreeList(&arena.Options{Name: "leaky", Sample: &hardened.Options{Every: 2}})
	require.NoError(t, err)
	var ps []unsafe.Pointer
	for range 5 {
		ps = append(ps, allocSampled(t, f, 24))
	}
	big, err := f.Alloc(1<<20, 8) // the sixth: sampled, with a mapping of its own
	require.NoError(t, err)
	large, err := f.Alloc(1<<20, 8) // not sampled: a large block
	require.NoError(t, err)
	require.NoError(t, f.Free(ps[0]))
	require.NoError(t, f.Free(ps[1])) // sampled
	u := f.Unfreed()
	assert.Equal(t, 5, u.Blocks)
	assert.EqualValues(t, 3*24+(1<<20)+(1<<20), u.Bytes, "24 bytes and 1 MiB sampled, two blocks of the 24-byte class, the large block")
	require.Len(t, u.Sampled, 2)
	addrs := []uintptr{u.Sampled[0].Addr, u.Sampled[1].Addr}
	assert.ElementsMatch(t, []uintptr{uintptr(ps[3]), uintptr(big)}, addrs)
	sitesName(t, u.Sampled[0].Allocated, "")
	assert.Contains(t, u.String(), `"leaky": 5 block(s)`)

	many := arena.Unfreed{Name: "x", Blocks: 12, Sampled: make([]hardened.Block, 12)}
	assert.Equal(t, 10, strings.Count(many.String(), "allocated at"))
	assert.Contains(t, many.String(), "\n  and 2 more")
	_ = large

	var got []arena.LeakReport
	prev := arena.SetLeakHandler(func(r arena.LeakReport) { got = append(got, r) })
	defer arena.SetLeakHandler(prev)
	require.NoError(t, f.Close())
	require.Len(t, got, 1)
	require.NotNil(t, got[0].Unfreed)
	assert.Equal(t, 5, got[0].Unfreed.Blocks)
	assert.Contains(t, got[0].String(), "closed with blocks never freed")
	assert.Contains(t, got[0].String(), "pool_test.go:")

	// Without sampling, Close reports nothing.
	got = nil
	g, err := arena.NewFreeList(nil)
	require.NoError(t, err)
	_, err = g.Alloc(8, 8)
	require.NoError(t, err)
	assert.Equal(t, 1, g.Unfreed().Blocks)
	require.NoError(t, g.Close())
	assert.Empty(t, got)
}

func TestSampleOptions(t *testing.T) {
	for _, o := range []arena.Options{{Sample: &hardened.Options{Every: -1}}, {Sample: &hardened.Options{Every: 1, Slots: -1}}, {Sample: &hardened.Options{Every: 1, Slots: 1<<20 + 1}}} {
		_, err := arena.NewFreeList(&o)
		require.ErrorIs(t, err, arena.ErrSize)
		_, err = arena.NewBump(&o)
		require.ErrorIs(t, err, arena.ErrSize)
	}
	_, err := arena.NewShared(&arena.Options{Sample: &hardened.Options{Every: 1}})
	require.ErrorIs(t, err, arena.ErrUnsupported)
	require.ErrorIs(t, err, errors.ErrUnsupported)

	// Alignment above a page is not sampled; zero sizes are not counted.
	f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1}})
	p, err := f.Alloc(100, 1<<16)
	require.NoError(t, err)
	assert.Zero(t, uintptr(p)%(1<<16))
	_, err = f.Alloc(0, 8)
	require.NoError(t, err)
	s := f.Stats().Sample
	assert.EqualValues(t, 0, s.Sampled)
	assert.EqualValues(t, 1, s.Skipped)
	require.NoError(t, f.Free(p))

	_, ok := hardened.Explain(0x1000)
	assert.False(t, ok, "an address near no sampled block")
	err = hardened.Catch(func() {})
	assert.NoError(t, err)
}

func TestSampledSync(t *testing.T) {
	f, err := arena.NewSyncFreeList(&arena.Options{Sample: &hardened.Options{Every: 1}})
	require.NoError(t, err)
	defer f.Close()
	p, err := f.Alloc(32, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	r := report(t, func() { _ = peek(p, 0) })
	assert.Equal(t, hardened.KindUseAfterFree, r.Kind)
	assert.True(t, strings.HasPrefix(r.Error(), "arena: use after free"))
}
