package hardened

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/guard"
)

// The pool is made of segments, each a guard region of segSlots slots of
// slotPages data pages, each slot followed by one fenced page, so every
// slot has a fence on both sides. Segments rather than one region: guard
// rebuilds a region's list of page states on every change, in time
// linear in its length, so one region with a thousand slots in different
// states made each fence cost 90 us (BenchmarkSampled); a segment keeps
// the list short. Segments are aligned to the power of two above their
// size, so a pointer's segment is found with a shift and a map lookup.
// With guard markers (MADV_GUARD_INSTALL) a segment is one kernel mapping
// whatever is fenced; with mprotect each slot ever used may cost two
// more, charged to guard's budget, and the pool stops, rather than an
// allocation failing in a way its arena cannot fall back from, when the
// budget is spent. Blocks larger than a slot get a guarded mapping each,
// kept fenced for soloKept frees.

const (
	slotPages    = 4       // data pages per slot: blocks up to 16 KiB with 4 KiB pages share the pool
	segSlots     = 16      // slots per segment
	defaultSlots = 1024    // slots, live and quarantined, by default
	maxSlots     = 1 << 20 // 20 GiB of address space with 4 KiB pages
	soloKept     = 64      // freed blocks with a mapping of their own kept fenced
	siteDepth    = 16      // program counters recorded per allocation or free
	canary       = 0xCB    // fills the bytes between a right-aligned block's end and its fence
	poolsKept    = 16      // closed pools whose blocks Explain still names
)

// maxBlock bounds one block well inside an int, so sizes convert to
// guard's int arguments without wrapping; guard refuses past 128 TiB.
const maxBlock = ^uintptr(0) >> 2

// blockState is what became of a block.
type blockState uint8

const (
	blockLive blockState = iota
	blockFreed
	blockReset
	blockClosed
)

// A block is one allocation of the pool. lo and hi bound the pages it
// may occupy (its slot, or its own mapping's usable pages); a fence lies
// just outside both.
type block struct {
	addr, size uintptr
	lo, hi     uintptr
	pages      [2]uintptr // [from, to) unfenced for it while live; page aligned
	state      blockState
	slot       int           // index in the pool, -1 with a mapping of its own
	r          *guard.Region // its own mapping, or nil
	allocPC    [siteDepth]uintptr
	freePC     [siteDepth]uintptr
}

