package arena

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A SyncFreeList is sharded: each shard is a FreeList's state (an
// flState) of its own, with its own spans, chunks and counters, behind a
// mutex of its own. A goroutine uses the shard its P is routed to
// (procPin, see pin.go; SyncFreeList.route): every P to shard 0 at
// first, and, from the first time two goroutines meet on a shard's
// mutex, P i to shard i modulo the shards in use, doubled at each such
// collision (collided, grow). Two goroutines running at once on two
// cores then use two shards, and the mutex each takes is one nobody else
// holds: an uncontended TryLock, whose cache line stays in the core's
// cache.
//
// Until the first collision the shards are solo (flState.solo): their
// blocks are freed under their mutex only, their spans have no live
// bitmap, and Alloc and Free make no atomic operation but the mutex's.
// grow ends the solo time of every shard, under its mutex, before it
// routes any P elsewhere: share gives each span a live bitmap copied
// from its plain one, then clears flShard.solo, which a goroutine
// without the mutex reads before it touches a live bitmap.
//
// A block belongs to the shard whose chunk it is in, for its whole
// life. A Free that finds that shard's mutex free, from whatever P,
// frees it at once under it. A Free that finds it held claims the
// block without any lock and leaves it to its home shard, which collects
// it later (mimalloc's thread-free list does the same):
//
//   - Every span of a shard has a live bitmap (spanShared.live) beside
//     its plain one: bit i is set while block i is allocated and nobody
//     has freed it. The shard sets it when it hands the block out; a
//     Free clears it with one atomic AND and looks at the bit it had.
//     The one Free that saw it set owns the free; any other, on any
//     goroutine, saw it clear and returns ErrDoubleFree. This is how a
//     double free across goroutines is caught, and caught exactly once.
//   - A remote Free then pushes the span (once, whatever the number of
//     its blocks freed meanwhile) on its home shard's remote stack, a
//     lock-free list of spans that one compare-and-swap grows.
//   - A Free at home claims the block under the shard's mutex and frees
//     it there; a claim made without the mutex is only ever followed by
//     a push, never by a free under it, since the shard may collect the
//     claimed block meanwhile.
//   - The home shard takes the whole stack with one swap (collect),
//     when it next allocates, and in Stats and Trim: for each span, the
//     blocks set in its plain bitmap and clear in its live one are the
//     freed ones, which it frees as its own Free would. Until then they
//     count as in use, and are not handed out again.
//
// A shard about to cut a span may instead hand out a free block of
// another shard (SyncFreeList.steal), under that shard's mutex: the
// block stays that shard's, as its chunk says, and nothing above changes.
//
// Span records of a shard are never reused (a FreeList reuses a few per
// class): a remote Free may read a span's class and base after its last
// block went and its pages were released, and must then find every
// block free, not another class's layout.

// spanShared is the part of a shard's span that any goroutine may touch,
// padded to a cache line (a 64-byte Go size class, 64-byte aligned), as
// its live bitmap is: two shards' spans made one after the other would
// otherwise share lines, and every Alloc and Free of each core would
// pull them from the other.
type spanShared struct {
	live   []atomic.Uint64 // bit i: block i allocated and not yet freed; tail bits past the last block set
	next   atomic.Pointer[span]
	queued atomic.Bool // on its shard's remote stack
	_      [28]byte
}

// newSpanShared returns s's shared part, its live bitmap matching s's
// bitmap (no block allocated, the tail bits set), at least a cache line
// of it.
func newSpanShared(s *span) *spanShared {
	x := &spanShared{live: make([]atomic.Uint64, len(s.bits), max(len(s.bits), 8))}
	for w := range s.bits {
		x.live[w].Store(s.bits[w])
	}
	return x
}

// An flShard is one shard of a SyncFreeList.
type flShard struct {
	mu sync.Mutex // guards st; taken by the Ps routed here, by Frees of its blocks from any P (TryLock), and by Stats, Trim, Close
	st *flState
	// solo mirrors st.solo for goroutines that do not hold mu: once
	// false it stays false, so a false read needs no lock; a true one
	// is checked again under mu.
	solo atomic.Bool
	_    [44]byte
	// remote is the stack of this shard's spans with blocks other shards
	// freed, linked through spanShared.next; pushed by any goroutine,
	// emptied by the shard under mu. On a line of its own, as other
	// cores write it.
	remote atomic.Pointer[span]
	_      [56]byte
}

