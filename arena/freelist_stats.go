package arena

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"
)

// ClassStats describe one size class of a FreeList.
type ClassStats struct {
	Size  uint64 `json:"size"`   // block size in bytes
	InUse uint64 `json:"in_use"` // blocks allocated
	Free  uint64 `json:"free"`   // free blocks in the class's spans
	Spans int    `json:"spans"`  // spans, the spare included
	Bytes uint64 `json:"bytes"`  // bytes of those spans
}

// FreeListStats describe a FreeList at one moment.
type FreeListStats struct {
	Name          string       `json:"name"`
	Kind          string       `json:"kind"`          // "freelist"
	Requested     uint64       `json:"requested"`     // bytes asked for, ever
	InUse         uint64       `json:"in_use"`        // bytes of live blocks, at their block size
	Committed     uint64       `json:"committed"`     // usable bytes mapped: chunks and large blocks
	Resident      uint64       `json:"resident"`      // bytes of those in RAM (mincore; 0 where unsupported)
	Released      uint64       `json:"released"`      // bytes given back to the OS, ever
	Syscalls      uint64       `json:"syscalls"`      // calls made to map, release and unmap memory, ever
	Allocs        uint64       `json:"allocs"`        // allocations of one byte or more, ever
	Frees         uint64       `json:"frees"`         // successful frees, ever
	Large         int          `json:"large"`         // blocks with a mapping of their own
	Retired       uint64       `json:"retired"`       // blocks withdrawn after a write after free (Hardened)
	Fragmentation float64      `json:"fragmentation"` // Committed / InUse; 0 when nothing is in use
	Classes       []ClassStats `json:"classes"`       // classes with at least one span, smallest first
	Closed        bool         `json:"closed"`
	// Sample describes the sampled blocks (Options.Sample), which the
	// counts above include; nil when sampling is off.
	Sample *SampleStats `json:"sample,omitempty"`
}

// Stats returns the arena's statistics; Resident costs one mincore call
// per mapping.
func (f *FreeList) Stats() FreeListStats {
	st := f.st
	if st == nil {
		return FreeListStats{} // the zero FreeList
	}
	s := FreeListStats{
		Name: st.name, Kind: "freelist", Requested: st.requested, InUse: uint64(st.inUse),
		Committed: uint64(st.mapped), Released: st.released, Syscalls: st.syscalls,
		Allocs: st.allocs, Frees: st.frees, Large: len(st.large), Retired: st.retired, Closed: st.closed,
	}
	if st.smp != nil {
		s.Sample = st.smp.snapshot()
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

// String formats the statistics: totals, then a table of the classes in
// use.
func (s FreeListStats) String() string {
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
