// Package callers formats the call stacks that arenas and hardened pools
// record (at an allocation, a Free, a Reset, a Close) for their reports,
// leaving out mmarena's allocator frames so that a report's first site
// is the caller's.
package callers

import (
	"fmt"
	"runtime"
	"strings"
)

// Frames formats the program counters of pcs, up to the first zero, as
// "function file:line", innermost first, leaving out the runtime's
// frames, the testing package's, and those of packages arena and
// arena/hardened outside their tests.
func Frames(pcs []uintptr) []string {
	n := 0
	for n < len(pcs) && pcs[n] != 0 {
		n++
	}
	if n == 0 {
		return nil
	}
	var out []string
	fs := runtime.CallersFrames(pcs[:n])
	for {
		f, more := fs.Next()
		if f.Function != "" && !internal(f) {
			out = append(out, fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line))
		}
		if !more {
			return out
		}
	}
}

// First is the innermost frame Frames keeps, or "an unknown site".
func First(pcs []uintptr) string {
	if fs := Frames(pcs); len(fs) > 0 {
		return fs[0]
	}
	return "an unknown site"
}

func internal(f runtime.Frame) bool {
	const arena, hardened = "github.com/mmarena/mmarena/arena.", "github.com/mmarena/mmarena/arena/hardened."
	if strings.HasPrefix(f.Function, "runtime.") || strings.HasPrefix(f.Function, "testing.") {
		return true
	}
	return (strings.HasPrefix(f.Function, arena) || strings.HasPrefix(f.Function, hardened)) && !strings.HasSuffix(f.File, "_test.go")
}

// Skip returns how many frames of pcs, counted as runtime.Caller counts
// them (inlined calls included), come before the first one Frames keeps:
// the allocator's own frames above the caller's.
func Skip(pcs []uintptr) int {
	n := 0
	for n < len(pcs) && pcs[n] != 0 {
		n++
	}
	if n == 0 {
		return 0
	}
	skip := 0
	fs := runtime.CallersFrames(pcs[:n])
	for {
		f, more := fs.Next()
		if f.Function != "" && !internal(f) {
			return skip
		}
		skip++
		if !more {
			return skip
		}
	}
}
