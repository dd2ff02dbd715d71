package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
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

// measure runs one workload once on every allocator, each from a
// collected, scavenged heap, and returns the results with ratios to the
// Go heap. It calls started, if not nil, with each allocator's name
// before its run.
func measure(name string, n int, started func(arena string)) ([]result, error) {
	var out []result
	for _, w := range workloads[name] {
		if started != nil {
			started(w.arena)
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

// A benchRow is one workload on one allocator over -count runs: the
// runs, and their medians.
type benchRow struct {
	Workload string        `json:"workload"`
	Arena    string        `json:"arena"`
	N        int           `json:"n"`
	Runs     []benchRun    `json:"runs"`
	Time     time.Duration `json:"time_ns"`    // the median run's
	Spread   float64       `json:"spread"`     // the largest distance of a run's time from Time, as a fraction of Time
	PerOp    float64       `json:"ns_per_op"`  // Time / N
	GCs      uint32        `json:"gc_cycles"`  // median
	RSS      uint64        `json:"rss_growth"` // median
	Ratio    float64       `json:"heap_ratio"` // the Go heap's median time over this one's (1 for the heap)
}

// A benchRun is one run of a benchRow.
type benchRun struct {
	Time time.Duration `json:"time_ns"`
	GCs  uint32        `json:"gc_cycles"`
	RSS  uint64        `json:"rss_growth"`
}

// benchFormat names the layout of bench -json's object.
const benchFormat = "arenastat-bench-2"

// median returns the middle of xs, or the mean of the two middles; xs is
// not empty, and is sorted in place.
func median[T int64 | uint64 | uint32](xs []T) T {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return xs[m-1] + (xs[m]-xs[m-1])/2
}

// summarize fills r's medians and spread from its runs.
func (r *benchRow) summarize() {
	ts := make([]int64, len(r.Runs))
	gcs := make([]uint32, len(r.Runs))
	rss := make([]uint64, len(r.Runs))
	for i, run := range r.Runs {
		ts[i], gcs[i], rss[i] = int64(run.Time), run.GCs, run.RSS
	}
	r.Time, r.GCs, r.RSS = time.Duration(median(ts)), median(gcs), median(rss)
	r.PerOp = float64(r.Time.Nanoseconds()) / float64(r.N)
	r.Spread = 0
	for _, t := range ts {
		r.Spread = max(r.Spread, math.Abs(float64(time.Duration(t)-r.Time))/float64(r.Time))
	}
}

func cmdBench(e env, args []string) error {
	fs := e.flags("bench")
	n := fs.Int("n", 1_000_000, "objects (W1), operations (W2), nodes (W3) or nodes and churn iterations (W4)")
	ws := fs.String("w", "W1,W2,W3,W4", "workloads, comma-separated")
	count := fs.Int("count", 6, "runs of each workload on each allocator")
	benchfmt := fs.Bool("benchfmt", false, "print each run as a line of Go benchmark format, for benchstat")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no operands, got %q", fs.Args())
	}
	if *n <= 0 || *count <= 0 {
		return usagef("bench: -n and -count must be positive")
	}
	if *benchfmt && e.json {
		return usagef("bench: -benchfmt and -json exclude each other")
	}
	names := strings.Split(*ws, ",")
	for _, w := range names {
		if _, ok := workloads[w]; !ok {
			return usagef("bench: unknown workload %q (have W1, W2, W3, W4)", w)
		}
	}
	p := progressLine{w: e.stderr, on: isTerminal(e.stderr)}
	if *benchfmt {
		printBenchConfig(e.stdout)
	}
	var rows []*benchRow
	for _, w := range names {
		var rs []*benchRow // this workload's, one per allocator
		for i := range *count {
			runs, err := measure(w, *n, func(a string) {
				p.show("arenastat: %s on %s, n=%s, run %d of %d", w, a, humanize.Comma(int64(*n)), i+1, *count)
			})
			if err != nil {
				p.clear()
				return err
			}
			for j, r := range runs {
				if i == 0 {
					rs = append(rs, &benchRow{Workload: r.Workload, Arena: r.Arena, N: r.N})
				}
				rs[j].Runs = append(rs[j].Runs, benchRun{r.Time, r.GCs, r.RSS})
				if *benchfmt {
					p.clear()
					printBenchLine(e.stdout, r)
				}
			}
		}
		for _, r := range rs {
			r.summarize()
			r.Ratio = float64(rs[0].Time) / float64(r.Time)
		}
		rows = append(rows, rs...)
	}
	p.clear()
	switch {
	case e.json:
		return e.emit(struct {
			Format  string      `json:"format"`
			Count   int         `json:"count"`
			Results []*benchRow `json:"results"`
		}{benchFormat, *count, rows})
	case *benchfmt:
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "WORKLOAD\tARENA\tN\tRUNS\tMEDIAN\tSPREAD\tNS/OP\tGC CYCLES\tRSS GROWTH\tVS HEAP\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t±%.0f%%\t%.1f\t%d\t%s\t%.2fx\t\n", r.Workload, r.Arena,
			humanize.Comma(int64(r.N)), len(r.Runs), r.Time.Round(time.Millisecond/10), 100*r.Spread, r.PerOp,
			r.GCs, humanize.IBytes(r.RSS), r.Ratio)
	}
	return tw.Flush()
}

// printBenchConfig prints the configuration lines that open Go benchmark
// output ("key: value", golang.org/design/14313-benchmark-format), which
// benchstat shows and groups by.
func printBenchConfig(w io.Writer) {
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: github.com/mmarena/mmarena/cmd/arenastat\n", runtime.GOOS, runtime.GOARCH)
	if cpu := cpuName(); cpu != "" {
		fmt.Fprintf(w, "cpu: %s\n", cpu)
	}
}

// printBenchLine prints one run as a benchmark result line: the name
// with key=value parts (so benchstat -col /arena sets allocators side by
// side) and GOMAXPROCS, as go test prints it; the operations as the
// iteration count; then ns/op, the GC cycles of the run and its RSS
// growth in bytes.
func printBenchLine(w io.Writer, r result) {
	name := fmt.Sprintf("Benchmark%s/arena=%s/n=%d", r.Workload, r.Arena, r.N)
	if p := runtime.GOMAXPROCS(0); p != 1 {
		name += "-" + strconv.Itoa(p)
	}
	fmt.Fprintf(w, "%s\t%d\t%.2f ns/op\t%d gc-cycles\t%d rss-B\n", name, r.N, r.PerOp, r.GCs, r.RSS)
}

// cpuName returns the processor's model name from /proc/cpuinfo, or ""
// where there is none.
func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// A progressLine is a status line on a terminal that each show rewrites
// in place (carriage return, erase line); off a terminal it prints
// nothing, so logs and pipes get only results.
type progressLine struct {
	w  io.Writer
	on bool // w is a terminal
}

// show replaces the line with the formatted text.
func (p progressLine) show(format string, args ...any) {
	if p.on {
		fmt.Fprintf(p.w, "\r\x1b[K"+format, args...)
	}
}

// clear erases the line, before results are printed or at the end.
func (p progressLine) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// printResults prints one run's results as a table, each line indented.
func printResults(w io.Writer, rs []result, indent string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%sWORKLOAD\tARENA\tN\tTIME\tNS/OP\tGC CYCLES\tRSS GROWTH\tVS HEAP\t\n", indent)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%.1f\t%d\t%s\t%.2fx\t\n", indent, r.Workload, r.Arena,
			humanize.Comma(int64(r.N)), r.Time.Round(time.Millisecond/10), r.PerOp, r.GCs, humanize.IBytes(r.RSS), r.Ratio)
	}
	tw.Flush()
}
