package arena

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dustin/go-humanize"

	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/callers"
)

// A LeakReport describes an arena that became unreachable without Close;
// or, with Unfreed set, a hardened FreeList (Options.Sample) closed with
// blocks never freed. It is safe to use from any goroutine, being a
// value.
//
// A leaked arena keeps its memory, as a leak in C does: its mappings stay
// mapped and intact for the life of the process, because the program may
// still hold pointers into them (a slice the arena filled, returned from
// the function that made the arena: the GC does not see that such a
// pointer keeps the arena alive). An arena must outlive every pointer
// into it; the report is there so that the missing Close can be found.
type LeakReport struct {
	Name    string   // the arena's name
	Kind    string   // "bump", "shared", "freelist", "memfd" or "file"
	Site    string   // where it was created, "file:line"
	Chunks  int      // mappings kept
	Bytes   uint64   // usable bytes kept mapped
	Unfreed *Unfreed // blocks a hardened FreeList's Close found never freed; nil otherwise
}

// String is what the default leak handler prints.
func (r LeakReport) String() string {
	if r.Unfreed != nil {
		return fmt.Sprintf("arena: freelist arena created at %s closed with blocks never freed: %s", r.Site, r.Unfreed)
	}
	return fmt.Sprintf("arena: %s arena %q created at %s was never closed; its %d mapping(s), %s, stay mapped",
		r.Kind, r.Name, r.Site, r.Chunks, humanize.IBytes(r.Bytes))
}

var leakHandler atomic.Pointer[func(LeakReport)]

// SetLeakHandler sets the function told about each arena that becomes
// unreachable without Close, and returns the previous one; nil restores
// the default, which prints the report on standard error. The handler runs
// on a runtime goroutine, once per leaked arena. The leaked arena's memory
// stays mapped and intact whatever the handler does (see LeakReport): a
// pointer into it may still be in use. Safe for concurrent use.
func SetLeakHandler(h func(LeakReport)) func(LeakReport) {
	var old *func(LeakReport)
	if h == nil {
		old = leakHandler.Swap(nil)
	} else {
		old = leakHandler.Swap(&h)
	}
	if old == nil {
		return nil
	}
	return *old
}

func reportLeak(r LeakReport) {
	if h := leakHandler.Load(); h != nil {
		(*h)(r)
		return
	}
	fmt.Fprintln(os.Stderr, r)
}

// site formats a program counter as file:line, once per program counter
// in the process: a creation site is formatted when a snapshot or a leak
// report first shows it, and never again.
func site(pc uintptr) string {
	if pc == 0 {
		return "unknown"
	}
	if s, ok := sites.Load(pc); ok {
		return s.(string)
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	s := fmt.Sprintf("%s:%d", f.File, f.Line)
	sites.Store(pc, s)
	return s
}

// sites holds the creation sites formatted so far, by program counter:
// as many as the program has calls to a constructor.
var sites sync.Map

// retireRegion hands r to guard's quarantine at an arena's Close (or a
// large block's Free, or a kept chunk's Trim): its range stays reserved
// and fenced, so a stale pointer faults, and hardened.Explain names the
// fault by why, a hardened.Kind ("use after close"), with the first call
// site of pcs outside this package, formatted only if a fault is ever
// named.
func retireRegion(r *guard.Region, why hardened.Kind, pcs *[4]uintptr) error {
	return r.Retire(why.String(), func() string { return callers.First(pcs[:]) })
}

// closeSite records the call stack of an arena's Close, for the reports
// of a later use after close. It costs a stack walk of four frames.
func closeSite() *[4]uintptr {
	pcs := new([4]uintptr)
	runtime.Callers(3, pcs[:]) // closeSite <- Close <- the caller
	return pcs
}

// callerPC returns, for leak reports, the program counter of a call up
// frames above the function calling callerPC: 1 is that function's
// caller.
func callerPC(up int) uintptr {
	var pc [1]uintptr
	if runtime.Callers(2+up, pc[:]) == 1 {
		return pc[0]
	}
	return 0
}

// Unfreed describes the blocks a FreeList handed out and that were never
// freed.
type Unfreed struct {
	Name    string           // the arena's name
	Blocks  int              // how many
	Bytes   uint64           // their bytes: block sizes, and requested sizes for sampled blocks
	Sampled []hardened.Block // the sampled ones among them, with their allocation sites
}

// String reads like `"cache": 3 blocks (192 B) never freed; 1 sampled,
// allocated at main.load /src/load.go:31`, listing at most 10 sampled
// blocks.
func (u Unfreed) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q: %d block(s) (%s) never freed", u.Name, u.Blocks, humanize.IBytes(u.Bytes))
	if len(u.Sampled) > 0 {
		fmt.Fprintf(&b, "; %d sampled:", len(u.Sampled))
		for i, s := range u.Sampled {
			if i == unfreedShown {
				fmt.Fprintf(&b, "\n  and %d more", len(u.Sampled)-i)
				break
			}
			site := "an unknown site"
			if len(s.Allocated) > 0 {
				site = s.Allocated[0]
			}
			fmt.Fprintf(&b, "\n  %d bytes at %#x allocated at %s", s.Size, s.Addr, site)
		}
	}
	return b.String()
}

// unfreedShown is how many sampled blocks Unfreed.String lists.
const unfreedShown = 10

// regionLeak is what the leak cleanup of an arena that is one guard
// region (a Memfd, a File) needs, held apart from the arena so that the
// cleanup does not keep it reachable.
type regionLeak struct {
	name string
	kind string
	site uintptr
	r    *guard.Region
	slot *atomic.Pointer[Summary] // the registry's entry, which stays, marked leaked
}

// watchRegion reports l's arena, and marks its registry entry leaked,
// if owner becomes unreachable before its Close stops the cleanup. The
// region stays mapped: a pointer into it may still be live.
func watchRegion[T any](owner *T, l regionLeak) runtime.Cleanup {
	return runtime.AddCleanup(owner, func(l regionLeak) {
		markLeaked(l.slot)
		reportLeak(LeakReport{Name: l.name, Kind: l.kind, Site: site(l.site), Chunks: 1, Bytes: uint64(l.r.Committed())})
	}, l)
}
