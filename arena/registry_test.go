package arena_test

import (
	"encoding/json"
	"os"
	"sync"
	"testing"

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
