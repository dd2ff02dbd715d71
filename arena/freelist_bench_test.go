package arena_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
	"github.com/mmarena/mmarena/internal/workload"
)

// w2Live is how many blocks W2 keeps alive.
const w2Live = workload.W2Live

// rssBytes returns the process's resident set now.
func rssBytes() uint64 { return procmaps.RSS() }

// peakRSS samples RSS every 64Ki ops and keeps the highest, above the
// level when it was made.
type peakRSS struct{ base, peak uint64 }

func newPeakRSS() *peakRSS { r := rssBytes(); return &peakRSS{r, r} }

func (p *peakRSS) sample(i int) {
	if i&(1<<16-1) == 0 {
		p.peak = max(p.peak, rssBytes())
	}
}

func (p *peakRSS) report(b *testing.B) {
	p.peak = max(p.peak, rssBytes())
	b.ReportMetric(float64(p.peak-min(p.base, p.peak))/(1<<20), "peak-rss-MB")
}

// gcCount returns the GC cycles completed so far.
func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// BenchmarkW2 is workload W2, churn: 100,000 live blocks; each op frees a
// random live block and allocates one of a uniform random size in 8..1024
// bytes (fixed-seed xorshift), writing its first and last byte. Run with
// -benchtime=10000000x. The Go heap's line drops the old []byte and makes
// a new one.
func BenchmarkW2(b *testing.B) {
	b.Run("arena=goheap", func(b *testing.B) {
		b.ReportAllocs()
		coldStart()
		rss := newPeakRSS() // the peak includes the live set
		w := workload.NewW2Heap(w2Live)
		gc0, cpu0 := gcCount(), cpuTime()
		i := 0
		for b.Loop() {
			w.Step()
			rss.sample(i)
			i++
		}
		reportChurn(b, cpu0, gc0, rss)
	})
	b.Run("arena=freelist", func(b *testing.B) { w2FreeList(b, &arena.Options{Name: "w2"}, workload.NewW2FreeList) })
	// C's contract: Malloc leaves a reused block as it was.
	b.Run("arena=freelist-malloc", func(b *testing.B) { w2FreeList(b, &arena.Options{Name: "w2"}, workload.NewW2FreeListMalloc) })
	// Hardened mode as one would leave it on in production: one
	// allocation in 1000 fenced, with its call stack recorded.
	b.Run("arena=freelist-sample1000", func(b *testing.B) {
		w2FreeList(b, &arena.Options{Name: "w2", Sample: &hardened.Options{Every: 1000}}, workload.NewW2FreeList)
	})
}

// reportChurn reports W2's CPU time per op, GC cycles and peak RSS since
// the loop began at CPU time cpu0 and GC count gc0.
func reportChurn(b *testing.B, cpu0 time.Duration, gc0 uint32, rss *peakRSS) {
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(gcCount()-gc0), "gcs")
	rss.report(b)
}

