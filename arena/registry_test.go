package arena_test

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// find returns the summary of the arena named name in s.
func findArena(s arena.Snapshot, name string) (arena.Summary, bool) {
	for _, a := range s.Arenas {
		if a.Name == name {
			return a, true
		}
	}
	return arena.Summary{}, false
}

func TestRegistry(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "reg-bump", InitialSize: 64 << 10})
	f := newFreeList(t, &arena.Options{Name: "reg-free"})
	s, err := arena.NewShared(&arena.Options{Name: "reg-shared"})
	require.NoError(t, err)
	defer s.Close()

	for range 3000 {
		_, err := arena.New[[32]byte](b)
		require.NoError(t, err)
	}
	p, err := f.Alloc(100, 8)
	require.NoError(t, err)
	_, err = f.Alloc(1<<20, 8)
	require.NoError(t, err)
	_, err = s.Alloc(64, 8)
	require.NoError(t, err)

	snap := arena.TakeSnapshot()
	assert.Equal(t, "arenastat-1", snap.Format)
	assert.Equal(t, os.Getpid(), snap.PID)
	bs, ok := findArena(snap, "reg-bump")
	require.True(t, ok)
	assert.Equal(t, "bump", bs.Kind)
	assert.Regexp(t, `internal/arenatest/arenatest\.go:\d+$`, bs.Site, "where the test helper called NewBump")
	assert.Equal(t, 2, bs.Chunks, "published when the second chunk was mapped")
	require.Len(t, bs.Ranges, 2)
	for _, r := range bs.Ranges {
		assert.Equal(t, guard.PartUsable, guard.Lookup(uintptr(r.Start)).Part)
		assert.Equal(t, "reg-bump", guard.Lookup(uintptr(r.End-1)).Region)
	}
	fs, ok := findArena(snap, "reg-free")
	require.True(t, ok)
	assert.Equal(t, "freelist", fs.Kind)
	assert.Equal(t, 2, fs.Chunks, "a chunk and a large block")
	assert.Equal(t, uint64(4<<20+1<<20), fs.Committed)
	ss, ok := findArena(snap, "reg-shared")
	require.True(t, ok)
	assert.Equal(t, "shared", ss.Kind)
	assert.Greater(t, snap.Budget.Held, 0)

	// Stats refreshes the summary; Close removes it.
	st := b.Stats()
	bs, _ = findArena(arena.TakeSnapshot(), "reg-bump")
	assert.Equal(t, st.InUse, bs.InUse)
	assert.Equal(t, st.Allocs, bs.Allocs)
	require.NoError(t, f.Free(p))
	require.NoError(t, f.Close())
	_, ok = findArena(arena.TakeSnapshot(), "reg-free")
	assert.False(t, ok, "a closed arena leaves the registry")

	js, err := json.Marshal(arena.TakeSnapshot())
	require.NoError(t, err)
	assert.Contains(t, string(js), `"format":"arenastat-1"`)
	assert.Contains(t, string(js), `"name":"reg-shared"`)
}

// TestSnapshotConcurrent takes snapshots while arenas allocate, reset and
// close on other goroutines; run with -race.
func TestSnapshotConcurrent(t *testing.T) {
	mapcheck.Baseline(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = arena.TakeSnapshot()
			}
		}
	})
	for range 20 {
		b, err := arena.NewBump(&arena.Options{Name: "busy", InitialSize: 16 << 10})
		require.NoError(t, err)
		for range 2000 {
			_, err := arena.New[[64]byte](b)
			require.NoError(t, err)
		}
		b.Reset()
		require.NoError(t, b.Close())
	}
	close(stop)
	wg.Wait()
}

// TestIssue14ResetAllocatesNothing: the per-request operations of a warm
// Bump make no Go heap allocation. (Each Reset used to publish a summary:
// a clock read, the creation site formatted again, five allocations.)
func TestIssue14ResetAllocatesNothing(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "warm"})
	_, err := b.Alloc(64, 8)
	require.NoError(t, err)
	b.Reset()
	_ = arena.TakeSnapshot() // an ask: the next Reset answers it, and allocates nothing doing so
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		if _, err := b.Alloc(64, 8); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}), "Alloc(64)+Reset")
	require.NoError(t, b.Trim())
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := b.Alloc(64, 8); err != nil {
			t.Fatal(err)
		}
		if err := b.Trim(); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}), "Alloc(64)+Trim+Reset")
}

