package arena

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Stats returns the arena's statistics; Resident costs one mincore call
// per mapping.
func (f *FreeList) Stats() Stats {
	st := f.st
	if st == nil {
		return Stats{} // the zero FreeList
	}
	s := Stats{
		Name: st.name, Kind: kindFreeList, Requested: st.requested, InUse: uint64(st.inUse),
		Committed: uint64(st.mapped), Released: st.released, Syscalls: st.syscalls,
		Allocs: st.allocs, Frees: st.frees, Large: len(st.large), Retired: st.retired, Closed: st.closed,
	}
	if st.smp != nil {
		s.Sample = st.smp.stats()
		s.InUse += s.Sample.LiveBytes
	}
	for _, ch := range st.chunks {
		if n, err := ch.r.Resident(); err == nil {
			s.Resident += uint64(n)
		}
	}
	for _, b := range st.large {
		if n, err := b.r.Resident(); err == nil {
			s.Resident += uint64(n)
		}
	}
	if s.InUse > 0 {
		s.Fragmentation = float64(s.Committed) / float64(s.InUse)
	}
	if !st.closed {
		st.publish()
	}
	for c := range st.classes {
		cl := &st.classes[c]
		if cl.spans == 0 {
			continue
		}
		s.Classes = append(s.Classes, ClassStats{
			Size: uint64(classSize[c]), InUse: cl.inUse, Free: cl.free,
			Spans: cl.spans, Bytes: uint64(cl.spans) * uint64(spanBytes(c)),
		})
	}
	return s
}

// freeListString is Stats.String for a FreeList: totals, then a table of
// the classes in use.
func (s Stats) freeListString() string {
	var b strings.Builder
	state := ""
	if s.Closed {
		state = " (closed)"
	}
	size := func(n uint64) string { return humanize.IBytes(n) }
	fmt.Fprintf(&b, "%s arena %q%s\n", s.Kind, s.Name, state)
	fmt.Fprintf(&b, "  in use %s of %s committed (fragmentation %.2f), %s resident, %s released\n",
		size(s.InUse), size(s.Committed), s.Fragmentation, size(s.Resident), size(s.Released))
	fmt.Fprintf(&b, "  %s allocs, %s frees, %d large, %d syscalls\n",
		humanize.Comma(int64(s.Allocs)), humanize.Comma(int64(s.Frees)), s.Large, s.Syscalls)
	if len(s.Classes) > 0 {
		fmt.Fprintf(&b, "  %8s %10s %10s %6s %10s\n", "class", "in use", "free", "spans", "pages")
		for _, c := range s.Classes {
			fmt.Fprintf(&b, "  %8d %10s %10s %6d %10s\n", c.Size,
				humanize.Comma(int64(c.InUse)), humanize.Comma(int64(c.Free)), c.Spans, size(c.Bytes))
		}
	}
	return b.String()
}

// String returns Stats().String().
func (f *FreeList) String() string {
	if f.st == nil {
		return zeroString("FreeList")
	}
	return f.Stats().String()
}

// publish refreshes a FreeList's summary.
func (st *flState) publish() {
	if st.slot == nil {
		return
	}
	rs := make([]Range, 0, len(st.chunks)+len(st.large))
	for _, ch := range st.chunks {
		rs = append(rs, Range{uint64(ch.addr), uint64(ch.addr) + chunkBytes})
	}
	for addr, b := range st.large {
		rs = append(rs, Range{uint64(addr), uint64(addr) + uint64(b.size)})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	st.slot.Store(&Summary{
		ID: st.id, Name: st.name, Kind: kindFreeList, Site: site(st.site),
		InUse: uint64(st.inUse), Committed: uint64(st.mapped),
		Chunks: len(st.chunks) + len(st.large), Allocs: st.allocs,
		Ranges: rs, Updated: time.Now(), Sample: st.smp.stats(),
	})
}
