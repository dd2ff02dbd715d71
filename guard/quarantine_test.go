package guard_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// withQuarantine sets the quarantine's bound for one test.
func withQuarantine(t *testing.T, n int64) {
	t.Helper()
	old := guard.SetQuarantine(n)
	t.Cleanup(func() { guard.SetQuarantine(old) })
}

// reservation returns the /proc/self/maps lines over r's whole
// reservation, guards included.
func reservation(t *testing.T, r *guard.Region) []procmaps.Mapping {
	t.Helper()
	return linesOf(t, r)
}

func TestRetire(t *testing.T) {
	mapcheck.Baseline(t)
	withQuarantine(t, -1)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			before := guard.Quarantined()
			r, err := guard.Map(4*ps, &guard.Options{Name: "request", Fence: f})
			require.NoError(t, err)
			b := r.Bytes()
			for i := range b {
				b[i] = 0xAB
			}
			p := at(r, 100)
			calls := 0
			require.NoError(t, r.Retire("use after close", func() string { calls++; return "main.handle h.go:42" }))
			assert.Zero(t, calls, "the site is formatted only when a fault is named")
			require.NoError(t, r.Retire("again", nil), "Retire is idempotent")

			// Closed for use, but the range is still reserved and fenced.
			assert.Nil(t, r.Pointer())
			assert.ErrorIs(t, r.Commit(8*ps), guard.ErrClosed)
			assert.Contains(t, r.String(), "in the quarantine")
			if runtime.GOOS == "linux" {
				lines := reservation(t, r)
				require.NotEmpty(t, lines, "the range stays mapped")
				for _, m := range lines {
					if f == guard.FenceMarkers {
						assert.Equal(t, "rw-p", m.Perms, "markers fence without changing the mapping: %s", m.Line)
					} else {
						assert.Equal(t, "---p", m.Perms, m.Line)
					}
				}
			}
			q := guard.Quarantined()
			assert.Equal(t, before.Regions+1, q.Regions)
			assert.Equal(t, before.Bytes+int64(r.Size()+2*r.GuardSize()), q.Bytes)

			// A stale pointer faults and is named, with the site.
			err = guard.Catch(func() { load(p) })
			assert.EqualError(t, err, `guard: fault at offset 100 of region "request" (closed region: use after close, retired at main.handle h.go:42)`)
			assert.Equal(t, 1, calls)

			// New regions never get the quarantined range.
			for range 8 {
				n := mustMap(t, 4*ps, nil)
				lo, hi := n.Addr()-uintptr(ps), n.Addr()+uintptr(n.Size()+ps)
				assert.False(t, lo < r.Addr()+uintptr(r.Size()) && hi > r.Addr(), "a new region at %#x overlaps the quarantined one at %#x", n.Addr(), r.Addr())
			}

			// Close takes it out of the quarantine and unmaps it.
			require.NoError(t, r.Close())
			assert.Equal(t, before.Regions, guard.Quarantined().Regions)
			if runtime.GOOS == "linux" {
				assert.Empty(t, reservation(t, r))
			}
		})
	}
}

// TestRetireRSS: retired pages hold no memory. (pagemap cannot show it
// for guard markers, which it lists as swap entries, so this reads the
// process's RSS around a region large enough to stand out.)
func TestRetireRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	mapcheck.Baseline(t)
	withQuarantine(t, -1)
	const size = 64 << 20
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			r, err := guard.Map(size, &guard.Options{Name: "big", Fence: f})
			require.NoError(t, err)
			b := r.Bytes()
			for i := 0; i < len(b); i += ps {
				b[i] = 1
			}
			before := procmaps.RSS()
			require.NoError(t, r.Retire("use after close", nil))
			after := procmaps.RSS()
			assert.Greater(t, before, after+size*7/8, "RSS fell from %d to %d", before, after)
			require.NoError(t, r.Close())
		})
	}
}

