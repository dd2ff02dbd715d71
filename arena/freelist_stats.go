package arena

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mmarena/mmarena/arena/hardened"
)

// Stats returns the arena's statistics; Resident costs one mincore call
// per mapping. It first gives back the pages of the cached large blocks
// whose decay has passed (Options.LargeDecay), as the arena's other
// calls do, so that Released and Resident say what the cache holds now.
func (f *FreeList) Stats() Stats {
	st := f.st
	if st == nil {
		return Stats{} // the zero FreeList
	}
	if !st.closed && !st.frozen {
		st.decayLarge() // first, so that the numbers say what it did
		st.release()    // so Resident and Released count what emptied spans give back
	}
	s := Stats{
		Name: st.name, Kind: kindFreeList, Requested: st.requested, InUse: uint64(st.inUseBytes()),
		Committed: uint64(st.mapped), Released: st.released, Syscalls: st.syscalls,
		Allocs: st.allocs, Frees: st.frees, Large: len(st.large) - st.lc.n, Retired: st.retired, Closed: st.closed,
		Cached: uint64(st.lc.bytes),
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
		st.refresh(true)
	}
	s.Classes = st.classStats()
	return s
}

// classStats returns the classes with at least one span, smallest first,
// in a new slice. O(classes); called when someone asks, never on the
// hot path.
func (st *flState) classStats() []ClassStats {
	var out []ClassStats
	for c := range st.classes {
		cl := &st.classes[c]
		if cl.spans == 0 {
			continue
		}
		out = append(out, ClassStats{
			Size: uint64(classSize[c]), InUse: cl.inUse, Free: cl.freeBlocks(c),
			Spans: cl.spans, Bytes: uint64(cl.spans) * uint64(spanBytes(c)),
		})
	}
	return out
}

// inUseBytes returns the bytes of live blocks, at their block size: the
// large blocks' count plus each class's blocks in use. The hot path
// counts a small block once, in its class; this adds them up when
// someone asks. O(classes).
func (st *flState) inUseBytes() uintptr {
	n := st.inUse
	for c := range st.classes {
		n += uintptr(st.classes[c].inUse) * classSize[c]
	}
	return n
}