// TestIssue14SnapshotAsks: a Bump that allocates on its fast path only
// is shown with its exact numbers once it has passed a Reset after the
// snapshot that asked; the creation site is formatted when a snapshot
// first shows it, once per site.
func TestIssue14SnapshotAsks(t *testing.T) {
	mapcheck.Baseline(t)
	arena.ForgetSites()
	var bs []*arena.Bump
	for range 10 {
		bs = append(bs, newBumpHere(t, "asked")) // one call site for all ten
	}
	assert.Zero(t, arena.SitesFormatted(), "NewBump formats nothing")
	b := bs[0]
	for range 100 {
		_, err := b.Alloc(64, 8)
		require.NoError(t, err)
	}
	snap := arena.TakeSnapshot()
	first, ok := findArena(snap, "asked")
	require.True(t, ok)
	assert.Regexp(t, `registry_test\.go:\d+$`, first.Site)
	distinct := map[string]bool{}
	for _, a := range snap.Arenas {
		distinct[a.Site] = true
	}
	before := arena.SitesFormatted()
	assert.Equal(t, len(distinct), before, "each site formatted once, the ten arenas' one among them")
	b.Reset() // answers the ask
	for range 7 {
		_, err := b.Alloc(64, 8)
		require.NoError(t, err)
	}
	got := summaryOf(t, arena.TakeSnapshot(), b)
	assert.Equal(t, uint64(100), got.Allocs, "as of the Reset that answered")
	assert.Equal(t, uint64(1), got.Resets)
	assert.Zero(t, got.InUse)
	assert.Equal(t, uint64(64<<10), got.Committed)
	assert.False(t, got.Updated.Before(first.Updated))
	b.Reset()
	got = summaryOf(t, arena.TakeSnapshot(), b)
	assert.Equal(t, uint64(107), got.Allocs, "one snapshot behind, never more")
	assert.Equal(t, uint64(2), got.Resets)
	st := b.Stats()
	got = summaryOf(t, arena.TakeSnapshot(), b)
	assert.Equal(t, st.Allocs, got.Allocs, "Stats publishes")
	assert.Equal(t, before, arena.SitesFormatted(), "and later snapshots format nothing")
}

// newBumpHere makes a Bump from one line, so that every arena it makes
// has the same creation site.
func newBumpHere(t *testing.T, name string) *arena.Bump {
	b, err := arena.NewBump(&arena.Options{Name: name})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// summaryOf returns b's summary in s, by its id, known from its Stats
// name and the order of the snapshot.
func summaryOf(t *testing.T, s arena.Snapshot, b *arena.Bump) arena.Summary {
	t.Helper()
	var found []arena.Summary
	for _, a := range s.Arenas {
		if a.Name == b.Name() && a.Chunks > 0 {
			found = append(found, a)
		}
	}
	require.Len(t, found, 1, "one arena of that name has a chunk")
	return found[0]
}

// TestSnapshotClasses checks that a FreeList's size classes reach the
// snapshot: a SyncFreeList's at once, a plain FreeList's at Stats and at
// its next publication after a snapshot asked, so arenastat watch can
// draw in-use against free per class.
func TestSnapshotClasses(t *testing.T) {
	mapcheck.Baseline(t)
	class := func(s arena.Summary, size uint64) (arena.ClassStats, bool) {
		for _, c := range s.Classes {
			if c.Size == size {
				return c, true
			}
		}
		return arena.ClassStats{}, false
	}
	sf, err := arena.NewSyncFreeList(&arena.Options{Name: "classes-sync"})
	require.NoError(t, err)
	defer sf.Close()
	for range 10 {
		_, err := sf.Alloc(64, 8)
		require.NoError(t, err)
	}
	s, ok := findArena(arena.TakeSnapshot(), "classes-sync")
	require.True(t, ok)
	c, ok := class(s, 64)
	require.True(t, ok, "%+v", s.Classes)
	assert.Equal(t, uint64(10), c.InUse)
	assert.Positive(t, c.Free)
	assert.Equal(t, c.Bytes, (c.InUse+c.Free)*64, "a 64-byte class's span holds nothing but blocks")

	f, err := arena.NewFreeList(&arena.Options{Name: "classes-plain"})
	require.NoError(t, err)
	defer f.Close()
	ps := make([]unsafe.Pointer, 0, 3000)
	for range 3000 {
		p, err := f.Alloc(128, 8)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	f.Stats() // forces a publication
	s, ok = findArena(arena.TakeSnapshot(), "classes-plain")
	require.True(t, ok)
	c, ok = class(s, 128)
	require.True(t, ok, "%+v", s.Classes)
	assert.Equal(t, uint64(3000), c.InUse)
	// The snapshot above asked; the FreeList answers at its next
	// publication (every 1024 operations) with the frees below.
	for _, p := range ps[:2048] {
		require.NoError(t, f.Free(p))
	}
	s, _ = findArena(arena.TakeSnapshot(), "classes-plain")
	c, _ = class(s, 128)
	assert.Less(t, c.InUse, uint64(3000), "the class table follows the frees after an ask")
	assert.GreaterOrEqual(t, c.InUse, uint64(3000-2048))
}
