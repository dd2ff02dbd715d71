package arena

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/guard"
)

// Sampling, or hardened mode (Options.Sample): every Nth allocation is
// placed flush against a guard page in a pool of fenced slots, with the
// call stack that made it. Its Free (or the arena's Reset or Close) fences
// its pages again and records that stack too; the slot then waits in a
// first-in first-out quarantine until every other slot has been used. A
// fault in or next to a slot is turned into a Report by Explain or Catch.
//
// The pool is made of segments, each a guard region of segSlots slots of
// slotPages data pages, each slot followed by one fenced page, so every
// slot has a fence on both sides. Segments rather than one region: guard
// rebuilds a region's list of page states on every change, in time
// linear in its length, so one region with a thousand slots in different
// states made each fence cost 90 us (BenchmarkSampled); a segment keeps
// the list short. Segments are aligned to the power of two above their
// size, so a pointer's segment is found with a shift and a map lookup. With guard markers (MADV_GUARD_INSTALL) a
// segment is one kernel mapping whatever is fenced; with mprotect each
// slot ever used may cost two more, charged to guard's budget, and
// sampling stops, rather than an allocation failing, when the budget is
// spent. Blocks larger than a slot get a guarded mapping each, kept
// fenced for soloKept frees.

const (
	slotPages          = 4       // data pages per slot: blocks up to 16 KiB with 4 KiB pages share the pool
	segSlots           = 16      // slots per segment
	defaultSampleSlots = 1024    // slots, live and quarantined, by default
	maxSampleSlots     = 1 << 20 // 20 GiB of address space with 4 KiB pages
	soloKept           = 64      // freed blocks with a mapping of their own kept fenced
	siteDepth          = 16      // program counters recorded per allocation or free
	canary             = 0xCB    // fills the bytes between a right-aligned block's end and its fence
	samplersKept       = 16      // closed arenas whose sampled blocks Explain still names
)

// blockState is what became of a sampled block.
type blockState uint8

const (
	blockLive blockState = iota
	blockFreed
	blockReset
	blockClosed
)

// A sampled block. lo and hi bound the pages it may occupy (its slot, or
// its own mapping's usable pages); a fence lies just outside both.
type sampled struct {
	addr, size uintptr
	lo, hi     uintptr
	pages      [2]uintptr // [from, to) unfenced for it while live; page aligned
	state      blockState
	slot       int           // index in the pool, -1 with a mapping of its own
	r          *guard.Region // its own mapping, or nil
	allocPC    [siteDepth]uintptr
	freePC     [siteDepth]uintptr
}

// sampler is the sampling state of one arena. The arena's goroutine
// calls alloc, free and the rest; Explain may read from any goroutine,
// so mu guards every field but left.
type sampler struct {
	left  uint64 // allocations until the next sample; the owner's only
	every uint64

	mu     sync.Mutex
	name   string
	under  bool // left-aligned: catch underflows
	ps     uintptr
	nslots int
	segs   []*segment           // by index; segment k holds slots [k*segSlots, (k+1)*segSlots)
	bySeg  map[uintptr]*segment // by usable start >> segShift
	shift  uint                 // log2 of the segments' alignment
	stride uintptr              // slot data plus its fence page
	data   uintptr              // slot data bytes
	slots  []*sampled           // by slot; nil if never used
	unused int                  // slots [unused, nslots) were never used
	freed  ring                 // quarantined slots, oldest first
	solo   map[uintptr]*sampled // blocks with a mapping of their own, live and quarantined, by address
	soloQ  []*sampled           // the quarantined ones, oldest first
	stats  SampleStats
	closed bool
}

// SampleStats describe an arena's sampled allocations (Options.Sample).
type SampleStats struct {
	Every       int    `json:"every"`             // Options.Sample
	Sampled     uint64 `json:"sampled"`           // allocations placed against a fence, ever
	Skipped     uint64 `json:"skipped"`           // samples due but not taken: every slot live, alignment above a page, or stopped
	Live        int    `json:"live"`              // sampled blocks allocated now
	LiveBytes   uint64 `json:"live_bytes"`        // their bytes, as requested
	Quarantined int    `json:"quarantined"`       // freed sampled blocks still fenced
	Slots       int    `json:"slots"`             // the pool's slots
	Syscalls    uint64 `json:"syscalls"`          // calls into guard made for sampling, ever
	Mappings    int    `json:"mappings"`          // kernel mappings the pool and the blocks with their own mapping cost now
	Stopped     string `json:"stopped,omitempty"` // why sampling stopped for good (the mapping budget ran out); "" while it runs
}