// w2FreeList is W2 on a FreeList made with opts, its live set made by
// newW2 (NewW2FreeList, or NewW2FreeListMalloc whose Steps use Malloc).
func w2FreeList(b *testing.B, opts *arena.Options, newW2 func(*arena.FreeList, int) (*workload.W2FreeList, error)) {
	mapcheck.Baseline(b)
	b.ReportAllocs()
	coldStart()
	rss := newPeakRSS() // the peak includes the live set
	f, err := arena.NewFreeList(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w, err := newW2(f, w2Live)
	if err != nil {
		b.Fatal(err)
	}
	gc0, cpu0 := gcCount(), cpuTime()
	i := 0
	for b.Loop() {
		if err := w.Step(); err != nil {
			b.Fatal(err)
		}
		rss.sample(i)
		i++
	}
	reportChurn(b, cpu0, gc0, rss)
	st := f.Stats()
	b.ReportMetric(st.Fragmentation, "committed/inuse")
	if st.Sample != nil {
		b.ReportMetric(float64(st.Sample.Sampled)/float64(b.N), "sampled/op")
	}
	if err := w.Free(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkW2SampleOverhead runs W2 on two FreeLists at once, one plain
// and one sampling 1 allocation in 1000, alternating batches of 100,000
// ops between them and timing each side, so that the machine's drift
// (which, on a shared machine, is larger than the effect) falls on both
// alike; which side runs first alternates too. It reports each side's ns/op and the sampled side's overhead in
// percent; run with -benchtime 10000000x -count 10.
func BenchmarkW2SampleOverhead(b *testing.B) {
	mapcheck.Baseline(b)
	type side struct {
		f    *arena.FreeList
		w    *workload.W2FreeList
		took time.Duration
	}
	sides := [2]*side{}
	for i, opts := range []*arena.Options{{Name: "w2-plain"}, {Name: "w2-sampled", Sample: &hardened.Options{Every: 1000}}} {
		f, err := arena.NewFreeList(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		w, err := workload.NewW2FreeList(f, w2Live)
		if err != nil {
			b.Fatal(err)
		}
		sides[i] = &side{f: f, w: w}
	}
	const batch = 100_000
	run := func(s *side, n int) {
		start := time.Now()
		for range n {
			if err := s.w.Step(); err != nil {
				b.Fatal(err)
			}
		}
		s.took += time.Since(start)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		// Which side goes first alternates: the second of two batches
		// ran about 5% faster even with both sides plain.
		n, first := min(batch, b.N-done), (done/batch)%2
		run(sides[first], n)
		run(sides[1-first], n)
	}
	b.StopTimer()
	plain := float64(sides[0].took.Nanoseconds()) / float64(b.N)
	sampled := float64(sides[1].took.Nanoseconds()) / float64(b.N)
	b.ReportMetric(plain, "plain-ns/op")
	b.ReportMetric(sampled, "sampled-ns/op")
	b.ReportMetric(100*(sampled-plain)/plain, "overhead-%")
	b.ReportMetric(float64(sides[1].f.Stats().Sample.Sampled)/float64(b.N), "sampled/op")
	for _, s := range sides {
		if err := s.w.Free(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkW5 is workload W5, memalign: 1,000,000 live blocks allocated
// with an alignment, reporting ns per block and RSS bytes per block. The
// Go heap's line over-allocates by the alignment and aligns inside.
func BenchmarkW5(b *testing.B) {
	const blocks = 1_000_000
	for _, c := range []struct{ align, size uintptr }{{64, 24}, {4096, 100}} {
		name := fmt.Sprintf("align=%d/size=%d", c.align, c.size)
		b.Run("arena=goheap/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var perBlock float64
			for b.Loop() {
				b.StopTimer()
				coldStart() // earlier cases' garbage must not leave RSS during the count
				b.StartTimer()
				base := rssBytes()
				keep := make([][]byte, blocks)
				for i := range keep {
					s := make([]byte, c.size+c.align)
					off := (c.align - uintptr(unsafe.Pointer(&s[0]))%c.align) % c.align
					s[off] = 1
					keep[i] = s
				}
				perBlock = float64(rssBytes()-min(base, rssBytes())) / blocks
				runtime.KeepAlive(keep)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/blocks, "ns/block")
			b.ReportMetric(perBlock, "rss-bytes/block")
		})
		b.Run("arena=freelist/"+name, func(b *testing.B) {
			mapcheck.Baseline(b)
			b.ReportAllocs()
			var perBlock float64
			for b.Loop() {
				b.StopTimer()
				coldStart()
				b.StartTimer()
				f, err := arena.NewFreeList(&arena.Options{Name: "w5"})
				if err != nil {
					b.Fatal(err)
				}
				base := rssBytes()
				for range blocks {
					p, err := align.Memalign(f, c.align, c.size)
					if err != nil {
						b.Fatal(err)
					}
					*(*byte)(p) = 1
				}
				perBlock = float64(rssBytes()-min(base, rssBytes())) / blocks
				b.StopTimer()
				f.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/blocks, "ns/block")
			b.ReportMetric(perBlock, "rss-bytes/block")
		})
	}
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
			inParallel(workers, func(int) {
				var keep [64][]byte
				for i := range per {
					s := make([]byte, 64)
					s[0] = 1
					keep[i%64] = s
				}
			})
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
			inParallel(workers, func(int) {
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
		report(b)
		var remote uint64
		for _, sh := range s.Stats().Shards {
			remote += sh.Remote
		}
		b.ReportMetric(float64(remote)/float64(b.N)/(per*workers), "remote/block") // freed from another P's shard
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
			allocFree(b, f, size, false)
		})
	}
}

// BenchmarkFree measures one Free with live blocks in the arena, to show
// that a Free costs the same however many blocks, chunks and large
// blocks are live. size=small frees a random small block (16..256 bytes)
// of live; size=large frees a random 64 KiB block while live blocks are
// live, of which freeLargeLive are large (a mapping each: more would
// exhaust guard's mapping budget) and the rest small. Only the Free is
// timed: the blocks a batch frees are drawn, and the freed ones
// allocated again, with the timer stopped, every freeBatch frees, so the
// draw's random reads of a live set of up to 16 MB of pointers are not
// counted as Free's. The Go heap's line drops its references when the
// batch is drawn, and times nothing but the loop.
func BenchmarkFree(b *testing.B) {
	for _, live := range []int{20_000, 200_000, 2_000_000} {
		for _, size := range []string{"small", "large"} {
			name := fmt.Sprintf("live=%d/size=%s", live, size)
			b.Run("arena=goheap/"+name, func(b *testing.B) {
				b.ReportAllocs()
				coldStart()
				h := newFreeHarness(live, size == "large", func(n uintptr) unsafe.Pointer {
					s := make([]byte, n)
					return unsafe.Pointer(&s[0])
				}, func(unsafe.Pointer) {})
				h.run(b)
			})
			b.Run("arena=freelist/"+name, func(b *testing.B) {
				mapcheck.Baseline(b)
				b.ReportAllocs()
				coldStart()
				f, err := arena.NewFreeList(&arena.Options{Name: "free"})
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				h := newFreeHarness(live, size == "large", func(n uintptr) unsafe.Pointer {
					p, err := f.Alloc(n, 8)
					if err != nil {
						b.Fatal(err)
					}
					return p
				}, func(p unsafe.Pointer) {
					if err := f.Free(p); err != nil {
						b.Fatal(err)
					}
				})
				h.run(b)
				h.drain()
			})
		}
	}
}

const (
	freeLargeLive = 2000     // large blocks live in BenchmarkFree/size=large
	freeLargeSize = 64 << 10 // their size
	freeBatch     = 256      // frees timed between two untimed refills
)

// freeHarness keeps BenchmarkFree's live set: blocks [0, nFree) are the
// ones its frees pick from, the rest stay live throughout.
type freeHarness struct {
	rng   workload.Rand
	live  []unsafe.Pointer // the Go heap's pointers keep its blocks alive; nil in a hole
	nFree int
	size  func() uintptr
	alloc func(uintptr) unsafe.Pointer
	free  func(unsafe.Pointer)
	holes []int            // indexes drawn for this batch, nil in live
	batch []unsafe.Pointer // their blocks, in the order the batch frees them
}

func newFreeHarness(live int, large bool, alloc func(uintptr) unsafe.Pointer, free func(unsafe.Pointer)) *freeHarness {
	h := &freeHarness{rng: workload.W2Seed, live: make([]unsafe.Pointer, live), alloc: alloc, free: free,
		holes: make([]int, 0, freeBatch), batch: make([]unsafe.Pointer, 0, freeBatch)}
	small := func() uintptr { return uintptr(16 + h.rng.Next()%241) }
	h.size, h.nFree = small, live
	if large {
		h.size, h.nFree = func() uintptr { return freeLargeSize }, freeLargeLive
	}
	for i := range h.live {
		n := small()
		if i < h.nFree {
			n = h.size()
		}
		h.live[i] = alloc(n)
	}
	return h
}

// run frees a random block per op, drawing each batch of freeBatch and
// refilling its holes with the timer stopped.
func (h *freeHarness) run(b *testing.B) {
	b.StopTimer()
	h.draw()
	b.StartTimer()
	j := 0
	for b.Loop() {
		h.free(h.batch[j])
		if j++; j == len(h.batch) {
			b.StopTimer()
			h.refill()
			h.draw()
			j = 0
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, p := range h.batch[j:] { // drawn, not freed: free them to refill every hole
		h.free(p)
	}
	h.refill()
}

// draw picks the next batch: freeBatch distinct random blocks of
// [0, nFree), taken out of live.
func (h *freeHarness) draw() {
	for range freeBatch {
		k := int(h.rng.Next() % uint64(h.nFree))
		for h.live[k] == nil { // drawn already: take another
			k = int(h.rng.Next() % uint64(h.nFree))
		}
		h.batch = append(h.batch, h.live[k])
		h.live[k] = nil
		h.holes = append(h.holes, k)
	}
}

// refill allocates a block in every hole.
func (h *freeHarness) refill() {
	for _, k := range h.holes {
		h.live[k] = h.alloc(h.size())
	}
	h.holes, h.batch = h.holes[:0], h.batch[:0]
}

// drain frees every live block.
func (h *freeHarness) drain() {
	for _, p := range h.live {
		h.free(p)
	}
}

// BenchmarkRealloc grows a block from 256 KiB to 256 MiB by doubling,
// as a growing buffer does, and frees it; one op is the ten steps. Only
// the growth is timed: before each step the block is filled, untimed,
// so every step has a full block's bytes to keep, and the bytes are
// checked at the end. arena=freelist is Realloc, which moves the pages
// (guard's MoveTo); arena=freelist-copy is Alloc, copy and Free, what
// Realloc did before and still does where there is no mremap;
// arena=goheap is what append does: a new slice twice as large and a
// copy.
func BenchmarkRealloc(b *testing.B) {
	const from, to = 256 << 10, 256 << 20
	run := func(b *testing.B, alloc func(n uintptr) unsafe.Pointer, grow func(p unsafe.Pointer, old, n uintptr) unsafe.Pointer, free func(unsafe.Pointer)) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			n := uintptr(from)
			p := alloc(n)
			for n < to {
				fillWords(p, n, n)
				b.StartTimer()
				p = grow(p, n, 2*n)
				b.StopTimer()
				n *= 2
			}
			if !hasWords(p, to/2, to/2) {
				b.Fatal("Realloc lost the block's bytes")
			}
			free(p)
			b.StartTimer()
		}
	}
	b.Run("arena=goheap", func(b *testing.B) {
		var keep []byte
		run(b, func(n uintptr) unsafe.Pointer {
			keep = make([]byte, n)
			return unsafe.Pointer(&keep[0])
		}, func(p unsafe.Pointer, old, n uintptr) unsafe.Pointer {
			s := make([]byte, n)
			copy(s, keep)
			keep = s
			return unsafe.Pointer(&s[0])
		}, func(unsafe.Pointer) { keep = nil })
	})
	for _, name := range []string{"freelist", "freelist-copy"} {
		b.Run("arena="+name, func(b *testing.B) {
			mapcheck.Baseline(b)
			f, err := arena.NewFreeList(&arena.Options{Name: "realloc"})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			must := func(p unsafe.Pointer, err error) unsafe.Pointer {
				if err != nil {
					b.Fatal(err)
				}
				return p
			}
			grow := func(p unsafe.Pointer, _, n uintptr) unsafe.Pointer { return must(f.Realloc(p, n)) }
			if name == "freelist-copy" {
				grow = func(p unsafe.Pointer, old, n uintptr) unsafe.Pointer {
					q := must(f.Alloc(n, 16))
					copy(unsafe.Slice((*byte)(q), old), unsafe.Slice((*byte)(p), old))
					if err := f.Free(p); err != nil {
						b.Fatal(err)
					}
					return q
				}
			}
			run(b, func(n uintptr) unsafe.Pointer { return must(f.Alloc(n, 16)) }, grow, func(p unsafe.Pointer) {
				if err := f.Free(p); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// fillWords writes seed+i to the i-th word of [p, p+n).
func fillWords(p unsafe.Pointer, n, seed uintptr) {
	for i, w := 0, unsafe.Slice((*uintptr)(p), n/8); i < len(w); i++ {
		w[i] = seed + uintptr(i)
	}
}

// hasWords reports whether fillWords(p, n, seed) is what [p, p+n) holds.
func hasWords(p unsafe.Pointer, n, seed uintptr) bool {
	for i, v := range unsafe.Slice((*uintptr)(p), n/8) {
		if v != seed+uintptr(i) {
			return false
		}
	}
	return true
}
