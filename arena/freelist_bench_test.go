package arena_test

import (
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// w2Live is how many blocks W2 keeps alive; w2Sizes are the sizes it
// cycles through, small objects of a parser or a cache.
const w2Live = 100_000

var w2Sizes = [...]uintptr{16, 24, 40, 64, 96, 128, 200, 320, 512, 48}

// BenchmarkW2 is workload W2, churn: a window of 100,000 live blocks of
// mixed sizes (16 to 512 bytes); each op frees the oldest block and
// allocates a new one, writing its first byte. The Go heap's line does
// the same with make([]byte) and lets the GC free the oldest.
func BenchmarkW2(b *testing.B) {
	b.Run("arena=goheap", func(b *testing.B) {
		b.ReportAllocs()
		window := make([][]byte, w2Live)
		for i := range window {
			window[i] = make([]byte, w2Sizes[i%len(w2Sizes)])
		}
		i := 0
		for b.Loop() {
			s := make([]byte, w2Sizes[i%len(w2Sizes)])
			s[0] = 1
			window[i%w2Live] = s
			i++
		}
	})
	b.Run("arena=freelist", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		f, err := arena.NewFreeList(&arena.Options{Name: "w2"})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		window := make([]unsafe.Pointer, w2Live)
		for i := range window {
			if window[i], err = f.Alloc(w2Sizes[i%len(w2Sizes)], 8); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		for b.Loop() {
			k := i % w2Live
			if err := f.Free(window[k]); err != nil {
				b.Fatal(err)
			}
			p, err := f.Alloc(w2Sizes[i%len(w2Sizes)], 8)
			if err != nil {
				b.Fatal(err)
			}
			*(*byte)(p) = 1
			window[k] = p
			i++
		}
		b.ReportMetric(f.Stats().Fragmentation, "committed/inuse")
	})
}

// BenchmarkFreeListConcurrent has two goroutines allocate and free
// 64-byte blocks on one SyncFreeList, against the Go heap.
func BenchmarkFreeListConcurrent(b *testing.B) {
	const per, workers = 100_000, 2
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(per*workers), "ns/block")
	}
	b.Run("arena=goheap/goroutines=2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					var keep [64][]byte
					for i := range per {
						s := make([]byte, 64)
						s[0] = 1
						keep[i%64] = s
					}
				})
			}
			wg.Wait()
		}
		report(b)
	})
	b.Run("arena=syncfreelist/goroutines=2", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		s, err := arena.NewSyncFreeList(&arena.Options{Name: "conc"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					var keep [64]unsafe.Pointer
					for i := range per {
						if old := keep[i%64]; old != nil {
							if err := s.Free(old); err != nil {
								b.Error(err)
								return
							}
						}
						p, err := s.Alloc(64, 8)
						if err != nil {
							b.Error(err)
							return
						}
						*(*byte)(p) = 1
						keep[i%64] = p
					}
					for _, p := range keep {
						s.Free(p)
					}
				})
			}
			wg.Wait()
		}
		report(b)
	})
}

// BenchmarkFreeListAlloc measures one Alloc and Free pair by size.
func BenchmarkFreeListAlloc(b *testing.B) {
	for _, size := range []uintptr{16, 256, 4096, 64 << 10} {
		b.Run(fmt.Sprintf("arena=freelist/size=%d", size), func(b *testing.B) {
			mapcheck.Baseline(b)
			f, err := arena.NewFreeList(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				p, err := f.Alloc(size, 8)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Free(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
