package arena

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/dustin/go-humanize"
)

// A LeakReport describes an arena that became unreachable without Close,
// whose mappings have been released by the time the report is made; or,
// with Unfreed set, a hardened FreeList (Options.Sample) closed with
// blocks never freed.
type LeakReport struct {
	Name    string   // the arena's name
	Kind    string   // "bump", "shared" or "freelist"
	Site    string   // where it was created, "file:line"
	Chunks  int      // mappings released
	Bytes   uint64   // usable bytes released
	Unfreed *Unfreed // blocks a hardened FreeList's Close found never freed; nil otherwise
}

// String is what the default leak handler prints.
func (r LeakReport) String() string {
	if r.Unfreed != nil {
		return fmt.Sprintf("arena: freelist arena created at %s closed with blocks never freed: %s", r.Site, r.Unfreed)
	}
	return fmt.Sprintf("arena: %s arena %q created at %s was never closed; released %d chunk(s), %s",
		r.Kind, r.Name, r.Site, r.Chunks, humanize.IBytes(r.Bytes))
}

var leakHandler atomic.Pointer[func(LeakReport)]

// SetLeakHandler sets the function told about each arena that becomes
// unreachable without Close, and returns the previous one; nil restores
// the default, which prints the report on standard error. The handler runs
// on a runtime goroutine, once per leaked arena. Safe for concurrent use.
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

// site formats a program counter as file:line.
func site(pc uintptr) string {
	if pc == 0 {
		return "unknown"
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// leaked runs when the Bump owning st became unreachable without Close.
func (st *bumpState) leaked() {
	if st.closed {
		return
	}
	r := LeakReport{Name: st.name, Kind: st.kind, Site: site(st.site), Chunks: len(st.chunks) + len(st.quar), Bytes: uint64(st.mapped)}
	_ = st.close()
	reportLeak(r)
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
