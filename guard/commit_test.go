package guard_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
)

// TestCommitted counts Ready bytes through Map, Commit, Retire and
// Close, and nothing else: guards and reserved pages are address space.
func TestCommitted(t *testing.T) {
	before := guard.Committed()
	r, err := guard.Map(3*ps, &guard.Options{Name: "counted", Reserve: 8 * ps})
	require.NoError(t, err)
	assert.Equal(t, before+int64(3*ps), guard.Committed())
	require.NoError(t, r.Commit(5*ps))
	assert.Equal(t, before+int64(5*ps), guard.Committed())
	require.NoError(t, r.Close())
	assert.Equal(t, before, guard.Committed())

	r, err = guard.Map(2*ps, &guard.Options{Name: "retired"})
	require.NoError(t, err)
	assert.Equal(t, before+int64(2*ps), guard.Committed())
	require.NoError(t, r.Retire("use after close", func() string { return "here" }))
	assert.Equal(t, before, guard.Committed(), "a retired region's pages are dropped and fenced")
	// The reuse cache hands the reservation back: counted again.
	again, err := guard.Map(2*ps, &guard.Options{Name: "retired"})
	require.NoError(t, err)
	assert.Equal(t, before+int64(2*ps), guard.Committed())
	require.NoError(t, again.Close())
	require.NoError(t, guard.FlushQuarantine())
	assert.Equal(t, before, guard.Committed())
}

// TestCommitLimit refuses Map and Commit past the cap, changing nothing.
func TestCommitLimit(t *testing.T) {
	before := guard.Committed()
	assert.Equal(t, int64(0), guard.SetCommitLimit(before+int64(4*ps)))
	defer guard.SetCommitLimit(0)

	_, err := guard.Map(5*ps, &guard.Options{Name: "too-big"})
	assert.ErrorIs(t, err, guard.ErrCommitLimit)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Equal(t, before, guard.Committed())

	r, err := guard.Map(2*ps, &guard.Options{Name: "fits", Reserve: 8 * ps})
	require.NoError(t, err)
	err = r.Commit(6 * ps)
	assert.ErrorIs(t, err, guard.ErrCommitLimit)
	assert.Equal(t, 2*ps, r.Committed(), "a refused Commit commits nothing")
	assert.Equal(t, before+int64(2*ps), guard.Committed())
	require.NoError(t, r.Commit(4*ps), "up to the cap exactly")
	require.NoError(t, r.Close())

	assert.Equal(t, before+int64(4*ps), guard.SetCommitLimit(-1), "a negative cap is no cap")
	big, err := guard.Map(16*ps, &guard.Options{Name: "uncapped"})
	require.NoError(t, err)
	require.NoError(t, big.Close())
}

// TestCommitHook sees every change of the count, and is removed by nil.
func TestCommitHook(t *testing.T) {
	var seen []int64
	assert.Nil(t, guard.SetCommitHook(func(n int64) { seen = append(seen, n) }))
	before := guard.Committed()
	require.Equal(t, []int64{before}, seen, "the hook is told the count when set")
	r, err := guard.Map(ps, &guard.Options{Name: "hooked"})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.NotNil(t, guard.SetCommitHook(nil))
	assert.Equal(t, []int64{before, before + int64(ps), before}, seen)
	r, err = guard.Map(ps, &guard.Options{Name: "unhooked"})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Len(t, seen, 3, "no calls once removed")
}

// TestDiscountRecount: released pages leave the count and come back
// under the cap; neither goes past what the region holds.
func TestDiscountRecount(t *testing.T) {
	before := guard.Committed()
	r, err := guard.Map(4*ps, &guard.Options{Name: "discounted"})
	require.NoError(t, err)
	require.NoError(t, r.Release(0, 2*ps))
	r.Discount(2 * ps)
	assert.Equal(t, before+int64(2*ps), guard.Committed())
	r.Discount(100 * ps) // more than it counts: only what it counts
	assert.Equal(t, before, guard.Committed())

	guard.SetCommitLimit(before + int64(3*ps))
	assert.ErrorIs(t, r.Recount(4*ps), guard.ErrCommitLimit)
	assert.Equal(t, before, guard.Committed(), "a refused Recount counts nothing")
	require.NoError(t, r.Recount(1))
	assert.Equal(t, before+int64(ps), guard.Committed(), "rounded up to a page")
	guard.SetCommitLimit(0)
	require.NoError(t, r.Recount(100*ps))
	assert.Equal(t, before+int64(4*ps), guard.Committed(), "no more than the region's Ready bytes")
	require.NoError(t, r.Close())
	assert.Equal(t, before, guard.Committed())
	assert.ErrorIs(t, r.Recount(ps), guard.ErrClosed)
}