// A ring is a first-in first-out queue of slot numbers, allocated once.
type ring struct {
	buf     []int
	head, n int
}

func (q *ring) first() int { return q.buf[q.head] }

func (q *ring) pop() { q.head, q.n = (q.head+1)%len(q.buf), q.n-1 }

// push adds i; the ring never holds more than the slots there are.
func (q *ring) push(i int) {
	q.buf[(q.head+q.n)%len(q.buf)] = i
	q.n++
}

// A segment is one region of the pool.
type segment struct {
	r     *guard.Region
	base  unsafe.Pointer // first usable byte
	addr  uintptr        // likewise, as a number
	first int            // its first slot
}

// newSampler returns the sampler for an arena, or nil when opts ask for
// none. Nothing is mapped until the first sample.
func newSampler(name string, o *Options) (*sampler, error) {
	switch {
	case o.Sample < 0:
		return nil, errSize("arena %q: Sample %d is negative", name, o.Sample)
	case o.SampleSlots < 0:
		return nil, errSize("arena %q: SampleSlots %d is negative", name, o.SampleSlots)
	case o.SampleSlots > maxSampleSlots:
		return nil, errTooLarge("arena %q: SampleSlots %d is more than %d", name, o.SampleSlots, maxSampleSlots)
	case o.Sample == 0:
		return nil, nil
	}
	n := o.SampleSlots
	if n == 0 {
		n = defaultSampleSlots
	}
	ps := uintptr(align.PageSize())
	s := &sampler{
		every: uint64(o.Sample), left: uint64(o.Sample), name: name, under: o.SampleUnderflow,
		ps: ps, nslots: n, stride: (slotPages + 1) * ps, data: slotPages * ps,
		solo: make(map[uintptr]*sampled), bySeg: make(map[uintptr]*segment),
	}
	s.freed.buf = make([]int, n)
	s.shift = uint(bits.Len(uint(segSlots*s.stride - 1)))
	s.stats.Every, s.stats.Slots = o.Sample, n
	registerSampler(s)
	return s, nil
}

// tick counts an allocation and says whether it is to be sampled.
func (s *sampler) tick() bool {
	s.left--
	if s.left == 0 {
		s.left = s.every
		return true
	}
	return false
}

// alloc places size bytes aligned to al against a fence and returns
// them, zeroed, or nil when it cannot (the caller then allocates as
// usual; the sample is counted as skipped).
func (s *sampler) alloc(size, al uintptr) unsafe.Pointer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats.Stopped != "" || s.closed || al > s.ps || size > maxChunkBytes {
		s.stats.Skipped++
		return nil
	}
	var b *sampled
	var p unsafe.Pointer
	var err error
	if size <= s.data {
		b, p, err = s.allocSlot(size, al)
	} else {
		b, p, err = s.allocSolo(size, al)
	}
	if err != nil {
		if err != errPoolFull {
			// Out of mappings (guard's budget, or the kernel's): stop
			// sampling for good rather than fail allocations.
			s.stats.Stopped = "sampling stopped: " + err.Error()
		}
		s.stats.Skipped++
		return nil
	}
	runtime.Callers(3, b.allocPC[:])
	if !s.under {
		// Bytes between the block's end and the fence, when alignment
		// leaves some, get a pattern that Free checks.
		fill(add(p, size), b.hi-(b.addr+size), canary)
	}
	s.stats.Sampled++
	s.stats.Live++
	s.stats.LiveBytes += uint64(size)
	return p
}

var errPoolFull = errors.New("every slot is live")

