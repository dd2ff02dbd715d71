package mapcheck

import (
	"fmt"
	"sort"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// Agrees checks that the kernel's view of region r, the lines of ms (a
// reading of /proc/self/maps), matches guard's: every page guard counts
// as mapped is mapped with the protection its state implies, every hole
// is unmapped, and r costs no more kernel mappings than it is charged
// for. It samples at most about 256 pages of a large region, always
// including the first and last page of each kernel mapping. r must be
// open and must not change while Agrees runs.
func Agrees(ms []procmaps.Mapping, r *guard.Region) error {
	ps := uintptr(align.PageSize())
	lo := r.Addr() - uintptr(r.GuardSize())
	hi := r.Addr() + uintptr(r.Size()+r.GuardSize())
	lines := procmaps.Overlapping(ms, lo, hi)
	if n := r.Mappings(); len(lines) > n {
		return fmt.Errorf("region %q: %d kernel mappings, charged for %d", r.Name(), len(lines), n)
	}
	pages := map[uintptr]bool{lo: true, hi - ps: true}
	for _, m := range lines {
		pages[max(m.Start, lo)] = true
		pages[min(m.End, hi)-ps] = true
	}
	step := max(ps, align.Down((hi-lo)/256, ps))
	for a := lo; a < hi; a += step {
		pages[a] = true
	}
	sorted := make([]uintptr, 0, len(pages))
	for a := range pages {
		sorted = append(sorted, a)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	markers := r.Fence() == guard.FenceMarkers
	for _, a := range sorted {
		loc := guard.Lookup(a)
		perms := ""
		for _, m := range lines {
			if m.Start <= a && a < m.End {
				perms = m.Perms[:3]
			}
		}
		var want []string
		switch loc.Part {
		case guard.PartUsable:
			want = []string{"rw-"}
		case guard.PartFrozen:
			want = []string{"r--"}
		case guard.PartReserved:
			want = []string{"---"}
		case guard.PartPunched:
			want = []string{""}
		case guard.PartProtected, guard.PartLowGuard, guard.PartHighGuard:
			want = []string{"---"}
			if markers {
				want = append(want, "rw-") // a guard marker, invisible in maps
			}
		default:
			return fmt.Errorf("region %q: page %#x is %v to guard", r.Name(), a, loc.Part)
		}
		ok := false
		for _, w := range want {
			ok = ok || perms == w
		}
		if !ok {
			return fmt.Errorf("region %q: page %#x is a %v to guard, %q to the kernel", r.Name(), a, loc.Part, perms)
		}
	}
	return nil
}