// A Pool places each block flush against a fenced page, records the call
// stack that allocated it, and fences it again when it is freed (or when
// the pool is Reset or closed), recording that stack too. The freed
// block then waits, fenced, in a first-in first-out quarantine until
// every other slot has been used. A fault at or next to a block is
// explained by [Explain] or [Catch]; an overflow into the bytes that
// alignment leaves between a block's end and its fence is found by Free.
//
// Used on its own, a Pool is an Electric-Fence allocator: every block
// costs a system call or two and at least two pages of address space.
// Arenas use one for the allocations they sample (arena.Options.Sample).
// Make a Pool with [New]; nothing is mapped until the first Alloc.
//
// A Pool must not be used by two goroutines at once, except that
// [Explain], [Catch] and [Pool.Stats] may read it from any goroutine. A
// Pool must not be copied after first use.
type Pool struct {
	_ noCopy

	mu     sync.Mutex // guards every field; the owner's reads of blocks need no lock, being the only writer
	name   string
	under  bool // left-aligned: catch underflows
	ps     uintptr
	nslots int
	segs   []*segment           // by index; segment k holds slots [k*segSlots, (k+1)*segSlots)
	bySeg  map[uintptr]*segment // by usable start >> segShift
	shift  uint                 // log2 of the segments' alignment
	stride uintptr              // slot data plus its fence page
	data   uintptr              // slot data bytes
	slots  []*block             // by slot; nil if never used
	unused int                  // slots [unused, nslots) were never used
	freed  ring                 // quarantined slots, oldest first
	solo   map[uintptr]*block   // blocks with a mapping of their own, live and quarantined, by address
	soloQ  []*block             // the quarantined ones, oldest first
	stats  Stats
	closed bool
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

// NewPool returns an empty pool; nothing is mapped until the first Alloc. A
// nil *Options means every default. It returns an error for options out
// of range, matching unix.EINVAL for a negative one and unix.ENOMEM for
// too many slots.
func NewPool(opts *Options) (*Pool, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	ps := uintptr(align.PageSize())
	p := &Pool{
		name: o.Name, under: o.Underflow,
		ps: ps, nslots: o.Slots, stride: (slotPages + 1) * ps, data: slotPages * ps,
		solo: make(map[uintptr]*block), bySeg: make(map[uintptr]*segment),
	}
	p.freed.buf = make([]int, o.Slots)
	p.shift = uint(bits.Len(uint(segSlots*p.stride - 1)))
	p.stats.Every, p.stats.Slots = o.Every, o.Slots
	registerPool(p)
	return p, nil
}

// Alloc places size bytes aligned to al flush against a fence (against
// the fence below with Options.Underflow) and returns them, zeroed. It
// returns an error, changing nothing but Stats.Skipped, when it cannot:
// an alignment that is not a power of two (matching align.ErrAlignment
// and unix.EINVAL) or above the page size (align.ErrAlignment and
// unix.ENOMEM), size 0, every slot live, the mapping budget spent (the
// pool then stops for good: Stats.Stopped says why), or a closed pool.
// An arena falls back to its own memory on any error.
func (p *Pool) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	switch {
	case !align.IsPowerOfTwo(al) || al > p.ps:
		err = align.Refuse(al, p.ps)
	case size == 0 || size > maxBlock:
		err = errSize
	case p.closed:
		err = errClosed
	case p.stats.Stopped != "":
		err = errStopped
	}
	if err != nil {
		p.stats.Skipped++
		return nil, err
	}
	var b *block
	var ptr unsafe.Pointer
	if size <= p.data {
		b, ptr, err = p.allocSlot(size, al)
	} else {
		b, ptr, err = p.allocSolo(size, al)
	}
	if err != nil {
		if err != errPoolFull {
			// Out of mappings (guard's budget, or the kernel's): stop
			// for good rather than fail allocations one by one.
			p.stats.Stopped = "sampling stopped: " + err.Error()
		}
		p.stats.Skipped++
		if err == errPoolFull {
			return nil, errPoolFull
		}
		return nil, fmt.Errorf("hardened: %q: %w", p.name, err)
	}
	runtime.Callers(2, b.allocPC[:])
	profileAdd(b)
	if !p.under {
		// Bytes between the block's end and the fence, when alignment
		// leaves some, get a pattern that Free checks.
		fill(add(ptr, size), b.hi-(b.addr+size), canary)
	}
	p.stats.Sampled++
	p.stats.Live++
	p.stats.LiveBytes += uint64(size)
	return ptr, nil
}

// place returns where a block of size bytes aligned to al goes in
// [lo, hi), and the pages [from, to) it needs unfenced.
func (p *Pool) place(lo, hi, size, al uintptr) (addr, from, to uintptr) {
	if p.under {
		addr = lo
		to, _ = align.Up(lo+size, p.ps) // ok: lo+size <= hi, a page multiple
		return addr, lo, to
	}
	addr = (hi - size) &^ (al - 1)
	return addr, align.Down(addr, p.ps), hi
}

