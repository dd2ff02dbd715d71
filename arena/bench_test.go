package arena_test

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/workload"
)

// obj32 is W1's object: 32 bytes, no pointers.
type obj32 = workload.Object

// w1Objects is W1's size: ten million objects, 320 MB.
const w1Objects = workload.W1Objects

// w1Case is one allocator in W1. run allocates n objects, writes a field
// of each and keeps them all reachable until it returns; setup and
// teardown run outside the timer.
type w1Case struct {
	name     string
	setup    func(b *testing.B)
	run      func(b *testing.B, n int)
	teardown func(b *testing.B)
}

// w1Extra holds cases defined in files with build tags (Go's own arena).
var w1Extra []w1Case

// cpuTime returns the CPU time the process has used, all threads: the
// GC's work on the other core counts.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs c once per b.Loop iteration, each allocating perOp
// objects, and reports wall and CPU time per object and GC cycles per op,
// all counted over the timed run only: setup and teardown (which forces
// GCs to start the next run cold) are left out.
func measure(b *testing.B, perOp int, c w1Case) {
	mapcheck.Baseline(b)
	b.ReportAllocs()
	if c.setup != nil {
		c.setup(b)
	}
	runtime.GC()
	var ms runtime.MemStats
	var wall, cpu time.Duration
	var gcs uint32
	ops := 0
	for b.Loop() {
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		gc0, cpu0 := ms.NumGC, cpuTime()
		b.StartTimer()
		start := time.Now()
		c.run(b, perOp)
		wall += time.Since(start)
		b.StopTimer()
		cpu += cpuTime() - cpu0
		runtime.ReadMemStats(&ms)
		gcs += ms.NumGC - gc0
		ops++
		if c.teardown != nil {
			c.teardown(b)
		}
		b.StartTimer()
	}
	// Drop what the case kept reachable, so that the next case's heap,
	// and its GC pacing, do not depend on this one.
	floorBuf, heapObjs = nil, nil
	coldStart()
	objs := float64(ops) * float64(perOp)
	b.ReportMetric(float64(wall.Nanoseconds())/objs, "ns/object")
	b.ReportMetric(float64(cpu.Nanoseconds())/objs, "cpu-ns/object")
	b.ReportMetric(float64(gcs)/float64(ops), "gcs/op")
}

var (
	heapObjs []*obj32 // goheap keeps its objects reachable here
	floorBuf []byte
	sumSink  int64
)