// freeBlocks returns how many free blocks the spans of class c hold:
// every block of its spans but those in use and those withdrawn. O(1).
func (cl *flClass) freeBlocks(c int) uint64 {
	return uint64(cl.spans)*uint64(spanBytes(c)/classSize[c]) - cl.inUse - cl.withdrawn
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
	if s.Cached > 0 {
		fmt.Fprintf(&b, "  %s of freed large blocks cached for reuse\n", size(s.Cached))
	}
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

// A FreeList's numbers reach the registry in two ways, neither of which
// costs its fast path more than a counter and a branch:
//
//   - A SyncFreeList is asked at snapshot time: TakeSnapshot takes its
//     lock and assembles a Summary from the live counters (summary), so
//     a busy one is never behind.
//   - A plain FreeList belongs to one goroutine, whose plain counters
//     another goroutine must not read (that is a data race, and -race
//     says so). Every publishEvery Allocs and Frees, and at Stats, it
//     copies them into flPublished's atomics (refresh); TakeSnapshot
//     reads those (published), never blocking the owner nor being
//     blocked. Its row lags by fewer than publishEvery operations, and
//     Summary.Updated says since when.
//
// The ranges of its mappings are rebuilt only after they changed, and
// then only once rangesEvery times as many operations as there are
// mappings went by since the last rebuild, so their cost per operation
// stays O(1)
// however many large blocks come and go; a Stats call rebuilds them at
// once. They are sorted by whoever asks, on the asker's copy.

// publishEvery is how many Allocs and Frees a plain FreeList makes
// between two refreshes of its published counters: seven atomic stores
// every 1024 operations cost well under 1% of W2.
const publishEvery = 1024

// flPublished holds what TakeSnapshot may read of a plain FreeList from
// another goroutine. Written by the FreeList's goroutine in refresh.
type flPublished struct {
	inUse, committed, allocs atomic.Uint64
	cached                   atomic.Uint64                  // bytes of cached large blocks
	mappings                 atomic.Int64                   // chunks and large blocks
	updated                  atomic.Int64                   // when refreshed, Unix nanoseconds
	ranges                   atomic.Pointer[[]Range]        // unsorted; never changed once stored
	sample                   atomic.Pointer[hardened.Stats] // nil when sampling is off
	classes                  atomic.Pointer[[]ClassStats]   // as of the last forced or asked-for refresh; never changed once stored
	rangesOps                uint64                         // operations since ranges was rebuilt; the goroutine's own
	answered                 uint64                         // asks when classes was last stored; the goroutine's own
}

// tick counts an Alloc or Free and refreshes the published counters
// every publishEvery of them. O(1), amortised over the refresh.
func (st *flState) tick() {
	st.ops++
	if st.ops >= publishEvery {
		st.refresh(false)
	}
}

// mappingsChanged notes a chunk or large block mapped or unmapped: the
// ranges must be rebuilt, and the Alloc or Free that did it refreshes
// the published counters, so a plain FreeList's row follows its
// mappings at once. A mapping event counts as mappingCredit operations
// toward paying for the rebuild: it costs a system call anyway. O(1).
func (st *flState) mappingsChanged() {
	st.ranges = nil
	st.pub.rangesOps += mappingCredit
	st.ops = max(st.ops, publishEvery-1)
}

// rangesEvery is how many operations per mapping pay for a rebuild of
// the ranges: a rebuild allocates 16 bytes per mapping, so 16 keep that
// garbage at about a byte per operation. At 1 it was 16 bytes per
// operation while chunks were being added: W5(4096,100), which maps a
// thousand chunks, threw 7.7 MB of ranges away, half its Go heap
// allocation, and the GC cycles that came with it. A plain FreeList's
// ranges then lag its mappings by at most 16 operations per mapping
// (Stats rebuilds them at once).
const rangesEvery = 16

// mappingCredit is what a mapping event counts for toward a rebuild of
// the ranges: a rebuild costs about a nanosecond per mapping, a system
// call a few microseconds.
const mappingCredit = 64

// refresh copies the counters into st.pub; force rebuilds the mappings'
// ranges now if they changed, rather than when enough operations have
// paid for it. Called by the arena's goroutine (under the lock for a
// SyncFreeList).
func (st *flState) refresh(force bool) {
	if !st.closed && !st.frozen {
		st.decayLarge() // the lazy decay's clock, for an arena that stopped making large calls
	}
	p := &st.pub
	p.rangesOps += uint64(st.ops)
	st.ops = 0
	p.inUse.Store(uint64(st.inUseBytes()))
	p.committed.Store(uint64(st.mapped))
	p.allocs.Store(st.allocs)
	p.cached.Store(uint64(st.lc.bytes))
	p.mappings.Store(int64(len(st.chunks) + len(st.large)))
	if st.ranges == nil && (force || p.rangesOps >= rangesEvery*uint64(len(st.chunks)+len(st.large))) {
		rs := st.mappingRanges()
		p.ranges.Store(&rs)
		p.rangesOps = 0
	}
	if st.smp != nil {
		p.sample.Store(st.smp.stats())
	}
	// The class table is a slice of up to numClasses entries: it is built
	// only when a snapshot was taken since the last one (one atomic load
	// otherwise, when nobody watches) or when Stats forces it.
	if a := asks.Load(); force || a != p.answered {
		cs := st.classStats()
		p.classes.Store(&cs)
		p.answered = a
	}
	p.updated.Store(time.Now().UnixNano())
}

// mappingRanges returns the ranges of the chunks and large blocks,
// unsorted, rebuilding them if they changed since the last call. The
// slice is shared: callers must not change it. O(mappings) after a
// change, O(1) otherwise.
func (st *flState) mappingRanges() []Range {
	if st.ranges == nil {
		rs := make([]Range, 0, len(st.chunks)+len(st.large))
		for _, ch := range st.chunks {
			rs = append(rs, Range{uint64(ch.addr), uint64(ch.addr) + chunkBytes})
		}
		for addr, b := range st.large {
			rs = append(rs, Range{uint64(addr), uint64(addr) + uint64(b.size)})
		}
		st.ranges = rs
	}
	return st.ranges
}

// sortedRanges returns a sorted copy of rs.
func sortedRanges(rs []Range) []Range {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) })
	return rs
}

// summary assembles the arena's Summary from its live counters. Called
// by the arena's goroutine, or with a SyncFreeList's lock held.
func (st *flState) summary() Summary {
	s := *st.slot.Load() // what does not change: id, name, site, leaked
	s.InUse, s.Committed, s.Allocs = uint64(st.inUseBytes()), uint64(st.mapped), st.allocs
	s.Chunks = len(st.chunks) + len(st.large)
	s.Ranges = sortedRanges(st.mappingRanges())
	s.Cached = uint64(st.lc.bytes)
	s.Classes = st.classStats()
	s.Updated, s.Sample = time.Now(), st.smp.stats()
	return s
}

// published assembles the arena's Summary from what its goroutine last
// published in st.pub. Safe for concurrent use with the arena's
// goroutine: it reads atomics and the registry's slot only.
func (st *flState) published() Summary {
	p := &st.pub
	s := *st.slot.Load()
	if p.updated.Load() == 0 {
		return s // nothing allocated yet
	}
	s.InUse, s.Committed, s.Allocs, s.Cached = p.inUse.Load(), p.committed.Load(), p.allocs.Load(), p.cached.Load()
	s.Chunks = int(p.mappings.Load())
	if rs := p.ranges.Load(); rs != nil {
		s.Ranges = sortedRanges(*rs)
	}
	if cs := p.classes.Load(); cs != nil {
		s.Classes = *cs
	}
	s.Updated, s.Sample = time.Unix(0, p.updated.Load()), p.sample.Load()
	return s
}