// place returns where a block of size bytes aligned to al goes in
// [lo, hi), and the pages [from, to) it needs unfenced.
func (s *sampler) place(lo, hi, size, al uintptr) (addr, from, to uintptr) {
	if s.under {
		addr = lo
		to, _ = align.Up(lo+size, s.ps) // ok: lo+size <= hi, a page multiple
		return addr, lo, to
	}
	addr = (hi - size) &^ (al - 1)
	return addr, align.Down(addr, s.ps), hi
}

// allocSlot takes the next slot of the pool: one never used, else the
// one quarantined longest.
func (s *sampler) allocSlot(size, al uintptr) (*sampled, unsafe.Pointer, error) {
	var i int
	switch {
	case s.unused < s.nslots:
		i = s.unused
		if i%segSlots == 0 {
			if err := s.mapSegment(i); err != nil {
				return nil, nil, err
			}
		}
	case s.freed.n > 0:
		i = s.freed.first()
	default:
		return nil, nil, errPoolFull
	}
	seg := s.segs[i/segSlots]
	lo := seg.addr + uintptr(i%segSlots)*s.stride
	addr, from, to := s.place(lo, lo+s.data, size, al)
	s.stats.Syscalls++
	if err := seg.r.Unprotect(int(from-seg.addr), int(to-from)); err != nil {
		return nil, nil, err
	}
	if i == s.unused {
		s.unused++
	} else {
		s.freed.pop()
		s.stats.Quarantined--
	}
	b := s.slots[i] // a slot's record is reused, so sampling makes no garbage of its own
	if b == nil {
		b = new(sampled)
		s.slots[i] = b
	}
	*b = sampled{addr: addr, size: size, lo: lo, hi: lo + s.data, pages: [2]uintptr{from, to}, slot: i}
	return b, add(seg.base, addr-seg.addr), nil
}

// mapSegment maps the segment whose first slot is first, every page
// fenced.
func (s *sampler) mapSegment(first int) error {
	n := min(segSlots, s.nslots-first)
	size := uintptr(n)*s.stride - s.ps // the last slot's fence is the region's high guard
	r, err := guard.Map(int(size), &guard.Options{Name: s.regionName(), Fence: sampleFence, Align: 1 << s.shift})
	s.stats.Syscalls++
	if err != nil {
		return err
	}
	s.stats.Syscalls++
	if err := r.ProtectFor(0, int(size), "sampled slot, unused"); err != nil {
		_ = r.Close()
		return err
	}
	seg := &segment{r: r, base: r.Pointer(), addr: r.Addr(), first: first}
	if s.slots == nil {
		s.slots = make([]*sampled, s.nslots)
	}
	s.segs = append(s.segs, seg)
	s.bySeg[seg.addr>>s.shift] = seg
	return nil
}

// sampleFence is the fence the pool asks guard for; tests set it to
// FenceMprotect to exercise the budget.
var sampleFence = guard.FenceAuto

// allocSolo gives a block larger than a slot a guarded mapping of its
// own.
func (s *sampler) allocSolo(size, al uintptr) (*sampled, unsafe.Pointer, error) {
	s.stats.Syscalls++
	r, err := guard.Map(int(size), &guard.Options{Name: s.regionName(), Fence: sampleFence})
	if err != nil {
		return nil, nil, err
	}
	lo := r.Addr()
	hi := lo + uintptr(r.Size())
	addr, from, to := s.place(lo, hi, size, al)
	b := &sampled{addr: addr, size: size, lo: lo, hi: hi, pages: [2]uintptr{from, to}, slot: -1, r: r}
	if from > lo || to < hi {
		// Fence the mapping's pages the block does not reach, so a wild
		// access in them is caught too.
		s.stats.Syscalls++
		if err := s.fenceUnused(b); err != nil {
			_ = r.Close()
			return nil, nil, err
		}
	}
	s.solo[addr] = b
	return b, add(r.Pointer(), addr-lo), nil
}

func (s *sampler) fenceUnused(b *sampled) error {
	if b.pages[0] > b.lo {
		if err := b.r.ProtectFor(0, int(b.pages[0]-b.lo), "sampled block's unused pages"); err != nil {
			return err
		}
	}
	if b.pages[1] < b.hi {
		return b.r.ProtectFor(int(b.pages[1]-b.lo), int(b.hi-b.pages[1]), "sampled block's unused pages")
	}
	return nil
}

