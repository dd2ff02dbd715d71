package guard_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// withCache sets the reuse cache's bound for one test.
func withCache(t *testing.T, n int64) {
	t.Helper()
	old := guard.SetCache(n)
	t.Cleanup(func() { guard.SetCache(old) })
}

// TestCacheReuse: a reservation pushed out of the quarantine waits in the
// cache still fenced and named, and the next Map of its layout gets it
// back, reading zero, writable, with guards, as Map would have made it.
func TestCacheReuse(t *testing.T) {
	mapcheck.Baseline(t)
	withCache(t, -1)
	size := 4 * ps
	each := int64(size + 2*ps)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			require.NoError(t, guard.FlushQuarantine())
			withQuarantine(t, each) // room for one
			opts := &guard.Options{Name: "req", Fence: f}
			r := mustMap(t, size, opts)
			for i := range r.Bytes() {
				r.Bytes()[i] = 0xAB
			}
			p, addr := at(r, 100), r.Addr()
			require.NoError(t, r.Retire("use after close", func() string { return "h.go:1" }))
			pushed := mustMap(t, 2*ps, &guard.Options{Name: "other", Fence: f}) // another layout, smaller
			require.NoError(t, pushed.Retire("use after close", nil))           // pushes r out
			q := guard.Quarantined()
			assert.Equal(t, 1, q.Cached, "r left the quarantine for the cache")
			assert.Equal(t, 1, q.Regions)

			// In the cache, r is as fenced and as named as in the quarantine.
			err := guard.Catch(func() { load(p) })
			assert.EqualError(t, err, `guard: fault at offset 100 of region "req" (closed region: use after close, retired at h.go:1)`)

			// A Map of another layout does not take it; one of its layout does.
			mustMap(t, 2*size, &guard.Options{Name: "bigger", Fence: f})
			n := mustMap(t, size, &guard.Options{Name: "next", Fence: f})
			assert.Equal(t, addr, n.Addr(), "the cached reservation came back")
			assert.Equal(t, q.Reused+1, guard.Quarantined().Reused)
			assert.Equal(t, 0, guard.Quarantined().Cached)
			for i, v := range n.Bytes() {
				if v != 0 {
					t.Fatalf("byte %d of the reused region reads %#x", i, v)
				}
			}
			store(at(n, 100))
			loc := guard.Lookup(uintptr(at(n, 100)))
			assert.Equal(t, guard.PartUsable, loc.Part)
			assert.Equal(t, "next", loc.Region)
			err = guard.Catch(func() { load(at(n, size)) })
			var fe *guard.FaultError
			require.ErrorAs(t, err, &fe, "the high guard is back")
			assert.Equal(t, guard.PartHighGuard, fe.Part)
			err = guard.Catch(func() { load(at(n, -1)) })
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, guard.PartLowGuard, fe.Part)
			if runtime.GOOS == "linux" {
				ms, err := procmaps.Read(0)
				require.NoError(t, err)
				assert.NoError(t, mapcheck.Agrees(ms, n), "the kernel sees what guard counts")
				assert.Equal(t, n.Mappings(), len(linesOf(t, n)))
			}
			assert.Nil(t, r.Pointer(), "the old region stays closed")
			require.NoError(t, r.Close(), "Close of the old region leaves the new one alone")
			store(at(n, 200))
		})
	}
}

// TestCacheNeverReusesQuarantined: over many Map/Retire cycles, no Map
// ever gets a reservation retired fewer than the quarantine's bound of
// regions ago; reuse happens once they leave.
func TestCacheNeverReusesQuarantined(t *testing.T) {
	mapcheck.Baseline(t)
	withCache(t, -1)
	const held = 8
	size := 2 * ps
	withQuarantine(t, held*int64(size+2*ps))
	q0 := guard.Quarantined()
	var retired []uintptr // usable addresses, in Retire order
	for i := range 200 {
		r, err := guard.Map(size, &guard.Options{Name: fmt.Sprintf("c%d", i)})
		require.NoError(t, err)
		for j := len(retired) - 1; j >= 0 && j >= len(retired)-held; j-- {
			require.NotEqual(t, retired[j], r.Addr(), "cycle %d got the range retired at cycle %d, still in the quarantine", i, j)
		}
		retired = append(retired, r.Addr())
		require.NoError(t, r.Retire("use after close", nil))
	}
	assert.Greater(t, guard.Quarantined().Reused-q0.Reused, uint64(150), "ranges that left the quarantine are reused")
}

