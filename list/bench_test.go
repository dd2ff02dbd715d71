package list_test

import (
	"bufio"
	clist "container/list"
	"flag"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/workload"
	"github.com/mmarena/mmarena/list"
)

// The workloads' sizes, as issue 5 sets them; smaller values make the
// benchmarks quick to try (go test -bench W3 ./list -args -w3.nodes=1e5).
var (
	w3Nodes = flag.Float64("w3.nodes", workload.W3Nodes, "W3: nodes in the list")
	w4Nodes = flag.Float64("w4.nodes", workload.W4Nodes, "W4: nodes held live during the churn")
	w4Churn = flag.Float64("w4.churn", workload.W4Churn, "W4: churn iterations")
)

// heapNode is the Go heap peer's node, and the raw floor's: a value and
// one link, 16 bytes.
type heapNode = workload.Node

// A w3Case is one way of holding the list. build pushes n values to the
// front and keeps the list reachable; sum traverses it; free drops it, or
// closes its arena, outside the timed part.
type w3Case struct {
	name  string
	build func(b *testing.B, n int)
	sum   func() int64
	free  func(b *testing.B)
}

// w3Extra holds cases from files with build tags (Go's own arena).
var w3Extra []w3Case

// The peers keep their lists here, so that they stay reachable from a
// global, as a long-lived list would be.
var (
	heapHead  *heapNode
	clistList *clist.List
	arenaList *list.List[int64]
	floorHead *heapNode
)

