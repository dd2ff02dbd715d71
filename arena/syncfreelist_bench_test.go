package arena_test

import (
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/workload"
)

// BenchmarkW2Sync is W2's churn (free a random block of the live set,
// allocate one of 8-1024 bytes in its place) from one goroutine, on a
// FreeList and on a SyncFreeList: what the SyncFreeList's safety for
// concurrent use costs a goroutine that has the arena to itself (its
// shard's uncontended mutex, the pin, and the live bitmap's atomics).
func BenchmarkW2Sync(b *testing.B) {
	type allocator interface {
		Alloc(size, align uintptr) (unsafe.Pointer, error)
		Free(p unsafe.Pointer) error
	}
	run := func(b *testing.B, a allocator) {
		mapcheck.Baseline(b)
		rng := workload.W2Seed
		live := make([]unsafe.Pointer, w2Live)
		for i := range live {
			p, err := a.Alloc(rng.W2Size(), 8)
			if err != nil {
				b.Fatal(err)
			}
			live[i] = p
		}
		for b.Loop() {
			k := rng.Next() % uint64(len(live))
			if err := a.Free(live[k]); err != nil {
				b.Fatal(err)
			}
			n := rng.W2Size()
			p, err := a.Alloc(n, 8)
			if err != nil {
				b.Fatal(err)
			}
			*(*byte)(p), *(*byte)(unsafe.Add(p, n-1)) = 1, 1
			live[k] = p
		}
	}
	b.Run("arena=freelist", func(b *testing.B) {
		f, err := arena.NewFreeList(&arena.Options{Name: "w2"})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f)
	})
	b.Run("arena=syncfreelist", func(b *testing.B) {
		f, err := arena.NewSyncFreeList(&arena.Options{Name: "w2-sync"})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, f)
		var remote uint64
		for _, sh := range f.Stats().Shards {
			remote += sh.Remote
		}
		b.ReportMetric(float64(remote)/float64(b.N), "remote/op") // frees from another P: the goroutine moved
	})
}