func w1Cases() []w1Case {
	var bump *arena.Bump
	cases := []w1Case{
		{
			// The lower bound: a bump pointer over one Go byte slice,
			// no checks, no chunks.
			name: "arena=floor/state=cold",
			run: func(b *testing.B, n int) {
				floorBuf = make([]byte, n*32)
				base := unsafe.Pointer(unsafe.SliceData(floorBuf))
				for i := range n {
					o := (*obj32)(unsafe.Add(base, i*32))
					o.A = int64(i)
				}
			},
			teardown: func(*testing.B) { floorBuf = nil; coldStart() },
		},
		{
			// The lower bound of a reused arena: the same slice cleared
			// (as Go's make and the arena must) and written again.
			name:  "arena=floor/state=warm",
			setup: func(*testing.B) { floorBuf = make([]byte, w1Objects*32) },
			run: func(b *testing.B, n int) {
				clear(floorBuf[:n*32])
				base := unsafe.Pointer(unsafe.SliceData(floorBuf))
				for i := range n {
					o := (*obj32)(unsafe.Add(base, i*32))
					o.A = int64(i)
				}
			},
		},
		{
			name:     "arena=goheap/state=cold",
			setup:    func(*testing.B) { heapObjs = make([]*obj32, w1Objects) },
			run:      func(b *testing.B, n int) { workload.W1Heap(heapObjs[:n]) },
			teardown: func(*testing.B) { clear(heapObjs); coldStart() },
		},
		{
			name: "arena=bump/state=cold",
			run: func(b *testing.B, n int) {
				a, err := arena.NewBump(&arena.Options{Name: "w1"})
				if err != nil {
					b.Fatal(err)
				}
				bump = a
				fillW1(b, a, n)
			},
			teardown: func(b *testing.B) {
				if err := bump.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
		{
			// A per-request arena reused across requests: Reset keeps the
			// pages, so the run takes no page faults.
			name: "arena=bump/state=warm",
			setup: func(b *testing.B) {
				a, err := arena.NewBump(&arena.Options{Name: "w1-warm"})
				if err != nil {
					b.Fatal(err)
				}
				bump = a
				fillW1(b, a, w1Objects)
				b.Cleanup(func() { bump.Close() })
			},
			run: func(b *testing.B, n int) {
				bump.Reset()
				fillW1(b, bump, n)
			},
		},
	}
	return append(cases, w1Extra...)
}

// coldStart makes the next run of a cold case start cold: the Go heap
// returns its free pages to the OS, so the run faults them in again, as an
// arena's fresh mapping does. Without it, a Go heap that kept the last
// run's 320 MB would be measured warm.
func coldStart() {
	runtime.GC()
	debug.FreeOSMemory()
}

// fillW1 is W1 in a: n objects allocated, a field of each written.
func fillW1(b *testing.B, a *arena.Bump, n int) {
	if err := workload.W1Bump(a, n); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkW1 is workload W1: ten million 32-byte objects allocated one
// at a time, a field of each written, all kept to the end. Run it with
// -benchtime=Nx (each op is the whole workload) and compare with
// benchstat -col /arena.
func BenchmarkW1(b *testing.B) {
	for _, c := range w1Cases() {
		b.Run(c.name, func(b *testing.B) { measure(b, w1Objects, c) })
	}
}

// BenchmarkAlloc measures one small allocation, the fast path, against
// the Go heap.
func BenchmarkAlloc(b *testing.B) {
	for _, size := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("arena=goheap/size=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				floorBuf = make([]byte, size)
			}
		})
		b.Run(fmt.Sprintf("arena=bump/size=%d", size), func(b *testing.B) {
			mapcheck.Baseline(b)
			a, err := arena.NewBump(&arena.Options{Name: "alloc"})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			n := 0
			for b.Loop() {
				if _, err := a.Alloc(uintptr(size), 8); err != nil {
					b.Fatal(err)
				}
				if n++; n == (64<<20)/size {
					a.Reset() // stay within 64 MiB: measure allocation, not page faults
					n = 0
				}
			}
		})
	}
}

// BenchmarkResetRefill compares the two ways Reset can give back zeroed
// memory: keeping the pages and clearing them as they are handed out
// again, or MADV_DONTNEED and refaulting them.
func BenchmarkResetRefill(b *testing.B) {
	const total, size = 64 << 20, 64
	for _, release := range []bool{false, true} {
		name := "reset=clear"
		if release {
			name = "reset=dontneed"
		}
		b.Run(name, func(b *testing.B) {
			mapcheck.Baseline(b)
			a, err := arena.NewBump(&arena.Options{Name: "refill", ResetRelease: release, InitialSize: total})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			fill := func() {
				for range total / size {
					p, err := a.Alloc(size, 8)
					if err != nil {
						b.Fatal(err)
					}
					*(*byte)(p) = 1 // use the memory, as a refill would
				}
			}
			fill()
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				a.Reset()
				fill()
			}
		})
	}
}

// BenchmarkRefillSmall measures a small request on a reused Bump: Reset,
// then a depth-4 binary tree's 31 nodes of 16 bytes (W7's smallest tree),
// on an arena that never held more (held=0) and on one that once held 32
// MiB (held=32MiB). What a refill clears is sized by the refill, so the
// two should cost the same (issue 14).
func BenchmarkRefillSmall(b *testing.B) {
	for _, held := range []int{0, 32 << 20} {
		b.Run(fmt.Sprintf("held=%dMiB", held>>20), func(b *testing.B) {
			mapcheck.Baseline(b)
			a, err := arena.NewBump(&arena.Options{Name: "refill-small"})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			for range held / 64 {
				if _, err := a.Alloc(64, 8); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Reset()
				for range 31 {
					p, err := a.Alloc(16, 8)
					if err != nil {
						b.Fatal(err)
					}
					*(*byte)(p) = 1
				}
			}
		})
	}
}