func w3Cases() []w3Case {
	var (
		bump   *arena.Bump
		fl     *arena.FreeList
		region *guard.Region
	)
	sumList := func() int64 { return workload.SumList(arenaList) }
	cases := []w3Case{
		{
			// The floor: nodes bumped out of one mmap'd region with no
			// checks, no slabs and no arena; the links point into the
			// region, as the list's do.
			name: "list=floor",
			build: func(b *testing.B, n int) {
				size := int(unsafe.Sizeof(heapNode{}))
				r, err := guard.Map(n*size, &guard.Options{Name: "w3-floor"})
				if err != nil {
					b.Fatal(err)
				}
				region = r
				base := r.Pointer()
				var head *heapNode
				for i := range n {
					p := (*heapNode)(unsafe.Add(base, i*size))
					p.Val, p.Next = int64(i), head
					head = p
				}
				floorHead = head
			},
			sum: func() int64 { return floorHead.Sum() },
			free: func(b *testing.B) {
				floorHead = nil
				if err := region.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
		{
			name:  "list=goheap",
			build: func(b *testing.B, n int) { heapHead = workload.HeapList(n) },
			sum:   func() int64 { return heapHead.Sum() },
			free:  func(*testing.B) { heapHead = nil },
		},
		{
			name: "list=container",
			build: func(b *testing.B, n int) {
				l := clist.New()
				for i := range n {
					l.PushFront(int64(i))
				}
				clistList = l
			},
			sum: func() int64 {
				var s int64
				for e := clistList.Front(); e != nil; e = e.Next() {
					s += e.Value.(int64)
				}
				return s
			},
			free: func(*testing.B) { clistList = nil },
		},
		{
			name: "list=bump",
			build: func(b *testing.B, n int) {
				a, err := arena.NewBump(&arena.Options{Name: "w3"})
				if err != nil {
					b.Fatal(err)
				}
				bump = a
				arenaList = buildList(b, a, n)
			},
			sum: sumList,
			free: func(b *testing.B) {
				arenaList = nil
				if err := bump.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
		{
			// The same on transparent huge pages: a 2 MiB page costs one
			// fault (populate) instead of 512, which is most of the build.
			name: "list=bump-huge",
			build: func(b *testing.B, n int) {
				a, err := arena.NewBump(&arena.Options{Name: "w3-huge", HugePages: true})
				if err != nil {
					b.Fatal(err)
				}
				bump = a
				arenaList = buildList(b, a, n)
			},
			sum: sumList,
			free: func(b *testing.B) {
				arenaList = nil
				if err := bump.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
		{
			name: "list=freelist",
			build: func(b *testing.B, n int) {
				a, err := arena.NewFreeList(&arena.Options{Name: "w3"})
				if err != nil {
					b.Fatal(err)
				}
				fl = a
				arenaList = buildList(b, a, n)
			},
			sum: sumList,
			free: func(b *testing.B) {
				arenaList = nil
				if err := fl.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
	}
	return append(cases, w3Extra...)
}

// buildList pushes n values to the front of a new list in a.
func buildList(b *testing.B, a align.Allocator, n int) *list.List[int64] {
	l, err := workload.BuildList(a, n)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkW3 is workload W3: a list of int64 built by PushFront, then
// traversed and summed. Each op is the whole workload; run it with
// -benchtime=1x and compare with benchstat -col /list. It reports build
// and traversal time per node, the RSS the list added per node (VmRSS,
// Go heap overhead included) and the GC cycles the op ran.
func BenchmarkW3(b *testing.B) {
	n := int(*w3Nodes)
	for _, c := range w3Cases() {
		b.Run(c.name, func(b *testing.B) {
			mapcheck.Baseline(b)
			var build, walk time.Duration
			var rss, gcs uint64
			ops := 0
			for b.Loop() {
				b.StopTimer()
				coldStart()
				rss0, gc0 := vmStatus("VmRSS"), gcCycles()
				b.StartTimer()
				start := time.Now()
				c.build(b, n)
				build += time.Since(start)
				start = time.Now()
				sum := c.sum()
				walk += time.Since(start)
				b.StopTimer()
				gcs += gcCycles() - gc0
				rss += vmStatus("VmRSS") - min(rss0, vmStatus("VmRSS"))
				if want := int64(n) * int64(n-1) / 2; sum != want {
					b.Fatalf("sum %d, want %d", sum, want)
				}
				c.free(b)
				ops++
				b.StartTimer()
			}
			coldStart()
			nodes := float64(ops) * float64(n)
			b.ReportMetric(float64(build.Nanoseconds())/nodes, "build-ns/node")
			b.ReportMetric(float64(walk.Nanoseconds())/nodes, "traverse-ns/node")
			b.ReportMetric(float64(rss)/nodes, "rss-B/node")
			b.ReportMetric(float64(gcs)/float64(ops), "gcs/op")
		})
	}
}

// churn is W4's heap-churning workload: per iteration a short-lived
// 64-byte slice, held for a moment in a small map.
func churn(n int) { workload.Churn(n) }

// A w4Case holds a live set of nodes during the churn.
type w4Case struct {
	name string
	hold func(b *testing.B, n int) // builds the live set before the churn
	drop func(b *testing.B)        // releases it after
}

func w4Cases() []w4Case {
	var bump *arena.Bump
	return []w4Case{
		{name: "list=none", hold: func(*testing.B, int) {}, drop: func(*testing.B) {}},
		{
			name: "list=goheap",
			hold: func(b *testing.B, n int) { heapHead = workload.HeapList(n) },
			drop: func(*testing.B) { heapHead = nil },
		},
		{
			name: "list=bump",
			hold: func(b *testing.B, n int) {
				a, err := arena.NewBump(&arena.Options{Name: "w4"})
				if err != nil {
					b.Fatal(err)
				}
				bump = a
				arenaList = buildList(b, a, n)
			},
			drop: func(b *testing.B) {
				arenaList = nil
				if err := bump.Close(); err != nil {
					b.Fatal(err)
				}
			},
		},
	}
}

// BenchmarkW4 is workload W4, the headline: the churn runs while a live
// set of nodes is held on the Go heap, in an arena, or not at all. It
// reports the churn's wall time, the GC cycles and GC CPU time (from
// runtime/metrics) during it, and the process's peak RSS over the op
// (VmHWM, reset before the live set is built). Run it with -benchtime=1x.
func BenchmarkW4(b *testing.B) {
	nodes, iters := int(*w4Nodes), int(*w4Churn)
	for _, c := range w4Cases() {
		b.Run(c.name, func(b *testing.B) {
			mapcheck.Baseline(b)
			var wall time.Duration
			var gcCPU float64
			var gcs, peak uint64
			ops := 0
			for b.Loop() {
				b.StopTimer()
				coldStart()
				resetPeakRSS()
				c.hold(b, nodes)
				runtime.GC() // the churn starts with the live set marked, as in a steady state
				gc0, cpu0 := gcCycles(), gcCPUSeconds()
				b.StartTimer()
				start := time.Now()
				churn(iters)
				wall += time.Since(start)
				b.StopTimer()
				gcs += gcCycles() - gc0
				gcCPU += gcCPUSeconds() - cpu0
				peak += vmStatus("VmHWM")
				c.drop(b)
				ops++
				b.StartTimer()
			}
			coldStart()
			b.ReportMetric(wall.Seconds()/float64(ops), "churn-sec/op")
			b.ReportMetric(gcCPU/float64(ops), "gc-cpu-sec/op")
			b.ReportMetric(float64(gcs)/float64(ops), "gcs/op")
			b.ReportMetric(float64(peak)/float64(ops), "peak-rss-B/op")
		})
	}
}

// coldStart returns the Go heap's free pages to the OS, so that each run
// starts from the same RSS and with nothing of the last run to scan.
func coldStart() {
	runtime.GC()
	debug.FreeOSMemory()
}

// vmStatus returns a "kB" field of /proc/self/status in bytes, or 0
// where there is none.
func vmStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux's
// clear_refs value 5). Where that fails VmHWM keeps the process's peak,
// which only overstates the later cases.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

var gcMetrics = []metrics.Sample{
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/cpu/classes/gc/total:cpu-seconds"},
}

func gcCycles() uint64 {
	metrics.Read(gcMetrics)
	return gcMetrics[0].Value.Uint64()
}

func gcCPUSeconds() float64 {
	metrics.Read(gcMetrics)
	return gcMetrics[1].Value.Float64()
}

// BenchmarkPush measures one PushFront and one Remove on a warm list: the
// node comes from the free list, so no page is faulted in. It is the cost
// of the list's bookkeeping and of its arena probe.
func BenchmarkPush(b *testing.B) {
	for _, name := range []string{"bump", "freelist", "container"} {
		b.Run("list="+name, func(b *testing.B) {
			mapcheck.Baseline(b)
			b.ReportAllocs()
			if name == "container" {
				l := clist.New()
				for b.Loop() {
					l.Remove(l.PushFront(int64(1)))
				}
				return
			}
			var a interface {
				align.Allocator
				Close() error
			}
			var err error
			if name == "bump" {
				a, err = arena.NewBump(nil)
			} else {
				a, err = arena.NewFreeList(nil)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			l := buildList(b, a, 1000)
			for b.Loop() {
				e, err := l.PushFront(1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Remove(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