// push puts sp, which has a block another shard just claimed, on the
// shard's remote stack unless it is there already. Lock-free: a CAS, and
// a retry only when another push came in between. The swap in collect
// takes the whole list at once, so a span is never popped alone and the
// ABA problem of a lock-free stack does not arise.
func (h *flShard) push(sp *span) {
	x := sp.sh
	if x.queued.Load() || !x.queued.CompareAndSwap(false, true) {
		return // queued already: its collection will see this block too
	}
	for {
		old := h.remote.Load()
		x.next.Store(old)
		if h.remote.CompareAndSwap(old, sp) {
			return
		}
	}
}

// collect frees the blocks other shards claimed in this shard's spans.
// h.mu must be held. O(spans pushed x their bitmap words).
func (h *flShard) collect() {
	sp := h.remote.Swap(nil)
	for sp != nil {
		x := sp.sh
		next := x.next.Load()
		// Unqueued before its bits are read: a block claimed after this
		// store pushes the span again, one claimed before is read below.
		x.queued.Store(false)
		if !h.st.closed {
			h.st.collectSpan(sp)
		}
		sp = next
	}
}

// collectSpan frees the blocks of sp that are allocated in its plain
// bitmap and were freed in its live one.
func (st *flState) collectSpan(sp *span) {
	size := classSize[sp.class]
	for w := range sp.bits {
		pend := sp.bits[w] &^ sp.sh.live[w].Load()
		for pend != 0 {
			i := uint32(w*64 + bits.TrailingZeros64(pend))
			st.freeSmall(sp, i, add(sp.base, uintptr(i)*size))
			st.remoteFrees++
			pend &= pend - 1
		}
	}
}

// chunkIndex maps an address's 4 MiB granule to the shard chunk there,
// for every goroutine's Free: the page map of freelist_pagemap.go with
// atomic entries. Chunks are filed under the SyncFreeList's mapMu and
// stay filed until Close (a FreeList never unmaps a chunk before).
type chunkIndex struct {
	top atomic.Pointer[[1 << pmTopBits]atomic.Pointer[[pmLeafLen]atomic.Pointer[flChunk]]]
}

// get returns the shard chunk holding addr, or nil. Lock-free, O(1).
func (m *chunkIndex) get(addr uintptr) *flChunk {
	g := addr >> chunkShift
	top := m.top.Load()
	if top == nil || g>>pmLeafBits >= 1<<pmTopBits {
		return nil
	}
	if leaf := top[g>>pmLeafBits].Load(); leaf != nil {
		return leaf[g&(pmLeafLen-1)].Load()
	}
	return nil
}

// file records ch. The caller serialises files; ch is below 2^47 (its
// flState filed it in its own page map first).
func (m *chunkIndex) file(ch *flChunk) {
	g := ch.addr >> chunkShift
	top := m.top.Load()
	if top == nil {
		top = new([1 << pmTopBits]atomic.Pointer[[pmLeafLen]atomic.Pointer[flChunk]])
		m.top.Store(top)
	}
	leaf := top[g>>pmLeafBits].Load()
	if leaf == nil {
		leaf = new([pmLeafLen]atomic.Pointer[flChunk])
		top[g>>pmLeafBits].Store(leaf)
	}
	leaf[g&(pmLeafLen-1)].Store(ch)
}

// newShardState returns the state of shard i of a SyncFreeList with the
// resolved options o, whose new chunks file calls. It is not registered:
// the SyncFreeList's one registry entry adds its shards up.
func newShardState(o Options, i int, pc uintptr, file func(*flChunk)) *flState {
	st := &flState{large: make(map[uintptr]*largeBlock), opts: o, name: o.Name, site: pc,
		plain: true, sharded: true, solo: true, owner: int32(i), onChunk: file}
	st.lc.limit, st.lc.decay = uintptr(o.LargeCache), int64(o.LargeDecay)
	st.setFlags(false, false)
	return st
}

