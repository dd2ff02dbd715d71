package arena

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// The chunk policy that Bump and Shared share: an arena is a list of
// chunks, each one guarded mapping, whose sizes double from
// Options.InitialSize to Options.MaxChunk; a Reset keeps them (zeroed as
// they are handed out again), releases their pages (ResetRelease) or
// fences them for a while (Quarantine); Trim unmaps the ones kept for
// reuse; Close retires them all into guard's quarantine. bumpState holds
// the list; Bump and Shared carve the current chunk each their own way.
//
// Chained chunks rather than one reservation committed in place: many
// arenas live at once (one per request), and a fixed multi-GiB
// reservation each would exhaust the address space; chunks also let Trim
// return whole mappings. With guard markers a chunk costs one kernel
// mapping. Fresh chunk memory is faulted in a stride ahead of the
// allocations with MADV_POPULATE_WRITE, which made W1 cold as fast as a
// raw bump over a Go byte slice.
//
// Reset keeps the pages and zeroes them as they are handed out again, in
// strides sized by the refill and never larger than 32 KiB, so that the
// cleared lines are still cached when the objects are written (see
// clearMin), rather than dropping them with MADV_DONTNEED and taking a
// page fault on each: refilling 64 MiB was faster that way
// (BenchmarkResetRefill).
// Options.ResetRelease chooses the other trade, and Trim returns memory
// on demand.

// bumpState is the part of a Bump that the fast path never touches. It
// is separate so that runtime.AddCleanup can report a Bump that became
// unreachable without Close: the cleanup holds the state, not the Bump.
type bumpState struct {
	name    string
	kind    string // "bump" or "shared"
	opts    Options
	chunks  []*chunk // chunks[cur] is current; those after it are kept for reuse
	cur     int      // -1 before the first chunk
	done    uintptr  // bytes handed out in chunks[:cur] since the last Reset
	mapped  uintptr  // usable bytes of all chunks, quarantined included; <= opts.Limit if set
	peak    uintptr  // highest bytes in use at any Reset or Stats
	resets  uint64
	closed  bool
	frozen  bool                     // Freeze made every chunk read-only; allocation is refused
	state   error                    // what State answers: ErrClosed if closed, else ErrFrozen if frozen, else nil
	thawTo  uintptr                  // the fast path's zeroTo before Freeze, restored by Thaw
	smp     *sampler                 // Options.Sample; nil when off
	quar    []quarantined            // fenced chunks waiting out their quarantine
	site    uintptr                  // program counter of the NewBump call, for leak reports
	id      uint64                   // in the registry
	slot    *atomic.Pointer[Summary] // the registry's summary of this arena: what does not change
	pub     bumpPub                  // the numbers the registry reads (bump_stats.go)
	ranges  []Range                  // chunks' address ranges, as last published; nil when the chunks changed
	inside  int32                    // arenadebug: goroutines inside a method; > 1 is a bug
	pool    *poolState               // the Pool that made this Bump; nil if none. Never changes
	pooled  bool                     // waiting in pool, reset, its fast path shut; written under pool.mu
	putting bool                     // claimed by a Put that has not kept or closed it yet; guarded by pool.mu
	keptTo  uintptr                  // while pooled: the fast path's zeroTo, restored by Get
	refBase uint64                   // what Refs into this arena carry above their offset: (tag<<8 | generation) << 40 (ref.go)
	refs    []refSlot                // the offset space's slots (ref.go); refs[0] is always empty; nil after Close
}

// A chunk is one guarded mapping.
type chunk struct {
	r     *guard.Region
	base  unsafe.Pointer // first usable byte
	size  uintptr        // usable bytes; page multiple
	dirty uintptr        // [0, dirty) may hold old bytes; the rest reads zero. <= size
	ready uintptr        // [0, ready) has been touched, populated or handed out (fresh, reading zero). <= size
	next  atomic.Uintptr // Shared only: next free byte; next <= size
	pos   uint32         // first slot of the chunk in the Ref offset space (ref.go); 0: none, the chunk has no Refs
}

type quarantined struct {
	c     *chunk
	until uint64 // released at the Reset that makes resets reach this
}