// allocSlot takes the next slot of the pool: one never used, else the
// one quarantined longest. p.mu must be held.
func (p *Pool) allocSlot(size, al uintptr) (*block, unsafe.Pointer, error) {
	var i int
	switch {
	case p.unused < p.nslots:
		i = p.unused
		if i%segSlots == 0 {
			if err := p.mapSegment(i); err != nil {
				return nil, nil, err
			}
		}
	case p.freed.n > 0:
		i = p.freed.first()
	default:
		return nil, nil, errPoolFull
	}
	seg := p.segs[i/segSlots]
	lo := seg.addr + uintptr(i%segSlots)*p.stride
	addr, from, to := p.place(lo, lo+p.data, size, al)
	p.stats.Syscalls++
	if err := seg.r.Unprotect(int(from-seg.addr), int(to-from)); err != nil {
		return nil, nil, err
	}
	if i == p.unused {
		p.unused++
	} else {
		p.freed.pop()
		p.stats.Quarantined--
	}
	b := p.slots[i] // a slot's record is reused, so the pool makes no garbage of its own
	if b == nil {
		b = new(block)
		p.slots[i] = b
	}
	*b = block{addr: addr, size: size, lo: lo, hi: lo + p.data, pages: [2]uintptr{from, to}, slot: i}
	return b, add(seg.base, addr-seg.addr), nil
}

// mapSegment maps the segment whose first slot is first, every page
// fenced. p.mu must be held.
func (p *Pool) mapSegment(first int) error {
	n := min(segSlots, p.nslots-first)
	size := uintptr(n)*p.stride - p.ps // the last slot's fence is the region's high guard
	r, err := guard.Map(int(size), &guard.Options{Name: p.regionName(), Fence: fence, Align: 1 << p.shift})
	p.stats.Syscalls++
	if err != nil {
		return err
	}
	p.stats.Syscalls++
	if err := r.ProtectFor(0, int(size), "sampled slot, unused"); err != nil {
		_ = r.Close()
		return err
	}
	seg := &segment{r: r, base: r.Pointer(), addr: r.Addr(), first: first}
	if p.slots == nil {
		p.slots = make([]*block, p.nslots)
	}
	p.segs = append(p.segs, seg)
	p.bySeg[seg.addr>>p.shift] = seg
	return nil
}

// fence is the fence the pool asks guard for; tests set it to
// FenceMprotect to exercise the budget.
var fence = guard.FenceAuto

// allocSolo gives a block larger than a slot a guarded mapping of its
// own. p.mu must be held.
func (p *Pool) allocSolo(size, al uintptr) (*block, unsafe.Pointer, error) {
	p.stats.Syscalls++
	r, err := guard.Map(int(size), &guard.Options{Name: p.regionName(), Fence: fence})
	if err != nil {
		return nil, nil, err
	}
	lo := r.Addr()
	hi := lo + uintptr(r.Size())
	addr, from, to := p.place(lo, hi, size, al)
	b := &block{addr: addr, size: size, lo: lo, hi: hi, pages: [2]uintptr{from, to}, slot: -1, r: r}
	if from > lo || to < hi {
		// Fence the mapping's pages the block does not reach, so a wild
		// access in them is caught too.
		p.stats.Syscalls++
		if err := fenceUnused(b); err != nil {
			_ = r.Close()
			return nil, nil, err
		}
	}
	p.solo[addr] = b
	return b, add(r.Pointer(), addr-lo), nil
}