// share ends the shard's solo time: each of its spans gets a live
// bitmap, a copy of its plain one (no block of a solo shard is claimed
// but under mu, so the two agree), and from then on other goroutines may
// claim its blocks without the mutex. h.mu must be held. O(spans).
func (h *flShard) share() {
	st := h.st
	if !st.solo {
		return
	}
	st.solo = false
	for _, ch := range st.chunks {
		for u := range ch.units {
			if sp := ch.units[u].Load(); sp != nil && sp.sh == nil {
				sp.sh = newSpanShared(sp)
			}
		}
	}
	h.solo.Store(false) // after the bitmaps: a goroutine that reads false finds them
}

// A span retired while its shard was solo has no live bitmap, and a Free
// may still hold it (found before its retirement): every block of it is
// free, as claim and isLive say for a nil sh. Otherwise they are called
// only once the shard's solo time is over, seen as h.solo false (whose
// store follows the bitmaps' in share), or under its mutex.

// claim clears the live bit of block q of sp and reports whether it was
// set: true for exactly one of any number of Frees of the block.
func (sp *span) claim(q uintptr) bool {
	x := sp.sh
	if x == nil {
		return false
	}
	bit := uint64(1) << (q % 64)
	return x.live[q/64].And(^bit)&bit != 0
}

// isLive reports whether block q of sp is allocated and not freed.
func (sp *span) isLive(q uintptr) bool {
	x := sp.sh
	return x != nil && x.live[q/64].Load()>>(q%64)&1 != 0
}

// allocated reports whether block q of sp is set in its plain bitmap: in
// a solo shard, under its mutex, whether it is allocated and not freed.
func (sp *span) allocated(q uintptr) bool {
	return sp.bits[q/64]>>(q%64)&1 != 0
}

// mine takes block q of sp for a Free under its shard's mutex: a plain
// test of the bitmap while the shard is solo, else the claim of its live
// bit. False means it was freed already.
func (st *flState) mine(sp *span, q uintptr) bool {
	if st.solo {
		return sp.allocated(q)
	}
	return sp.claim(q)
}

// shardBlock finds the shard block at p: its chunk, span and index, or
// ok false when p is in no shard chunk, or is not a block's start in a
// span there (the home shard's find then says why). Lock-free.
func (s *SyncFreeList) shardBlock(p unsafe.Pointer) (ch *flChunk, sp *span, q uintptr, ok bool) {
	addr := uintptr(p)
	ch = s.index.get(addr)
	if ch == nil {
		return nil, nil, 0, false
	}
	sp = ch.units[(addr-ch.addr)/spanUnit%unitsPer].Load() // the granule is the chunk's: addr-ch.addr < chunkBytes
	if sp == nil {
		return ch, nil, 0, false
	}
	c := sp.class
	q, r := divide(addr-uintptr(sp.base), classSize[c], classRecip[c]) // < 256 KiB: addr is in sp
	if r != 0 || q >= uintptr(classBlocks[c]) {
		return ch, nil, 0, false
	}
	return ch, sp, q, true
}

// badFree returns the error for a Free or UsableSize of p, in shard chunk
// ch, that is not a live block's start in a span, as its home shard's
// find names it; nil if, the shard having cut a span there meanwhile,
// it now is one (the caller tries again).
func (s *SyncFreeList) badFree(ch *flChunk, p unsafe.Pointer) error {
	h := &s.shards[ch.owner]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.st.closed {
		return ErrClosed
	}
	if _, _, err := h.st.find(p); err != nil {
		return err
	}
	return nil
}

// errClaimed is the error for a Free of a shard block whose live bit
// another Free cleared first.
func (s *SyncFreeList) errClaimed(sp *span, p unsafe.Pointer) error {
	return fmt.Errorf("%w: %d-byte block at %#x in %q", ErrDoubleFree, sp.blockSize(), uintptr(p), s.f.st.name)
}

// dropCaches gives back what the arena keeps for reuse: every empty
// span, its class's spare and an empty partial one alike, goes to the
// OS with the spans already waiting, and every cached large block is
// evicted.
func (st *flState) dropCaches() {
	if st.closed || st.frozen {
		return
	}
	for c := range st.classes {
		cl := &st.classes[c]
		if s := cl.spare; s != nil {
			cl.spare = nil
			st.retireSpan(s)
		}
		for i := 0; i < len(cl.partial); {
			if s := cl.partial[i]; s.used == 0 {
				st.dropPartial(s) // moves the last one to i
				st.retireSpan(s)
				continue
			}
			i++
		}
	}
	st.release()
	for st.lc.n > 0 {
		st.evictLarge(1)
	}
}
