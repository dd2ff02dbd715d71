// Package mapcheck is the test helper every mmarena package uses to prove
// that it gives back what it maps. Baseline records the state at the
// start of a test, and when the test ends it fails the test unless
//
//  1. guard's ledger (internal/maptrace) shows every range guard mapped
//     during the test unmapped again, and guard's count of the kernel
//     mappings it holds is back where it started; and
//  2. /proc/self/maps has no more lines than at the start, except lines
//     that lie outside whatever guard left mapped.
//
// The exception exists because the Go runtime maps memory of its own now
// and then (a heap arena, a 256 KiB persistent chunk), and so does the C
// library when cgo starts a thread (an 8 MiB stack, a 64 MiB malloc
// arena), often in address ranges guard has just given back: a bare
// count would be flaky. Under the race detector, whose runtime maps and
// unmaps memory constantly, and when more mappings were made than the
// ledger keeps (maptrace.Kept events: a benchmark), only (1) is checked. Tests that use Baseline
// must not run in parallel with tests that map memory.
package mapcheck

import (
	"runtime"
	"strings"
	"testing"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/maptrace"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// Baseline records the state now and registers a cleanup that checks, when
// t ends, that guard gave back everything it mapped (see the package doc).
// Regions retired into guard's quarantine are still mapped, by design; the
// quarantine is flushed before the state is recorded and again before it
// is checked, so what the check finds left is a leak. Where /proc is
// missing it checks guard's own accounts only.
func Baseline(t testing.TB) {
	t.Helper()
	if err := guard.FlushQuarantine(); err != nil {
		t.Fatalf("mapcheck: %v", err)
	}
	_, held := guard.Budget()
	mark := maptrace.Mark()
	before, err := procmaps.Read(0)
	if err != nil && runtime.GOOS == "linux" {
		t.Fatalf("mapcheck: %v", err)
	}
	t.Cleanup(func() {
		if err := guard.FlushQuarantine(); err != nil {
			t.Errorf("mapcheck: %v", err)
		}
		if _, now := guard.Budget(); now != held {
			t.Errorf("mapcheck: guard holds %d kernel mappings at the end, %d at the start", now, held)
		}
		events, complete := maptrace.Since(mark)
		left := maptrace.Left(events)
		if complete && len(left) > 0 {
			t.Errorf("mapcheck: guard mapped and did not unmap %d range(s): %x", len(left), left)
		}
		if before == nil || raceEnabled || !complete {
			// guard's own accounts above are all that can be checked: without
			// the whole ledger (a benchmark's thousands of mappings overflow
			// it), a new line cannot be told from the Go runtime's own.
			return
		}
		after, err := procmaps.Read(0)
		if err != nil {
			t.Errorf("mapcheck: %v", err)
			return
		}
		if len(after) <= len(before) {
			return // equal, or fewer because the kernel merged neighbours
		}
		added, removed := diff(before, after)
		var leaked []procmaps.Mapping
		for _, m := range added {
			for _, r := range left {
				if m.Start < r.End && m.End > r.Start {
					leaked = append(leaked, m)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return // only someone else's mappings are new
		}
		t.Errorf("mapcheck: /proc/self/maps has %d lines at the end, %d at the start; %d new line(s) in ranges guard left mapped\n%s",
			len(after), len(before), len(leaked), format(added, removed))
	})
}

// diff returns the lines only in after and only in before.
func diff(before, after []procmaps.Mapping) (added, removed []procmaps.Mapping) {
	seen := make(map[string]int)
	for _, m := range before {
		seen[m.Line]++
	}
	for _, m := range after {
		if seen[m.Line] > 0 {
			seen[m.Line]--
			continue
		}
		added = append(added, m)
	}
	for _, m := range before {
		if seen[m.Line] > 0 {
			seen[m.Line]--
			removed = append(removed, m)
		}
	}
	return added, removed
}

func format(added, removed []procmaps.Mapping) string {
	var b strings.Builder
	for _, m := range added {
		b.WriteString("+ " + m.Line + "\n")
	}
	for _, m := range removed {
		b.WriteString("- " + m.Line + "\n")
	}
	return b.String()
}
