package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unsafe"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// cmdTour runs the tour: as text, or with -json as one document with each
// step's title and lines, built from the same steps (not from the text).
func cmdTour(e env, args []string) error {
	fs := e.flags("tour")
	fs.StringVar(&sampledProfile, "profile", "", "write the hardened step's live sampled blocks to `file` as a pprof profile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("tour takes no arguments, got %q", fs.Args())
	}
	if !e.json {
		return tour(e.stdout)
	}
	type step struct {
		Title string   `json:"title"`
		Lines []string `json:"lines"`
	}
	doc := struct {
		Format string `json:"format"`
		Steps  []step `json:"steps"`
	}{Format: "arenastat-tour-1"}
	err := runTour(func(title string, out []byte) {
		st := step{Title: title}
		for line := range strings.Lines(string(out)) {
			if line = strings.TrimSpace(line); line != "" {
				st.Lines = append(st.Lines, line)
			}
		}
		doc.Steps = append(doc.Steps, st)
	})
	if err != nil {
		return err
	}
	return e.emit(doc)
}

// tour walks through the lecture as text, printing real addresses and
// the kernel's own view of each mapping it makes: a numbered title per
// step, then what the step printed.
func tour(w io.Writer) error {
	fmt.Fprintln(w, "mmarena tour: memory mapping, on this machine's real memory")
	i := 0
	return runTour(func(title string, out []byte) {
		i++
		fmt.Fprintf(w, "\n%d. %s\n", i, title)
		w.Write(out)
	})
}

// tourSteps are the tour's steps, in order, each with its title.
var tourSteps = []struct {
	title string
	fn    func(io.Writer) error
}{
	{"The page size, read at run time", stepPageSize},
	{"Private and shared, file and anonymous mappings", stepFileMappings},
	{"A 100-byte request costs a whole page, fenced by PROT_NONE guards", stepGuards},
	{"Small objects share pages: a bump arena", stepBump},
	{"The lecture's linked list, its nodes in an arena", stepList},
	{"The list shared with a child process: MAP_SHARED is seen, MAP_PRIVATE is copied", stepSharedList},
	{"Blocks freed one by one: a free-list arena and posix_memalign", stepFreeList},
	{"The same fences as guard markers: one kernel mapping", stepMarkers},
	{"A one-byte overflow hits the guard and is named", stepOverflow},
	{"Hardened mode: a use after free caught, with both call sites", stepHardened},
	{"A pointer kept past Close faults and is named, with the Close call site", stepClosed},
	{"A leaked arena is reported and keeps its memory", stepLeak},
	{"munmap in the middle punches a hole and splits the mapping", stepPunch},
	{"MADV_DONTNEED gives pages back: RSS falls, they read as zero", stepRelease},
	{"Every fence costs kernel mappings; guard keeps a budget", stepBudget},
	{"A list built into a file, reopened by another process at another address", stepFileArena},
	{"Side by side: the Go heap and the arenas on one small workload", stepSideBySide},
}

