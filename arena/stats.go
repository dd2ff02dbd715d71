package arena

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"
)

// Stats describe an arena at one moment. Byte counts are exact; Resident
// is asked of the kernel (mincore) and is 0 where that is unsupported.
type Stats struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`      // "bump" or "shared"
	Requested uint64 `json:"requested"` // bytes asked for, ever
	InUse     uint64 `json:"in_use"`    // bytes handed out since the last Reset, alignment padding included
	Peak      uint64 `json:"peak"`      // the highest InUse seen
	Committed uint64 `json:"committed"` // usable bytes of all chunks, quarantined included
	Reserved  uint64 `json:"reserved"`  // address space held, guard pages included
	Resident  uint64 `json:"resident"`  // bytes of the chunks in RAM
	Chunks    int    `json:"chunks"`    // mappings made and kept, quarantined included
	Mappings  int    `json:"mappings"`  // kernel mappings they cost
	Allocs    uint64 `json:"allocs"`    // allocations of one byte or more, ever
	Resets    uint64 `json:"resets"`
	Closed    bool   `json:"closed"`
	// Sample describes the sampled allocations (Options.Sample), which
	// the counts above include; nil when sampling is off.
	Sample *SampleStats `json:"sample,omitempty"`
}

// Stats returns the arena's statistics. It makes one mincore call per
// chunk, so it is for monitoring, not for the fast path.
func (b *Bump) Stats() Stats {
	if b.st == nil {
		return Stats{} // the zero Bump
	}
	if b.inner != nil {
		s := b.inner.Stats()
		s.Allocs += b.allocs
		s.Requested += b.requested
		s.Sample = b.st.smp.snapshot()
		s.InUse += s.Sample.LiveBytes
		s.Peak = max(s.Peak, s.InUse)
		return s
	}
	st := b.st
	inUse := uint64(st.done + b.off)
	s := Stats{
		Name: st.name, Kind: st.kind,
		Requested: b.requested, InUse: inUse, Peak: max(uint64(st.peak), inUse),
		Committed: uint64(st.mapped),
		Allocs:    b.allocs, Resets: st.resets, Closed: st.closed,
	}
	st.addChunkStats(&s)
	if !st.closed {
		b.publish()
	}
	return s
}

// addChunkStats adds what the chunks themselves tell to s.
func (st *bumpState) addChunkStats(s *Stats) {
	each := func(c *chunk) {
		s.Chunks++
		s.Reserved += uint64(c.size) + 2*uint64(c.r.GuardSize())
		s.Mappings += c.r.Mappings()
		if n, err := c.r.Resident(); err == nil {
			s.Resident += uint64(n)
		}
	}
	for _, c := range st.chunks {
		each(c)
	}
	for _, q := range st.quar {
		each(q.c)
	}
}

// String formats the statistics as a small table with human sizes.
func (s Stats) String() string {
	var b strings.Builder
	state := ""
	if s.Closed {
		state = " (closed)"
	}
	fmt.Fprintf(&b, "%s arena %q%s\n", s.Kind, s.Name, state)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-10s %s\n", k, v) }
	size := func(n uint64) string { return humanize.IBytes(n) }
	row("requested", size(s.Requested))
	row("in use", size(s.InUse)+" (peak "+size(s.Peak)+")")
	row("committed", size(s.Committed))
	row("reserved", size(s.Reserved))
	row("resident", size(s.Resident))
	row("chunks", fmt.Sprintf("%d (%d kernel mappings)", s.Chunks, s.Mappings))
	row("allocs", humanize.Comma(int64(s.Allocs)))
	row("resets", humanize.Comma(int64(s.Resets)))
	return b.String()
}