// newState checks opts for kind (bump or shared), fills in defaults, and
// records pc, where the arena is made, for leak reports and snapshots.
func newState(kind string, opts *Options, pc uintptr) (*bumpState, error) {
	o, err := opts.resolve(kind)
	if err != nil {
		return nil, err
	}
	return &bumpState{cur: -1, kind: kind, opts: o, name: o.Name, site: pc, refBase: newRefBase()}, nil
}

// advance makes current, after the current chunk, a kept chunk with room
// for size bytes if there is one, and a newly mapped one otherwise, and
// returns it. It calls leave just before moving, and not at all if it
// fails, which then changes nothing. The chunks after the new current
// one stay available.
func (st *bumpState) advance(size uintptr, leave func()) (*chunk, error) {
	for i := st.cur + 1; i < len(st.chunks); i++ {
		if c := st.chunks[i]; c.size >= size {
			leave()
			st.cur++
			st.chunks[st.cur], st.chunks[i] = c, st.chunks[st.cur]
			return c, nil
		}
	}
	c, err := st.mapChunk(size)
	if err != nil {
		return nil, err
	}
	leave()
	st.ranges = nil // a kept chunk above changes the order only; this one is new
	st.cur++
	st.chunks = append(st.chunks, nil)
	copy(st.chunks[st.cur+1:], st.chunks[st.cur:])
	st.chunks[st.cur] = c
	return c, nil
}

// maxChunkBytes bounds one chunk well inside an int, so sizes convert to
// guard's int arguments without wrapping; guard refuses past 128 TiB.
const maxChunkBytes = uintptr(math.MaxInt) / 2

// mapChunk maps a chunk with room for size bytes: the next size in the
// doubling sequence, or size itself if larger, shrunk to what the limit
// allows if that still fits size.
func (st *bumpState) mapChunk(size uintptr) (*chunk, error) {
	ps := uintptr(align.PageSize())
	need, ok := align.Up(size, ps)
	if !ok || need > maxChunkBytes {
		return nil, errTooLarge("allocation of %d bytes in %q is larger than the address space", size, st.name)
	}
	want := uintptr(st.opts.InitialSize)
	if n := len(st.chunks) + len(st.quar); n > 0 {
		want = uintptr(st.opts.MaxChunk)
		if n < 32 {
			want = min(want, uintptr(st.opts.InitialSize)<<n)
		}
	}
	want, _ = align.Up(max(want, need), ps) // ok: both are below the address-space bound
	if lim := uintptr(st.opts.Limit); lim > 0 {
		if st.mapped > lim || need > lim-st.mapped {
			return nil, errLimit(st.name, need, st.mapped, lim)
		}
		want = min(want, align.Down(lim-st.mapped, ps))
	}
	r, err := guard.Map(int(want), st.opts.regionOptions(st.name, want))
	if err != nil {
		return nil, fmt.Errorf("arena: %q: new chunk: %w", st.name, err)
	}
	st.mapped += want
	// The first page is left to fault in when touched rather than
	// populated with the first stride: a small request in a fresh chunk
	// then takes one page fault instead of faulting in 16 pages, and its
	// Close fences one resident page instead of 16: NewBump, a written
	// Alloc(64) and Close went from 22.1 to 10.5 us of CPU
	// (BenchmarkLifecycle, bench/issues-13-14-pool.txt). Fresh memory
	// reads zero either way.
	c := &chunk{r: r, base: r.Pointer(), size: want, ready: ps}
	st.placeRefs(c)
	return c, nil
}

// recycle applies the Reset policy to the chunks used since the last
// Reset, chunks[:cur+1], whose dirty marks are up to date: fence them
// (Quarantine), give their pages back (ResetRelease), or keep them as
// they are; then it ends the quarantines that are over.
func (st *bumpState) recycle() {
	if st.cur >= 0 {
		switch {
		case st.opts.Quarantine > 0:
			st.quarantine(st.cur + 1)
		case st.opts.ResetRelease:
			for _, c := range st.chunks[:st.cur+1] {
				st.release(c)
			}
		}
	}
	if st.opts.Quarantine > 0 {
		st.unquarantine()
	}
}