// region returns the guard region b lives in and b's pages' offset in it.
func (s *sampler) region(b *sampled) (*guard.Region, int) {
	if b.r != nil {
		return b.r, int(b.pages[0] - b.lo)
	}
	seg := s.segs[b.slot/segSlots]
	return seg.r, int(b.pages[0] - seg.addr)
}

// segmentOf returns the segment whose usable pages hold addr, or nil.
func (s *sampler) segmentOf(addr uintptr) *segment {
	if len(s.segs) == 0 {
		return nil
	}
	seg := s.bySeg[addr>>s.shift]
	if seg == nil || addr < seg.addr || addr-seg.addr >= uintptr(seg.r.Size()) {
		return nil
	}
	return seg
}

// find returns the sampled block, live or quarantined, whose pages hold
// addr, or nil. The arena's goroutine may call it without mu, being the
// only writer; any other goroutine must hold mu.
func (s *sampler) find(addr uintptr) *sampled {
	if seg := s.segmentOf(addr); seg != nil {
		if b := s.slots[seg.first+int((addr-seg.addr)/s.stride)]; b != nil && addr >= b.lo && addr < b.hi {
			return b
		}
		return nil
	}
	if len(s.solo) == 0 {
		return nil
	}
	if b := s.solo[addr]; b != nil {
		return b
	}
	for _, b := range s.solo {
		if addr >= b.lo && addr < b.hi {
			return b
		}
	}
	return nil
}

// owns reports whether p was handed out by the sampler and is live. For
// the arena's goroutine only, like find.
func (s *sampler) owns(p unsafe.Pointer) bool {
	b := s.find(uintptr(p))
	return b != nil && b.addr == uintptr(p) && b.state == blockLive
}

// usable returns the size of the live sampled block at p. For the
// arena's goroutine only, like find.
func (s *sampler) usable(p unsafe.Pointer) (uintptr, error) {
	b, err := s.live(uintptr(p))
	if err != nil {
		return 0, err
	}
	return b.size, nil
}

// live returns the live sampled block starting at addr, or the error
// Free gives for addr. For the arena's goroutine only, like find.
func (s *sampler) live(addr uintptr) (*sampled, error) {
	b := s.find(addr)
	switch {
	case b == nil:
		return nil, fmt.Errorf("%w: %#x", ErrNotOwned, addr)
	case b.addr != addr:
		return nil, fmt.Errorf("%w: %#x is not the start of the sampled %d-byte block at %#x in %q", ErrInvalidFree, addr, b.size, b.addr, s.name)
	case b.state != blockLive:
		return nil, fmt.Errorf("%w: sampled %d-byte block at %#x in %q, freed at %s", ErrDoubleFree, b.size, addr, s.name, firstSite(b.freePC[:]))
	}
	return b, nil
}

// free fences the live block at p, or returns the error live gives. A
// block whose canary bytes were overwritten is freed all the same and
// reported as an overflow.
func (s *sampler) free(p unsafe.Pointer) error {
	addr := uintptr(p)
	b, err := s.live(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var report error
	if !s.under {
		if n := firstNot(add(p, b.size), b.hi-(b.addr+b.size), canary); n >= 0 {
			r := s.report(b, KindOverflow, b.addr+b.size+uintptr(n))
			r.AtFree = true
			report = r
		}
	}
	runtime.Callers(3, b.freePC[:])
	s.retire(b, blockFreed, "use after free")
	return report
}

// retire fences a live block and moves it to state. A block that cannot
// be fenced (the budget is spent) has its pages released instead, and
// its slot is not used again.
func (s *sampler) retire(b *sampled, state blockState, why string) {
	b.state = state
	s.stats.Live--
	s.stats.LiveBytes -= uint64(b.size)
	r, off := s.region(b)
	s.stats.Syscalls++
	err := r.ProtectFor(off, int(b.pages[1]-b.pages[0]), why)
	if err != nil {
		_ = r.Release(off, int(b.pages[1]-b.pages[0]))
		s.stats.Stopped = "sampling stopped: " + err.Error()
		return
	}
	s.stats.Quarantined++
	if b.r == nil {
		s.freed.push(b.slot)
		return
	}
	s.soloQ = append(s.soloQ, b)
	if len(s.soloQ) > soloKept {
		old := s.soloQ[0]
		s.soloQ = s.soloQ[1:]
		delete(s.solo, old.addr)
		s.stats.Quarantined--
		s.stats.Syscalls++
		_ = old.r.Close()
	}
}

// reset retires every live block: the arena was Reset.
func (s *sampler) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.liveBlocks() {
		b.freePC = [siteDepth]uintptr{}
		runtime.Callers(3, b.freePC[:])
		s.retire(b, blockReset, "use after reset")
	}
}