// BenchmarkFirstTouch measures writing 1 GiB of fresh arena memory, one
// byte per 4 KiB, with and without huge pages and pre-faulting.
func BenchmarkFirstTouch(b *testing.B) {
	const total, step = 1 << 30, 1 << 20
	for _, huge := range []bool{false, true} {
		for _, prefault := range []bool{false, true} {
			b.Run(fmt.Sprintf("huge=%v/prefault=%v", huge, prefault), func(b *testing.B) {
				mapcheck.Baseline(b)
				b.SetBytes(total)
				b.ReportAllocs()
				for b.Loop() {
					a, err := arena.NewBump(&arena.Options{Name: "touch", HugePages: huge, Prefault: prefault,
						InitialSize: 64 << 20, MaxChunk: 64 << 20})
					if err != nil {
						b.Fatal(err)
					}
					for range total / step {
						p, err := a.Alloc(step, 4096)
						if err != nil {
							b.Fatal(err)
						}
						for off := 0; off < step; off += 4096 {
							*(*byte)(unsafe.Add(p, off)) = 1
						}
					}
					b.StopTimer()
					a.Close()
					b.StartTimer()
				}
			})
		}
	}
}

// inParallel runs fn in n goroutines, passing each its index, and waits
// for them all.
func inParallel(n int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { fn(w) })
	}
	wg.Wait()
}

// BenchmarkConcurrent has two goroutines allocate 100,000 32-byte
// objects each per op, then frees them all: a Shared arena (Reset) against
// the Go heap (the GC), with one goroutine on a Bump for reference.
func BenchmarkConcurrent(b *testing.B) {
	const per, workers = 100_000, 2
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(per*workers), "ns/object")
	}
	b.Run("arena=goheap/goroutines=2", func(b *testing.B) {
		b.ReportAllocs()
		keep := make([][]*obj32, workers)
		for w := range keep {
			keep[w] = make([]*obj32, per)
		}
		for b.Loop() {
			inParallel(workers, func(w int) {
				for i := range per {
					o := new(obj32)
					o.A = int64(i)
					keep[w][i] = o
				}
			})
		}
		report(b)
	})
	b.Run("arena=shared/goroutines=2", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		s, err := arena.NewShared(&arena.Options{Name: "conc"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			inParallel(workers, func(int) {
				for i := range per {
					o, err := arena.New[obj32](s)
					if err != nil {
						b.Error(err)
						return
					}
					o.A = int64(i)
				}
			})
			s.Reset()
		}
		report(b)
	})
	b.Run("arena=bump/goroutines=1", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		a, err := arena.NewBump(&arena.Options{Name: "conc1"})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		for b.Loop() {
			fillW1(b, a, per*workers)
			a.Reset()
		}
		report(b)
	})
}

// BenchmarkLifecycle measures an arena made for one small request and
// closed: NewBump, one 64-byte Alloc, written, Close, beside the same
// object on the Go heap. Close's cost includes fencing the chunk into
// guard's quarantine, and the range the next NewBump takes back from the
// reuse cache costs a system call to unfence and a page fault.
func BenchmarkLifecycle(b *testing.B) {
	b.Run("arena=goheap", goHeap64)
	for _, write := range []bool{true, false} {
		name := "arena=bump"
		if !write {
			name = "arena=bump-untouched" // the floor without a page fault and a resident page to fence
		}
		b.Run(name, func(b *testing.B) {
			mapcheck.Baseline(b)
			b.ReportAllocs()
			cycle := func() {
				a, err := arena.NewBump(&arena.Options{Name: "request"})
				if err != nil {
					b.Fatal(err)
				}
				p, err := a.Alloc(64, 8)
				if err != nil {
					b.Fatal(err)
				}
				if write {
					*(*byte)(p) = 1 // the request uses its memory: its page faults in
				}
				if err := a.Close(); err != nil {
					b.Fatal(err)
				}
			}
			// A service that has run a while: the quarantine is full, so
			// each Close pushes its oldest range out (into the reuse
			// cache, where the next NewBump finds it).
			fillQuarantine(cycle)
			q0 := guard.Quarantined()
			cpu0 := cpuTime()
			for b.Loop() {
				cycle()
			}
			reportCPU(b, cpu0)
			// What the closed arenas hold at the end, at the default
			// bounds, and how many chunks came from the reuse cache.
			q := guard.Quarantined()
			b.ReportMetric(float64(q.Bytes)/(1<<20), "quarantine-MiB")
			b.ReportMetric(float64(q.Regions), "quarantine-regions")
			b.ReportMetric(float64(q.Reused-q0.Reused)/float64(b.N), "reused/op")
		})
	}
}

