// Package mapcheck is the test helper every mmarena package uses to prove
// that it gives back what it maps: Baseline records how many lines
// /proc/self/maps has, and when the test ends it fails the test unless
// the count is back where it started.
//
// The Go runtime maps memory of its own now and then (a heap arena, a
// 256 KiB persistent chunk), and so does the C library when cgo starts a
// thread (an 8 MiB stack, a 64 MiB malloc arena), often in address ranges
// guard has just given back. That would make a bare count flaky. So when
// the count is up, each new line is checked against the reservations
// guard made during the test (internal/maptrace): a line lying wholly
// inside one of them is a leak; any other new line is someone else's and
// is forgiven. Under the race detector, whose runtime maps
// and unmaps memory constantly, only guard's own count is checked. Tests
// that use Baseline must not run in parallel with tests that map memory.
package mapcheck

import (
	"runtime"
	"strings"
	"testing"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/maptrace"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// Baseline records the mapping count now and registers a cleanup that
// checks it is the same when t ends, along with guard's own count of the
// mappings it holds. Where /proc is missing it checks guard's count only.
func Baseline(t testing.TB) {
	t.Helper()
	_, held := guard.Budget()
	mark := maptrace.Mark()
	before, err := procmaps.Read(0)
	if err != nil && runtime.GOOS == "linux" {
		t.Fatalf("mapcheck: %v", err)
	}
	t.Cleanup(func() {
		if _, now := guard.Budget(); now != held {
			t.Errorf("mapcheck: guard holds %d kernel mappings at the end, %d at the start", now, held)
		}
		if before == nil || raceEnabled {
			return // guard's own count above is all that can be checked
		}
		after, err := procmaps.Read(0)
		if err != nil {
			t.Errorf("mapcheck: %v", err)
			return
		}
		if len(after) <= len(before) {
			return // equal, or fewer because the kernel merged neighbours
		}
		ours, complete := maptrace.Since(mark)
		added, removed := diff(before, after)
		var leaked []procmaps.Mapping
		for _, m := range added {
			for _, r := range ours {
				if m.Start >= r.Start && m.End <= r.End {
					leaked = append(leaked, m)
					break
				}
			}
		}
		if len(leaked) == 0 && complete {
			return // only the runtime's own mappings are new
		}
		t.Errorf("mapcheck: /proc/self/maps has %d lines at the end, %d at the start; %d new line(s) inside mmarena's reservations\n%s",
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