// liveBlocks lists the live blocks. s.mu must be held.
func (s *sampler) liveBlocks() []*sampled {
	var live []*sampled
	for _, b := range s.slots {
		if b != nil && b.state == blockLive {
			live = append(live, b)
		}
	}
	for _, b := range s.solo {
		if b.state == blockLive {
			live = append(live, b)
		}
	}
	return live
}

// setFrozen makes the live blocks read-only, or writable again.
func (s *sampler) setFrozen(ro bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, b := range s.liveBlocks() {
		r, off := s.region(b)
		n := int(b.pages[1] - b.pages[0])
		var err error
		if ro {
			err = r.Freeze(off, n)
		} else {
			err = r.Thaw(off, n)
		}
		s.stats.Syscalls++
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close retires every mapping into guard's quarantine, naming site as
// the Close; the blocks' records stay for Explain.
func (s *sampler) close(site *[4]uintptr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	var pcs [siteDepth]uintptr
	runtime.Callers(3, pcs[:])
	for _, b := range s.liveBlocks() {
		b.state, b.freePC = blockClosed, pcs
	}
	for _, b := range s.solo {
		keep(retireRegion(b.r, "use after close", site))
	}
	for _, seg := range s.segs {
		keep(retireRegion(seg.r, "use after close", site))
	}
	s.stats.Live, s.stats.LiveBytes, s.stats.Quarantined = 0, 0, 0
	retireSampler(s)
	return first
}

// snapshot returns the statistics.
func (s *sampler) snapshot() *SampleStats {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	if !s.closed {
		for _, seg := range s.segs {
			st.Mappings += seg.r.Mappings()
		}
		for _, b := range s.solo {
			st.Mappings += b.r.Mappings()
		}
	}
	return &st
}

// unfreed lists the live blocks' sizes and allocation sites.
func (s *sampler) unfreed() []UnfreedBlock {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []UnfreedBlock
	for _, b := range s.liveBlocks() {
		out = append(out, UnfreedBlock{Addr: b.addr, Size: b.size, Allocated: frames(b.allocPC[:])})
	}
	return out
}

// The registry of samplers, live and recently closed, for Explain.
var samplers struct {
	mu     sync.Mutex
	live   map[*sampler]struct{}
	closed [samplersKept]*sampler
	next   int
}

func registerSampler(s *sampler) {
	samplers.mu.Lock()
	defer samplers.mu.Unlock()
	if samplers.live == nil {
		samplers.live = make(map[*sampler]struct{})
	}
	samplers.live[s] = struct{}{}
}

func retireSampler(s *sampler) {
	samplers.mu.Lock()
	defer samplers.mu.Unlock()
	delete(samplers.live, s)
	samplers.closed[samplers.next] = s
	samplers.next = (samplers.next + 1) % samplersKept
}

// allSamplers returns the live samplers and then the closed ones, newest
// first.
func allSamplers() []*sampler {
	samplers.mu.Lock()
	defer samplers.mu.Unlock()
	out := make([]*sampler, 0, len(samplers.live)+samplersKept)
	for s := range samplers.live {
		out = append(out, s)
	}
	for i := 1; i <= samplersKept; i++ {
		if s := samplers.closed[(samplers.next-i+samplersKept)%samplersKept]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// isClosed reports whether the arena the sampler served was closed.
func (s *sampler) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// regionName is the name of the pool's regions, as guard reports them.
func (s *sampler) regionName() string { return s.name + " (sampled)" }