func fenceUnused(b *block) error {
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
func (p *Pool) region(b *block) (*guard.Region, int) {
	if b.r != nil {
		return b.r, int(b.pages[0] - b.lo)
	}
	seg := p.segs[b.slot/segSlots]
	return seg.r, int(b.pages[0] - seg.addr)
}

// segmentOf returns the segment whose usable pages hold addr, or nil.
func (p *Pool) segmentOf(addr uintptr) *segment {
	if len(p.segs) == 0 {
		return nil
	}
	seg := p.bySeg[addr>>p.shift]
	if seg == nil || addr < seg.addr || addr-seg.addr >= uintptr(seg.r.Size()) {
		return nil
	}
	return seg
}

// find returns the block, live or quarantined, whose pages hold addr, or
// nil. The owner may call it without mu, being the only writer; any other
// goroutine must hold mu.
func (p *Pool) find(addr uintptr) *block {
	if seg := p.segmentOf(addr); seg != nil {
		if b := p.slots[seg.first+int((addr-seg.addr)/p.stride)]; b != nil && addr >= b.lo && addr < b.hi {
			return b
		}
		return nil
	}
	if len(p.solo) == 0 {
		return nil
	}
	if b := p.solo[addr]; b != nil {
		return b
	}
	for _, b := range p.solo {
		if addr >= b.lo && addr < b.hi {
			return b
		}
	}
	return nil
}

// Holds reports whether addr lies in the pages of one of the pool's
// blocks, live or quarantined: whether Free should be asked about it.
// O(1) for blocks of a slot; O(blocks with a mapping of their own)
// otherwise.
func (p *Pool) Holds(addr uintptr) bool { return p.find(addr) != nil }

// Owns reports whether ptr is the start of a live block of the pool.
func (p *Pool) Owns(ptr unsafe.Pointer) bool {
	b := p.find(uintptr(ptr))
	return b != nil && b.addr == uintptr(ptr) && b.state == blockLive
}

// Size returns the size of the live block at ptr, as requested, or the
// status and error Free would give for ptr.
func (p *Pool) Size(ptr unsafe.Pointer) (uintptr, Status, error) {
	b, st, err := p.live(uintptr(ptr))
	if err != nil {
		return 0, st, err
	}
	return b.size, Freed, nil
}

// live returns the live block starting at addr, or the status and error
// Free gives for addr. For the owner only, like find.
func (p *Pool) live(addr uintptr) (*block, Status, error) {
	b := p.find(addr)
	switch {
	case b == nil:
		return nil, NotOwned, fmt.Errorf("%#x", addr)
	case b.addr != addr:
		return nil, NotStart, fmt.Errorf("%#x is not the start of the sampled %d-byte block at %#x in %q", addr, b.size, b.addr, p.name)
	case b.state != blockLive:
		return nil, DoubleFree, fmt.Errorf("sampled %d-byte block at %#x in %q, freed at %s", b.size, addr, p.name, firstSite(b.freePC[:]))
	}
	return b, Freed, nil
}

// Free fences the live block at ptr again and records the call stack,
// and returns Freed. A block whose canary bytes were overwritten is freed
// all the same, and the error is then a *[Report] of the overflow. Any
// other pointer changes nothing and gets NotOwned, NotStart or
// DoubleFree, with an error that names the address and, for the last
// two, the block (and where it was freed).
func (p *Pool) Free(ptr unsafe.Pointer) (Status, error) {
	addr := uintptr(ptr)
	b, st, err := p.live(addr)
	if err != nil {
		return st, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var report error
	if !p.under {
		if n := firstNot(add(ptr, b.size), b.hi-(b.addr+b.size), canary); n >= 0 {
			r := p.report(b, KindOverflow, b.addr+b.size+uintptr(n))
			r.AtFree = true
			report = r
		}
	}
	runtime.Callers(2, b.freePC[:])
	p.retire(b, blockFreed, KindUseAfterFree.String())
	return Freed, report
}

// retire fences a live block and moves it to state. A block that cannot
// be fenced (the budget is spent) has its pages released instead, and
// its slot is not used again. p.mu must be held.
func (p *Pool) retire(b *block, state blockState, why string) {
	b.state = state
	profileRemove(b)
	p.stats.Live--
	p.stats.LiveBytes -= uint64(b.size)
	r, off := p.region(b)
	p.stats.Syscalls++
	err := r.ProtectFor(off, int(b.pages[1]-b.pages[0]), why)
	if err != nil {
		_ = r.Release(off, int(b.pages[1]-b.pages[0]))
		p.stats.Stopped = "sampling stopped: " + err.Error()
		return
	}
	p.stats.Quarantined++
	if b.r == nil {
		p.freed.push(b.slot)
		return
	}
	p.soloQ = append(p.soloQ, b)
	if len(p.soloQ) > soloKept {
		old := p.soloQ[0]
		p.soloQ = p.soloQ[1:]
		delete(p.solo, old.addr)
		p.stats.Quarantined--
		p.stats.Syscalls++
		_ = old.r.Close()
	}
}

// Reset fences every live block at once, as freed by a Reset of the
// arena the pool serves: a later access is named a use after reset,
// with the call stack of Reset.
func (p *Pool) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.liveBlocks() {
		b.freePC = [siteDepth]uintptr{}
		runtime.Callers(2, b.freePC[:])
		p.retire(b, blockReset, KindUseAfterReset.String())
	}
}

// liveBlocks lists the live blocks. p.mu must be held.
func (p *Pool) liveBlocks() []*block {
	var live []*block
	for _, b := range p.slots {
		if b != nil && b.state == blockLive {
			live = append(live, b)
		}
	}
	for _, b := range p.solo {
		if b.state == blockLive {
			live = append(live, b)
		}
	}
	return live
}

// Freeze makes the live blocks read-only; it returns the first
// system-call error, leaving the rest frozen (Thaw undoes it).
func (p *Pool) Freeze() error { return p.setFrozen(true) }

// Thaw makes the live blocks writable again; it returns the first
// system-call error.
func (p *Pool) Thaw() error { return p.setFrozen(false) }

func (p *Pool) setFrozen(ro bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for _, b := range p.liveBlocks() {
		r, off := p.region(b)
		n := int(b.pages[1] - b.pages[0])
		var err error
		if ro {
			err = r.Freeze(off, n)
		} else {
			err = r.Thaw(off, n)
		}
		p.stats.Syscalls++
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close retires every mapping into guard's quarantine, so that a stale
// pointer faults and is named a use after close with the call stack of
// Close; the blocks' records stay for Explain, which names the blocks of
// the last 16 pools closed. Afterwards Alloc fails and Close returns nil
// again. It returns the first system-call error, the pool being closed
// all the same.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	var pcs [siteDepth]uintptr
	runtime.Callers(2, pcs[:])
	site := func() string { return firstSite(pcs[:]) }
	for _, b := range p.liveBlocks() {
		b.state, b.freePC = blockClosed, pcs
		profileRemove(b)
	}
	why := KindUseAfterClose.String()
	for _, b := range p.solo {
		keep(b.r.Retire(why, site))
	}
	for _, seg := range p.segs {
		keep(seg.r.Retire(why, site))
	}
	p.stats.Live, p.stats.LiveBytes, p.stats.Quarantined = 0, 0, 0
	retirePool(p)
	return first
}

// Stats returns the pool's statistics. Safe for concurrent use.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	if !p.closed {
		for _, seg := range p.segs {
			st.Mappings += seg.r.Mappings()
		}
		for _, b := range p.solo {
			st.Mappings += b.r.Mappings()
		}
	}
	return st
}