// TestCacheBound: SetCache bounds the cache, oldest out first; Close of
// a cached region unmaps it; the budget empties the cache before the
// quarantine; 0 turns reuse off.
func TestCacheBound(t *testing.T) {
	mapcheck.Baseline(t)
	size := 4 * ps
	each := int64(size + 6*ps) // GuardPages 3: a layout no other test maps
	withQuarantine(t, each)    // room for one
	withCache(t, 2*each)       // room for two
	var rs []*guard.Region
	for i := range 5 {
		r, err := guard.Map(size, &guard.Options{Name: fmt.Sprintf("b%d", i), GuardPages: 3})
		require.NoError(t, err)
		rs = append(rs, r)
	}
	for _, r := range rs {
		require.NoError(t, r.Retire("use after close", nil))
	}
	q := guard.Quarantined()
	assert.Equal(t, 1, q.Regions)
	assert.Equal(t, "b4", q.Oldest)
	assert.Equal(t, 2, q.Cached, "b2 and b3; b0 and b1 were pushed out of the cache")
	assert.Equal(t, 2*each, q.CachedBytes)
	if runtime.GOOS == "linux" {
		assert.Empty(t, reservation(t, rs[0]))
		assert.Empty(t, reservation(t, rs[1]))
		assert.NotEmpty(t, reservation(t, rs[2]))
	}
	require.NoError(t, rs[2].Close(), "Close of a cached region unmaps it")
	assert.Equal(t, 1, guard.Quarantined().Cached)
	if runtime.GOOS == "linux" {
		assert.Empty(t, reservation(t, rs[2]))
	}

	if rs[3].Fence() == guard.FenceMarkers { // one mapping a region: the arithmetic below
		_, held := guard.Budget()
		old := guard.SetBudget(held)
		r, err := guard.Map(ps, &guard.Options{Name: "squeezed"})
		guard.SetBudget(old)
		require.NoError(t, err, "the cached reservation gave its mapping up")
		require.NoError(t, r.Close())
		q = guard.Quarantined()
		assert.Equal(t, 0, q.Cached)
		assert.Equal(t, 1, q.Regions, "the quarantine kept its region")
	}

	r, err := guard.Map(size, &guard.Options{Name: "b5", GuardPages: 3})
	require.NoError(t, err)
	require.NoError(t, r.Retire("use after close", nil))
	require.Equal(t, 1, guard.Quarantined().Cached, "b4 left for the cache")
	guard.SetCache(0)
	assert.Equal(t, 0, guard.Quarantined().Cached, "0 turns reuse off and unmaps what was cached")
	r, err = guard.Map(size, &guard.Options{Name: "b6", GuardPages: 3})
	require.NoError(t, err)
	require.NoError(t, r.Retire("use after close", nil))
	assert.Equal(t, 0, guard.Quarantined().Cached, "with reuse off, a region leaving the quarantine is unmapped")
}

// TestCacheNoFiles: a file mapping that leaves the quarantine is
// unmapped, never handed out again as anonymous memory: its pages would
// come back holding the file's bytes, and a shared one would write to
// the file.
func TestCacheNoFiles(t *testing.T) {
	mapcheck.Baseline(t)
	withCache(t, -1)
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("file ", 2000)), 0o600))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	r, err := guard.MapFile(f, 2*ps, true, &guard.Options{Name: "file"})
	require.NoError(t, err)
	require.Equal(t, "file ", string(r.Bytes()[:5]))
	addr := r.Addr()
	withQuarantine(t, 0) // Retire unmaps at once; then try the path through the cache
	withQuarantine(t, int64(2*ps+2*ps))
	q0 := guard.Quarantined()
	require.NoError(t, r.Retire("use after close", nil))
	other := mustMap(t, ps, &guard.Options{Name: "pusher", Fence: guard.FenceMprotect})
	require.NoError(t, other.Retire("use after close", nil)) // pushes the file out
	q := guard.Quarantined()
	assert.Equal(t, q0.Cached, q.Cached, "the file mapping did not enter the cache")
	n := mustMap(t, 2*ps, &guard.Options{Name: "anon", Fence: guard.FenceMprotect})
	assert.Equal(t, q0.Reused, guard.Quarantined().Reused)
	if n.Addr() == addr {
		assert.True(t, isZero(n.Bytes()), "the kernel's fresh pages read zero")
	}
}

func isZero(b []byte) bool {
	for _, v := range b {
		if v != 0 {
			return false
		}
	}
	return true
}
