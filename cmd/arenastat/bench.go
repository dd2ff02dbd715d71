package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/procmaps"
	"github.com/mmarena/mmarena/internal/workload"
	"github.com/mmarena/mmarena/list"
)

// A result is one workload run on one allocator.
type result struct {
	Workload string        `json:"workload"`
	Arena    string        `json:"arena"`
	N        int           `json:"n"`
	Time     time.Duration `json:"time_ns"`
	PerOp    float64       `json:"ns_per_op"`
	GCs      uint32        `json:"gc_cycles"`
	RSS      uint64        `json:"rss_growth"` // how much the process's RSS had grown at the run's largest
	Ratio    float64       `json:"heap_ratio"` // the Go heap's time over this one's (1 for the heap)
}

// A workloadRun is one workload on one allocator. run does n operations
// (objects, steps or nodes), calls peak when its footprint is largest
// (before it lets go), and leaves nothing reachable when it returns.
type workloadRun struct {
	arena string
	run   func(n int, peak func()) error
}

// workloads maps a name to its runs, Go heap first. The work itself is
// internal/workload's, shared with the benchmarks; this adds only the
// sizes (n for everything, W2's live set from liveSet) and peak.
var workloads = map[string][]workloadRun{
	"W1": { // n objects allocated one at a time, a field written, all kept
		{"goheap", func(n int, peak func()) error {
			keep := make([]*workload.Object, n)
			workload.W1Heap(keep)
			peak()
			runtime.KeepAlive(keep)
			return nil
		}},
		{"bump", func(n int, peak func()) error {
			b, err := arena.NewBump(&arena.Options{Name: "bench-w1"})
			if err != nil {
				return err
			}
			defer b.Close()
			if err := workload.W1Bump(b, n); err != nil {
				return err
			}
			peak()
			return nil
		}},
	},
	"W2": { // n steps of churn over a live set: free one at random, allocate 8..1024 bytes
		{"goheap", func(n int, peak func()) error {
			w := workload.NewW2Heap(liveSet(n))
			for range n {
				w.Step()
			}
			peak()
			runtime.KeepAlive(w)
			return nil
		}},
		{"freelist", func(n int, peak func()) error {
			f, err := arena.NewFreeList(&arena.Options{Name: "bench-w2"})
			if err != nil {
				return err
			}
			defer f.Close()
			w, err := workload.NewW2FreeList(f, liveSet(n))
			if err != nil {
				return err
			}
			for range n {
				if err := w.Step(); err != nil {
					return err
				}
			}
			peak()
			return nil
		}},
	},
	"W3": { // n nodes by PushFront, then a traversal
		{"goheap", func(n int, peak func()) error {
			head := workload.HeapList(n)
			sink += head.Sum()
			peak()
			runtime.KeepAlive(head)
			return nil
		}},
		{"list", func(n int, peak func()) error {
			return withList("bench-w3", n, func(l *list.List[int64]) {
				sink += workload.SumList(l)
				peak()
			})
		}},
	},
	"W4": { // n nodes held live while n iterations churn
		{"goheap", func(n int, peak func()) error {
			head := workload.HeapList(n)
			workload.Churn(n)
			peak()
			runtime.KeepAlive(head)
			return nil
		}},
		{"list", func(n int, peak func()) error {
			return withList("bench-w4", n, func(*list.List[int64]) {
				workload.Churn(n)
				peak()
			})
		}},
	},
}

// sink keeps a result the compiler must compute.
var sink int64

// withList builds W3's n-node list in a bump arena named name, calls use
// with it, and closes the arena.
func withList(name string, n int, use func(*list.List[int64])) error {
	b, err := arena.NewBump(&arena.Options{Name: name})
	if err != nil {
		return err
	}
	defer b.Close()
	l, err := workload.BuildList(b, n)
	if err != nil {
		return err
	}
	use(l)
	return nil
}

// liveSet is W2's live set for n operations: a tenth of them, at most
// workload.W2Live (100,000), the benchmarks' size.
func liveSet(n int) int { return max(1, min(n/10, workload.W2Live)) }

// measure runs one workload on every allocator, each from a collected,
// scavenged heap, and returns the results with ratios to the Go heap.
func measure(name string, n int, progress io.Writer) ([]result, error) {
	var out []result
	for _, w := range workloads[name] {
		if progress != nil {
			fmt.Fprintf(progress, "arenastat: %s on %s, n=%s...\n", name, w.arena, humanize.Comma(int64(n)))
		}
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gc0, rss0 := ms.NumGC, procmaps.RSS()
		var d time.Duration
		var grown uint64
		start := time.Now()
		err := w.run(n, func() {
			d = time.Since(start)
			if now := procmaps.RSS(); now > rss0 {
				grown = now - rss0
			}
		})
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", name, w.arena, err)
		}
		runtime.ReadMemStats(&ms)
		out = append(out, result{Workload: name, Arena: w.arena, N: n, Time: d,
			PerOp: float64(d.Nanoseconds()) / float64(n), GCs: ms.NumGC - gc0, RSS: grown})
	}
	for i := range out {
		out[i].Ratio = float64(out[0].Time) / float64(out[i].Time)
	}
	return out, nil
}

func cmdBench(e env, args []string) error {
	fs := newFlags("bench")
	n := fs.Int("n", 1_000_000, "objects (W1), operations (W2), nodes (W3) or nodes and churn iterations (W4)")
	ws := fs.String("w", "W1,W2,W3,W4", "workloads, comma-separated")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, got %q", fs.Args())
	}
	if *n <= 0 {
		return usagef("bench: -n must be positive")
	}
	names := strings.Split(*ws, ",")
	for _, w := range names {
		if _, ok := workloads[w]; !ok {
			return usagef("bench: unknown workload %q (have W1, W2, W3, W4)", w)
		}
	}
	var progress io.Writer
	if isTerminal(e.stderr) {
		progress = e.stderr
	}
	var all []result
	for _, w := range names {
		rs, err := measure(w, *n, progress)
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	if e.json {
		return e.emit(struct {
			Format  string   `json:"format"`
			Results []result `json:"results"`
		}{"arenastat-bench-1", all})
	}
	printResults(e.stdout, all, "")
	return nil
}

// printResults prints results as a table, each line indented.
func printResults(w io.Writer, rs []result, indent string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%sWORKLOAD\tARENA\tN\tTIME\tNS/OP\tGC CYCLES\tRSS GROWTH\tVS HEAP\t\n", indent)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%.1f\t%d\t%s\t%.2fx\t\n", indent, r.Workload, r.Arena,
			humanize.Comma(int64(r.N)), r.Time.Round(time.Millisecond/10), r.PerOp, r.GCs, humanize.IBytes(r.RSS), r.Ratio)
	}
	tw.Flush()
}