// Unfreed lists the live blocks, with their sizes and allocation sites.
// O(slots used).
func (p *Pool) Unfreed() []Block {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Block
	for _, b := range p.liveBlocks() {
		out = append(out, Block{Addr: b.addr, Size: b.size, Allocated: frames(b.allocPC[:])})
	}
	return out
}

// The registry of pools, live and recently closed, for Explain.
var pools struct {
	mu     sync.Mutex
	live   map[*Pool]struct{}
	closed [poolsKept]*Pool
	next   int
}

func registerPool(p *Pool) {
	pools.mu.Lock()
	defer pools.mu.Unlock()
	if pools.live == nil {
		pools.live = make(map[*Pool]struct{})
	}
	pools.live[p] = struct{}{}
}

func retirePool(p *Pool) {
	pools.mu.Lock()
	defer pools.mu.Unlock()
	delete(pools.live, p)
	pools.closed[pools.next] = p
	pools.next = (pools.next + 1) % poolsKept
}

// allPools returns the live pools and then the closed ones, newest
// first.
func allPools() []*Pool {
	pools.mu.Lock()
	defer pools.mu.Unlock()
	out := make([]*Pool, 0, len(pools.live)+poolsKept)
	for p := range pools.live {
		out = append(out, p)
	}
	for i := 1; i <= poolsKept; i++ {
		if p := pools.closed[(pools.next-i+poolsKept)%poolsKept]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// isClosed reports whether the pool was closed.
func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// regionName is the name of the pool's regions, as guard reports them.
func (p *Pool) regionName() string { return p.name + " (sampled)" }
