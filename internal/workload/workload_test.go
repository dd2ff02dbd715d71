package workload_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/workload"
)

func TestW1(t *testing.T) {
	mapcheck.Baseline(t)
	keep := make([]*workload.Object, 1000)
	workload.W1Heap(keep)
	assert.Equal(t, int64(999), keep[999].A)
	b, err := arena.NewBump(&arena.Options{Name: "w1"})
	require.NoError(t, err)
	require.NoError(t, workload.W1Bump(b, 1000))
	assert.Equal(t, uint64(1000), b.Stats().Allocs)
	require.NoError(t, b.Close())
}

// TestW2 checks that both sides of W2 draw the same sizes from the same
// seed, and that the free list's live set comes back whole.
func TestW2(t *testing.T) {
	mapcheck.Baseline(t)
	x, y := workload.W2Seed, workload.W2Seed
	for range 1000 {
		s := x.W2Size()
		require.Equal(t, s, y.W2Size())
		require.True(t, s >= 8 && s <= 1024, s)
	}
	h := workload.NewW2Heap(100)
	for range 1000 {
		h.Step()
	}
	f, err := arena.NewFreeList(&arena.Options{Name: "w2"})
	require.NoError(t, err)
	w, err := workload.NewW2FreeList(f, 100)
	require.NoError(t, err)
	for range 1000 {
		require.NoError(t, w.Step())
	}
	require.NoError(t, w.Free())
	assert.Zero(t, f.Stats().InUse)
	w, err = workload.NewW2FreeListMalloc(f, 100)
	require.NoError(t, err)
	for range 1000 {
		require.NoError(t, w.Step())
	}
	assert.Equal(t, uint64(2*(100+1000)), f.Stats().Allocs, "both runs' allocations")
	require.NoError(t, w.Free())
	assert.Zero(t, f.Stats().InUse)
	require.NoError(t, f.Close())
}

func TestW3W4(t *testing.T) {
	mapcheck.Baseline(t)
	const n = 1000
	want := int64(n * (n - 1) / 2)
	assert.Equal(t, want, workload.HeapList(n).Sum())
	b, err := arena.NewBump(&arena.Options{Name: "w3"})
	require.NoError(t, err)
	l, err := workload.BuildList(b, n)
	require.NoError(t, err)
	assert.Equal(t, n, l.Len())
	assert.Equal(t, want, workload.SumList(l))
	assert.Equal(t, int64(n-1), l.Front().Value) // pushed to the front
	workload.Churn(n)
	require.NoError(t, b.Close())
}