// dropKept unmaps the chunks after the current one, kept for reuse, and
// returns the first error.
func (st *bumpState) dropKept() error {
	var first error
	keep := st.cur + 1
	if keep < len(st.chunks) {
		st.ranges = nil
	}
	var pcs *[4]uintptr
	for _, c := range st.chunks[keep:] {
		if pcs == nil {
			pcs = closeSite()
		}
		// A kept chunk may still be pointed into from before a Reset.
		st.showRefs(c, false)
		if err := retireRegion(c.r, hardened.KindUseAfterReset, pcs); err != nil && first == nil {
			first = err
		}
		st.mapped -= c.size
	}
	clear(st.chunks[keep:])
	st.chunks = st.chunks[:keep]
	return first
}

// quarantine fences the first n chunks, which hold the memory the Reset
// frees, and sets them aside. A chunk that cannot be fenced (the mapping
// budget is exhausted) is released and kept instead: the arena stays
// correct, only less strict.
func (st *bumpState) quarantine(n int) {
	st.ranges = nil
	kept := st.chunks[:0]
	for i, c := range st.chunks {
		if i >= n {
			kept = append(kept, c)
			continue
		}
		if err := c.r.ProtectFor(0, int(c.size), hardened.KindUseAfterReset.String()); err != nil {
			st.release(c)
			kept = append(kept, c)
			continue
		}
		c.dirty, c.ready = 0, 0 // fencing discards the contents
		st.showRefs(c, false)   // its slots stay taken (used) until it returns
		st.quar = append(st.quar, quarantined{c, st.resets + uint64(st.opts.Quarantine)})
	}
	clear(st.chunks[len(kept):])
	st.chunks = kept
}

// unquarantine returns chunks whose quarantine has ended to use.
func (st *bumpState) unquarantine() {
	st.ranges = nil
	waiting := st.quar[:0]
	for _, q := range st.quar {
		if q.until > st.resets || q.c.r.Unprotect(0, int(q.c.size)) != nil {
			waiting = append(waiting, q)
			continue
		}
		st.showRefs(q.c, true)
		st.chunks = append(st.chunks, q.c)
	}
	clear(st.quar[len(waiting):])
	st.quar = waiting
}

// release gives a chunk's used and faulted-in pages back to the OS.
func (st *bumpState) release(c *chunk) {
	if c.dirty == 0 && c.ready == 0 {
		return
	}
	n, _ := align.Up(max(c.dirty, c.ready), uintptr(align.PageSize())) // ok: both <= size, a page multiple
	if c.r.Release(0, int(n)) == nil {
		c.dirty, c.ready = 0, 0
	}
}

// close retires everything the state holds into guard's quarantine,
// naming pcs as the Close site.
func (st *bumpState) close(pcs *[4]uintptr) error {
	st.closed, st.state = true, ErrClosed
	st.refs = nil // every Ref into the arena resolves to nil from now on
	st.nextRefGen()
	unregister(st.id)
	var first error
	for _, c := range st.chunks {
		if err := retireRegion(c.r, hardened.KindUseAfterClose, pcs); err != nil && first == nil {
			first = err
		}
	}
	for _, q := range st.quar {
		if err := retireRegion(q.c.r, hardened.KindUseAfterClose, pcs); err != nil && first == nil {
			first = err
		}
	}
	if st.smp != nil {
		if err := st.smp.pool.Close(); err != nil && first == nil {
			first = err
		}
	}
	st.chunks, st.quar, st.cur, st.mapped = nil, nil, -1, 0
	return first
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

// chunkRanges lists the usable address ranges of st's chunks, rebuilt
// only when the chunks have changed since the last call: a Reset that
// keeps its chunks publishes without allocating a new list.
func (st *bumpState) chunkRanges() []Range {
	if st.ranges == nil {
		st.ranges = make([]Range, 0, len(st.chunks))
		for _, c := range st.chunks {
			st.ranges = append(st.ranges, Range{uint64(c.r.Addr()), uint64(c.r.Addr()) + uint64(c.size)})
		}
	}
	return st.ranges
}

// leaked runs when the Bump or Shared owning st became unreachable
// without Close. It reports the leak and unmaps nothing: memory the
// program may still point into is never given away.
func (st *bumpState) leaked() {
	if st.closed {
		return
	}
	markLeaked(st.slot)
	reportLeak(LeakReport{Name: st.name, Kind: st.kind, Site: site(st.site), Chunks: len(st.chunks) + len(st.quar), Bytes: uint64(st.mapped)})
}