func TestQuarantineBound(t *testing.T) {
	mapcheck.Baseline(t)
	size := 4 * ps
	each := int64(size + 2*ps)
	withQuarantine(t, 3*each)
	evicted := guard.Quarantined().Evictions
	var rs []*guard.Region
	for i := range 5 {
		r, err := guard.Map(size, &guard.Options{Name: fmt.Sprintf("r%d", i)})
		require.NoError(t, err)
		rs = append(rs, r)
		require.NoError(t, r.Retire("use after close", nil))
	}
	q := guard.Quarantined()
	assert.Equal(t, 3, q.Regions, "first in, first out, within the bound")
	assert.Equal(t, 3*each, q.Bytes)
	assert.Equal(t, evicted+2, q.Evictions)
	assert.Equal(t, "r2", q.Oldest)
	assert.NotContains(t, rs[0].String(), "quarantine", "the oldest left and was unmapped")
	assert.Contains(t, rs[2].String(), "quarantine")
	assert.False(t, q.OldestAt.IsZero())
	if runtime.GOOS == "linux" {
		assert.NotEmpty(t, reservation(t, rs[4]))
	}
	// An evicted region is still named closed, until its addresses are
	// mapped again.
	loc := guard.Lookup(rs[0].Addr())
	if loc.Region == "r0" {
		assert.Equal(t, guard.PartClosed, loc.Part)
	}

	// Lowering the bound evicts at once; 0 turns the quarantine off.
	guard.SetQuarantine(each)
	assert.Equal(t, 1, guard.Quarantined().Regions)
	guard.SetQuarantine(0)
	assert.Equal(t, 0, guard.Quarantined().Regions)
	r, err := guard.Map(size, &guard.Options{Name: "off"})
	require.NoError(t, err)
	require.NoError(t, r.Retire("use after close", nil))
	assert.Equal(t, 0, guard.Quarantined().Regions, "with the quarantine off, Retire unmaps")
	if runtime.GOOS == "linux" {
		assert.Empty(t, reservation(t, r))
	}
}

// TestQuarantineBudget: quarantined regions count in the mapping budget,
// and give their mappings up before a new region is refused.
func TestQuarantineBudget(t *testing.T) {
	mapcheck.Baseline(t)
	withQuarantine(t, -1)
	_, held := guard.Budget()
	old := guard.SetBudget(held + 12) // four regions of three mappings each (mprotect fences)
	t.Cleanup(func() { guard.SetBudget(old) })
	var rs []*guard.Region
	for range 4 {
		r, err := guard.Map(ps, &guard.Options{Fence: guard.FenceMprotect, Name: "q"})
		require.NoError(t, err)
		rs = append(rs, r)
	}
	_, full := guard.Budget()
	require.GreaterOrEqual(t, full, held+3)
	for _, r := range rs {
		require.NoError(t, r.Retire("use after close", nil))
	}
	_, now := guard.Budget()
	assert.Greater(t, now, held, "quarantined regions still hold mappings")
	assert.Equal(t, now-held, guard.Quarantined().Mappings)
	evicted := guard.Quarantined().Evictions
	for range 4 {
		r, err := guard.Map(ps, &guard.Options{Fence: guard.FenceMprotect, Name: "new"})
		require.NoError(t, err, "the quarantine makes room")
		t.Cleanup(func() { assert.NoError(t, r.Close()) })
	}
	assert.Greater(t, guard.Quarantined().Evictions, evicted)
}

func TestFlushQuarantine(t *testing.T) {
	mapcheck.Baseline(t)
	withQuarantine(t, -1)
	r, err := guard.Map(ps, &guard.Options{Name: "flushed"})
	require.NoError(t, err)
	require.NoError(t, r.Retire("use after close", func() string { return "here" }))
	require.NoError(t, guard.FlushQuarantine())
	assert.Equal(t, 0, guard.Quarantined().Regions)
	if runtime.GOOS == "linux" {
		assert.Empty(t, reservation(t, r))
	}
	require.NoError(t, r.Close(), "Close after the quarantine let go does nothing")
}

// TestQuarantineMappingBound: the quarantine keeps at most half of the
// mapping budget, whatever its byte bound.
func TestQuarantineMappingBound(t *testing.T) {
	mapcheck.Baseline(t)
	withQuarantine(t, -1)
	_, held := guard.Budget()
	old := guard.SetBudget(held + 20)
	t.Cleanup(func() { guard.SetBudget(old) })
	for range 30 {
		r, err := guard.Map(ps, &guard.Options{Name: "small"})
		require.NoError(t, err)
		require.NoError(t, r.Retire("use after close", nil))
		q := guard.Quarantined()
		assert.LessOrEqual(t, q.Mappings, (held+20)/2)
	}
	q := guard.Quarantined()
	assert.Greater(t, q.Regions, 0)
	assert.Less(t, q.Bytes, q.Limit, "the byte bound was not what evicted")
}