// goHeap64 is the Go heap's line of BenchmarkLifecycle and BenchmarkReset:
// one 64-byte object made, its reference dropped.
func goHeap64(b *testing.B) {
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		floorBuf = make([]byte, 64)
	}
	reportCPU(b, cpu0)
}

// BenchmarkReset measures the per-request cycle on a warm Bump: one
// 64-byte Alloc and a Reset, beside the same object on the Go heap
// (whose "reset" is the GC's). Reset allocates nothing and makes no
// system call: a snapshot learns the numbers when it asks.
func BenchmarkReset(b *testing.B) {
	b.Run("arena=goheap", goHeap64)
	b.Run("arena=bump", func(b *testing.B) {
		mapcheck.Baseline(b)
		a, err := arena.NewBump(&arena.Options{Name: "reset"})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			if _, err := a.Alloc(64, 8); err != nil {
				b.Fatal(err)
			}
			a.Reset()
		}
		reportCPU(b, cpu0)
	})
}

// fillQuarantine runs cycle, which closes an arena, until guard's
// quarantine is full: from then on each Close pushes its oldest range
// out, as in a service that has run a while.
func fillQuarantine(cycle func()) {
	for q := guard.Quarantined(); guard.Quarantined().Evictions == q.Evictions; {
		for range 256 { // Quarantined is O(regions held)
			cycle()
		}
	}
}

// reportCPU reports the CPU time the process used since cpu0, all
// threads, per op: on a shared machine it moves less than wall time.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkPool measures a request's memory at its cheapest: a pooled
// arena (Get), 100 small objects, and Put, beside the same 100 objects
// on the Go heap (whose cost includes the GC's work to free them), and
// beside a fresh NewBump and Close per request.
func BenchmarkPool(b *testing.B) {
	const objects = 100
	var keep [objects]*obj32 // what the request holds, so the objects escape
	b.Run("arena=goheap", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			for i := range keep {
				o := new(obj32)
				o.A = int64(i)
				keep[i] = o
			}
		}
		reportCPU(b, cpu0)
		keep = [objects]*obj32{}
	})
	request := func(b *testing.B, a *arena.Bump) {
		for i := range keep {
			o, err := arena.New[obj32](a)
			if err != nil {
				b.Fatal(err)
			}
			o.A = int64(i)
			keep[i] = o
		}
	}
	b.Run("arena=pool", func(b *testing.B) {
		mapcheck.Baseline(b)
		p, err := arena.NewPool(&arena.PoolOptions{Arena: &arena.Options{Name: "request"}})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			a, err := p.Get()
			if err != nil {
				b.Fatal(err)
			}
			request(b, a)
			if err := p.Put(a); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0)
		keep = [objects]*obj32{}
	})
	b.Run("arena=bump-new", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		cycle := func() {
			a, err := arena.NewBump(&arena.Options{Name: "request"})
			if err != nil {
				b.Fatal(err)
			}
			request(b, a)
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
		}
		fillQuarantine(cycle)
		cpu0 := cpuTime()
		for b.Loop() {
			cycle()
		}
		reportCPU(b, cpu0)
		keep = [objects]*obj32{}
	})
}