// runTour runs the steps in order and hands each one's title and output
// (what it printed, then the system calls it made) to each, as soon as
// the step is done. A step that fails is handed over with what it printed
// before failing, and ends the tour with its error. Every region the tour
// maps is closed before it returns.
func runTour(each func(title string, out []byte)) error {
	// Record the system calls each step makes, and show them after it.
	guard.SetTrace(4096)
	defer guard.SetTrace(0)
	seen := uint64(0)
	var buf bytes.Buffer
	for i, s := range tourSteps {
		buf.Reset()
		if err := s.fn(&buf); err != nil {
			each(s.title, buf.Bytes())
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
		seen = printSyscalls(&buf, seen)
		each(s.title, buf.Bytes())
	}
	return nil
}

// printSyscalls prints the system calls guard made since the first seen,
// the first few in full and the rest counted, and returns the new total.
func printSyscalls(w io.Writer, seen uint64) uint64 {
	calls, total := guard.Trace()
	fresh := calls[max(0, len(calls)-int(total-seen)):]
	if len(fresh) == 0 {
		return total
	}
	const shown = 6
	fmt.Fprintf(w, "   system calls made (%d):\n", len(fresh))
	for i, c := range fresh {
		if i == shown {
			counts := map[string]int{}
			var order []string
			for _, c := range fresh[shown:] {
				if counts[c.Op] == 0 {
					order = append(order, c.Op)
				}
				counts[c.Op]++
			}
			var parts []string
			for _, op := range order {
				parts = append(parts, fmt.Sprintf("%s x%d", op, counts[op]))
			}
			fmt.Fprintf(w, "     ... and %s\n", strings.Join(parts, ", "))
			break
		}
		fmt.Fprintf(w, "     %s(%#x, %s)  %s\n", c.Op, c.Addr, humanize.IBytes(uint64(c.Len)), c.Why)
	}
	return total
}

func stepPageSize(w io.Writer) error {
	ps := align.PageSize()
	fmt.Fprintf(w, "   %d bytes (%s), from the %s\n", ps, humanize.IBytes(uint64(ps)), align.PageSource())
	if v, err := auxvPageSize(); err == nil {
		fmt.Fprintf(w, "   /proc/self/auxv agrees: AT_PAGESZ = %d\n", v)
	}
	fmt.Fprintf(w, "   mappings are made of whole pages: 1 byte rounds up to %d, %d to %d\n",
		must(align.PageUp(1)), ps+1, must(align.PageUp(uintptr(ps+1))))
	return nil
}

func stepFileMappings(w io.Writer) error {
	dir, err := os.MkdirTemp("", "arenastat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lecture.txt")
	if err := os.WriteFile(path, []byte("hello, mapped world\n"), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	priv, err := guard.MapFile(f, 20, false, &guard.Options{Name: "file-private"})
	if err != nil {
		return err
	}
	defer priv.Close()
	shared, err := guard.MapFile(f, 20, true, &guard.Options{Name: "file-shared"})
	if err != nil {
		return err
	}
	defer shared.Close()
	copy(priv.Bytes(), "HELLO")
	copy(shared.Bytes()[7:], "MAPPED")
	disk, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %s mapped twice: MAP_PRIVATE (p) and MAP_SHARED (s)\n", path)
	fmt.Fprintf(w, "   private mapping after writing HELLO:   %q  (copy-on-write: the file never sees it)\n", strings.TrimRight(string(priv.Bytes()[:20]), "\n"))
	fmt.Fprintf(w, "   shared mapping after writing MAPPED:   %q\n", strings.TrimRight(string(shared.Bytes()[:20]), "\n"))
	fmt.Fprintf(w, "   the file on disk:                      %q  (the shared write reached it)\n", strings.TrimRight(string(disk), "\n"))
	if err := printMaps(w, priv); err != nil {
		return err
	}
	if err := printMaps(w, shared); err != nil {
		return err
	}
	fmt.Fprintln(w, "   arenas use the fourth kind, private and anonymous: no file behind it, no one to share it.")
	return nil
}

func stepGuards(w io.Writer) error {
	r, err := guard.Map(100, &guard.Options{Name: "tour", Fence: guard.FenceMprotect})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(w, "   guard.Map(100): %d usable bytes at %#x for 100 asked (%.1f%% unused);\n",
		r.Size(), r.Addr(), 100*float64(r.Size()-100)/float64(r.Size()))
	fmt.Fprintln(w, "   small objects must share pages: that is what arenas are for.")
	fmt.Fprintln(w, "   /proc/self/maps, private anonymous (p, no file), guards ---p:")
	return printMaps(w, r)
}

// tourObject is the bump step's object: 32 bytes, no Go pointers.
type tourObject struct{ ID, Parent, Weight, Flags int64 }

func stepBump(w io.Writer) error {
	const n = 100_000
	b, err := arena.NewBump(&arena.Options{Name: "tour-bump"})
	if err != nil {
		return err
	}
	defer b.Close()
	first, err := arena.New[tourObject](b)
	if err != nil {
		return err
	}
	last := first
	for i := 1; i < n; i++ {
		if last, err = arena.New[tourObject](b); err != nil {
			return err
		}
		last.ID = int64(i)
	}
	fmt.Fprintf(w, "   %s objects of %d bytes with arena.New: the first at %#x, the last at %#x,\n",
		humanize.Comma(n), unsafe.Sizeof(tourObject{}), uintptr(unsafe.Pointer(first)), uintptr(unsafe.Pointer(last)))
	fmt.Fprintf(w, "   in %d guarded chunk(s) instead of %s one-page mappings. The GC never scans them.\n",
		b.Stats().Chunks, humanize.Comma(n))
	_, err = arena.New[struct{ Name string }](b)
	fmt.Fprintf(w, "   a type holding a Go pointer is refused:\n     %v\n", err)
	for _, line := range strings.Split(strings.TrimRight(b.Stats().String(), "\n"), "\n") {
		fmt.Fprintf(w, "   %s\n", line)
	}
	return nil
}

func stepFreeList(w io.Writer) error {
	f, err := arena.NewFreeList(&arena.Options{Name: "tour-freelist"})
	if err != nil {
		return err
	}
	defer f.Close()
	// A small churn: keep 2,000 blocks of 16..300 bytes live while 20,000
	// are allocated and freed, the oldest first.
	live := make([]unsafe.Pointer, 2000)
	for i := range 20_000 {
		k := i % len(live)
		if err := f.Free(live[k]); err != nil {
			return err
		}
		if live[k], err = f.Alloc(uintptr(16+(i*37)%285), 8); err != nil {
			return err
		}
	}
	err = f.Free(live[0])
	if err == nil {
		err = f.Free(live[0])
	}
	fmt.Fprintf(w, "   freeing a block twice: %v\n", err)
	fmt.Fprintf(w, "   freeing a Go heap pointer: %v\n", f.Free(unsafe.Pointer(new(int64))))
	p, err := align.Memalign(f, 4096, 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   align.Memalign(f, 4096, 100) = %#x (address %% 4096 = %d)\n", uintptr(p), uintptr(p)%4096)
	_, err = align.Memalign(f, 12, 100)
	fmt.Fprintf(w, "   align.Memalign(f, 12, 100): %v (EINVAL: %v)\n", err, errors.Is(err, unix.EINVAL))
	_, err = align.Memalign(f, 64, ^uintptr(0)-10)
	fmt.Fprintf(w, "   align.Memalign(f, 64, 2^64-11): %v (ENOMEM: %v)\n", err, errors.Is(err, unix.ENOMEM))
	for _, line := range strings.Split(strings.TrimRight(f.Stats().String(), "\n"), "\n") {
		fmt.Fprintf(w, "   %s\n", line)
	}
	return nil
}

func stepMarkers(w io.Writer) error {
	r, err := guard.Map(100, &guard.Options{Name: "tour-markers", Fence: guard.FenceMarkers})
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintf(w, "   not on this kernel (%v); guard falls back to mprotect\n", err)
		return nil
	} else if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintln(w, "   madvise(MADV_GUARD_INSTALL) fences the guard pages without splitting the")
	fmt.Fprintln(w, "   mapping: maps shows one rw-p line, yet the guards still fault.")
	return printMaps(w, r)
}

// overflowTarget is where stepOverflow writes; a package variable, so the
// compiler cannot see through the store and drop it.
var overflowTarget unsafe.Pointer

func stepOverflow(w io.Writer) error {
	r, err := guard.Map(100, &guard.Options{Name: "tour"})
	if err != nil {
		return err
	}
	defer r.Close()
	overflowTarget = unsafe.Add(r.Pointer(), r.Size())
	fmt.Fprintf(w, "   region \"tour\" ends at %#x; writing one byte there (fence: %s)\n", r.Addr()+uintptr(r.Size()), r.Fence())
	err = guard.Catch(func() { *(*byte)(overflowTarget) = 1 })
	if err == nil {
		return errors.New("the write past the end did not fault")
	}
	fmt.Fprintf(w, "   caught: %v\n", err)
	return nil
}

func stepPunch(w io.Writer) error {
	ps := align.PageSize()
	r, err := guard.Map(8*ps, &guard.Options{Name: "tour-punch"})
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Fprintf(w, "   before: an 8-page region, %d kernel mapping(s)\n", r.Mappings())
	if err := printMaps(w, r); err != nil {
		return err
	}
	if err := r.Punch(3*ps, 2*ps); err != nil {
		return err
	}
	fmt.Fprintf(w, "   after munmap of pages 3-4 (%#x-%#x): %d kernel mappings\n",
		r.Addr()+uintptr(3*ps), r.Addr()+uintptr(5*ps), r.Mappings())
	if err := printMaps(w, r); err != nil {
		return err
	}
	edge, err := guard.Map(4*ps, &guard.Options{Name: "tour-edge", NoGuards: true})
	if err != nil {
		return err
	}
	defer edge.Close()
	fmt.Fprintln(w, "   and at an edge, munmap shrinks a mapping: a 4-page region without guards,")
	if err := printMaps(w, edge); err != nil {
		return err
	}
	if err := edge.Punch(3*ps, ps); err != nil {
		return err
	}
	fmt.Fprintln(w, "   after munmap of its last page:")
	if err := printMaps(w, edge); err != nil {
		return err
	}
	hole := unsafe.Add(r.Pointer(), 3*ps+8)
	err = guard.Catch(func() { overflowTarget = hole; _ = *(*byte)(overflowTarget) })
	if err == nil {
		return errors.New("reading the hole did not fault")
	}
	fmt.Fprintf(w, "   reading the hole: %v\n", err)
	return nil
}

func stepRelease(w io.Writer) error {
	ps := align.PageSize()
	r, err := guard.Map(64*ps, &guard.Options{Name: "tour-rss"})
	if err != nil {
		return err
	}
	defer r.Close()
	res0, err := r.Resident()
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintln(w, "   (mincore is wired up on Linux only)")
		return nil
	} else if err != nil {
		return err
	}
	b := r.Bytes()
	for i := range b {
		b[i] = 0xAB
	}
	res1, err := r.Resident()
	if err != nil {
		return err
	}
	if err := r.Release(16*ps, 32*ps); err != nil {
		return err
	}
	res2, err := r.Resident()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %-28s %9s\n", "64-page region", "resident")
	fmt.Fprintf(w, "   %-28s %9s\n", "freshly mapped", humanize.IBytes(uint64(res0)))
	fmt.Fprintf(w, "   %-28s %9s\n", "after writing every byte", humanize.IBytes(uint64(res1)))
	fmt.Fprintf(w, "   %-28s %9s\n", "after Release of 32 pages", humanize.IBytes(uint64(res2)))
	fmt.Fprintf(w, "   a released byte reads %#x; its neighbour outside the range still %#x\n", b[16*ps], b[16*ps-1])
	return nil
}

func stepBudget(w io.Writer) error {
	ps := align.PageSize()
	r, err := guard.Map(8*ps, &guard.Options{Name: "tour-fence", Fence: guard.FenceMprotect})
	if err != nil {
		return err
	}
	defer r.Close()
	before := r.Mappings()
	if err := r.Protect(4*ps, ps); err != nil {
		return err
	}
	fmt.Fprintf(w, "   mprotect(PROT_NONE) of one page mid-region: %d kernel mappings become %d\n", before, r.Mappings())
	if err := printMaps(w, r); err != nil {
		return err
	}
	limit, held := guard.Budget()
	fmt.Fprintf(w, "   guard holds %d kernel mapping(s) of its budget of %d (a quarter of vm.max_map_count);\n", held, limit)
	fmt.Fprintln(w, "   past it, Map and Protect return an error wrapping ENOMEM instead of letting")
	fmt.Fprintln(w, "   the process reach the kernel's limit, where the Go runtime itself would abort.")
	return nil
}

// printMaps prints the /proc/self/maps lines that cover r, each labelled
// with the parts of the region guard.Lookup finds in it, page by page.
func printMaps(w io.Writer, r *guard.Region) error {
	ms, err := procmaps.Read(0)
	if err != nil {
		fmt.Fprintf(w, "   (no /proc/self/maps here: %v)\n", err)
		return nil
	}
	g := uintptr(r.GuardSize())
	lo, hi := r.Addr()-g, r.Addr()+uintptr(r.Size())+g
	ps := uintptr(align.PageSize())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range procmaps.Overlapping(ms, lo, hi) {
		var labels []string
		for a := max(m.Start, lo); a < min(m.End, hi); a += ps {
			part := guard.Lookup(a).Part.String()
			if len(labels) == 0 || labels[len(labels)-1] != part {
				labels = append(labels, part)
			}
		}
		path := ""
		if m.Path != "" {
			path = "  " + filepath.Base(m.Path)
		}
		fmt.Fprintf(tw, "     %x-%x\t%s\t%s\t%s%s\n", m.Start, m.End, m.Perms,
			humanize.IBytes(uint64(m.Size())), strings.Join(labels, " + "), path)
	}
	return tw.Flush()
}

// auxvPageSize reads AT_PAGESZ from /proc/self/auxv, the kernel's own
// record of what it told the process at exec.
func auxvPageSize() (uint64, error) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0, err
	}
	const atPageSz = 6
	word := int(unsafe.Sizeof(uintptr(0)))
	for i := 0; i+2*word <= len(b); i += 2 * word {
		key, val := readWord(b[i:], word), readWord(b[i+word:], word)
		if key == atPageSz {
			return val, nil
		}
	}
	return 0, errors.New("no AT_PAGESZ in /proc/self/auxv")
}

func readWord(b []byte, word int) uint64 {
	if word == 4 {
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}

func must(v uintptr, ok bool) uintptr {
	if !ok {
		panic("rounding overflowed")
	}
	return v
}

func stepSideBySide(w io.Writer) error {
	var all []result
	for _, name := range []string{"W1", "W2"} {
		rs, err := measure(name, 300_000, nil)
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	fmt.Fprintln(w, "   W1: 300,000 objects of 32 bytes, all kept; W2: 300,000 random frees and")
	fmt.Fprintln(w, "   allocations of 8..1024 bytes over 30,000 live blocks. Timings vary; run")
	fmt.Fprintln(w, "   arenastat bench -n 10000000 for the full size.")
	printResults(w, all, "   ")
	return nil
}
