package arena

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// enter and exit bracket the slow-path methods of a Bump in arenadebug
// builds, and panic when two goroutines are inside at once: a Bump is for
// one goroutine at a time. The fast path is not bracketed (it would cost
// an atomic operation per allocation), so the check is a sample, not a
// proof.
func (st *bumpState) enter() {
	if atomic.AddInt32(&st.inside, 1) != 1 {
		atomic.AddInt32(&st.inside, -1)
		panic(fmt.Sprintf("arena: bump arena %q used by two goroutines at once; use a Shared", st.name))
	}
}

func (st *bumpState) exit() { atomic.AddInt32(&st.inside, -1) }

// validate checks the arena's invariants and panics naming the first one
// broken. It walks every chunk: O(chunks).
func (b *Bump) validate() {
	st := b.st
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("arena: invariant broken in %q: ", st.name) + fmt.Sprintf(format, args...))
	}
	var mapped uintptr
	for _, c := range st.chunks {
		mapped += c.size
		if c.dirty > c.size {
			fail("chunk dirty %d > size %d", c.dirty, c.size)
		}
	}
	for _, q := range st.quar {
		mapped += q.c.size
	}
	if mapped != st.mapped {
		fail("mapped %d, chunks add up to %d", st.mapped, mapped)
	}
	if lim := uintptr(st.opts.Limit); lim > 0 && mapped > lim {
		fail("mapped %d past the limit %d", mapped, lim)
	}
	// The Ref slots: each chunk in use fills its run, from its base; a
	// fenced chunk's run is empty; nothing else is filled.
	filled := 0
	for i, s := range st.refs {
		if s.n != 0 {
			if i == 0 {
				fail("Ref slot 0 holds %d bytes", s.n)
			}
			filled++
		}
	}
	for _, c := range st.chunks {
		if c.pos == 0 {
			continue
		}
		for j := uintptr(0); j*refGranule < c.size; j++ {
			filled--
			if s := st.refs[uintptr(c.pos)+j]; s.base != add(c.base, j*refGranule) || s.n != c.size-j*refGranule {
				fail("Ref slot %d of a chunk at %p: base %p, n %d", uintptr(c.pos)+j, c.base, s.base, s.n)
			}
		}
	}
	if filled != 0 {
		fail("%d Ref slots filled past the chunks in use (a fenced or unmapped chunk's)", filled)
	}
	if st.cur < 0 {
		if b.base != nil || b.off != 0 || b.zeroTo != 0 {
			fail("no current chunk, yet base/off/zeroTo = %p/%d/%d", b.base, b.off, b.zeroTo)
		}
		return
	}
	c := st.chunks[st.cur]
	if b.base != c.base || b.off > b.zeroTo || b.zeroTo > c.size {
		fail("current chunk: off %d, zeroTo %d, size %d", b.off, b.zeroTo, c.size)
	}
	if c.ready > c.size {
		fail("chunk ready %d > size %d", c.ready, c.size)
	}
}

// poisonByte fills memory freed by Reset in arenadebug builds, so that a
// stale pointer reads 0xCC bytes rather than plausible old values.
const poisonByte = 0xCC

// poison fills the used part of every chunk up to the current one.
func (st *bumpState) poison() {
	for _, c := range st.chunks[:st.cur+1] {
		if c.dirty > 0 {
			mem := bytesOf(c.base, int(c.dirty))
			for i := range mem {
				mem[i] = poisonByte
			}
		}
	}
}

// flValidateEvery is how often, in mutating calls, an arenadebug build
// walks a whole FreeList (validate); the calls in between check only the
// counters (checkCounters), which is O(classes).
const flValidateEvery = 64

// debugCheck runs after each mutating call of a FreeList in arenadebug
// builds: checkCounters always, validate every flValidateEvery calls.
func (st *flState) debugCheck() {
	if st.closed {
		return
	}
	st.checkCounters()
	st.checks++
	if st.checks%flValidateEvery == 0 {
		st.validate()
	}
}

// flFail panics naming the arena and the invariant it broke.
func (st *flState) flFail(format string, args ...any) {
	panic(fmt.Sprintf("arena: invariant broken in %q: ", st.name) + fmt.Sprintf(format, args...))
}

// checkCounters checks in O(classes) that no counter of the arena has
// wrapped below zero or grown past what its mappings can hold: a counter
// decremented once too often reads as a huge number and fails here.
func (st *flState) checkCounters() {
	if n := st.inUseBytes(); n > st.mapped {
		st.flFail("inUse %d > mapped %d", n, st.mapped)
	}
	if lim := uintptr(st.opts.Limit); lim > 0 && st.mapped > lim {
		st.flFail("mapped %d past the limit %d", st.mapped, lim)
	}
	if st.retired < uint64(len(st.withdrawn)) {
		st.flFail("retired %d < %d withdrawn blocks", st.retired, len(st.withdrawn))
	}
	for c := range st.classes {
		cl := &st.classes[c]
		if cl.spans < 0 {
			st.flFail("class %d (%d-byte blocks): spans %d", c, classSize[c], cl.spans)
		}
		room := uint64(cl.spans) * uint64(spanBytes(c)/classSize[c]) // blocks the class's spans hold
		if cl.inUse > room || cl.withdrawn > room-cl.inUse {
			st.flFail("class %d (%d-byte blocks): inUse %d + withdrawn %d > %d blocks in %d spans",
				c, classSize[c], cl.inUse, cl.withdrawn, room, cl.spans)
		}
	}
}

// validate checks every invariant of the arena and panics naming the
// first one broken: each span's bitmap, used, fresh and free list agree;
// each class's counters are the sums over its spans; inUse and mapped are
// the sums over blocks and mappings; the partial lists hold exactly the
// spans with a free block. O(chunks + spans + blocks).
func (st *flState) validate() {
	st.checkCounters()
	var (
		spans   [numClasses]int
		used    [numClasses]uint64
		free    [numClasses]uint64
		partial [numClasses]int
		mapped  uintptr
		inUse   uintptr
		cached  uintptr
		ncached int
	)
	for _, ch := range st.chunks {
		if st.chunkAt(ch.addr) != ch || st.chunkAt(ch.addr+chunkBytes-1) != ch {
			st.flFail("chunk %#x is not the page map's", ch.addr)
		}
		mapped += chunkBytes
		for u := range ch.units {
			s := ch.units[u].Load()
			if s == nil || s.off/spanUnit != uintptr(u) {
				continue // a free unit, or not the span's first
			}
			if s.chunk != ch {
				st.flFail("span at %#x belongs to another chunk", ch.addr+s.off)
			}
			set := -int(tailBits(s.blocks()))
			for w, x := range s.bits {
				set += bits.OnesCount64(x)
				if (x != ^uint64(0)) != (s.avail[w/64]>>(w%64)&1 != 0) {
					st.flFail("span at %#x: word %d is %#x, yet its summary bit says otherwise", ch.addr+s.off, w, x)
				}
			}
			switch {
			case uint32(set) != s.used:
				st.flFail("span at %#x: %d bits set, used %d", ch.addr+s.off, set, s.used)
			case s.used > s.blocks() || s.fresh > s.blocks():
				st.flFail("span at %#x: used %d, fresh %d, of %d blocks", ch.addr+s.off, s.used, s.fresh, s.blocks())
			case s.used > s.fresh || s.firstSetFrom(s.fresh) < s.blocks():
				st.flFail("span at %#x: used %d, or a bit set from fresh %d on", ch.addr+s.off, s.used, s.fresh)
			case (s.partialAt >= 0) != (s.used < s.blocks() && st.classes[s.class].spare != s):
				st.flFail("span at %#x: on the partial list %v with %d of %d blocks used", ch.addr+s.off, s.partialAt >= 0, s.used, s.blocks())
			}
			spans[s.class]++
			used[s.class] += uint64(s.used)
			free[s.class] += uint64(s.blocks() - s.used)
			if s.partialAt >= 0 {
				partial[s.class]++
			}
		}
	}
	var withdrawn uint64
	for c := range st.classes {
		cl := &st.classes[c]
		switch {
		case cl.spans != spans[c]:
			st.flFail("class %d: spans %d, chunks hold %d", c, cl.spans, spans[c])
		case cl.freeBlocks(c) != free[c]:
			st.flFail("class %d: free %d, spans hold %d", c, cl.freeBlocks(c), free[c])
		case cl.inUse > used[c]:
			st.flFail("class %d: inUse %d, spans hold %d", c, cl.inUse, used[c])
		case len(cl.partial) != partial[c]:
			st.flFail("class %d: %d spans on the partial list, %d marked", c, len(cl.partial), partial[c])
		}
		for i, s := range cl.partial {
			if int(s.partialAt) != i || int(s.class) != c {
				st.flFail("class %d: partial[%d] is marked %d of class %d", c, i, s.partialAt, s.class)
			}
		}
		withdrawn += used[c] - cl.inUse // allocated but not in use: withdrawn
		inUse += uintptr(cl.inUse) * classSize[c]
	}
	if withdrawn != uint64(len(st.withdrawn)) {
		st.flFail("%d blocks allocated and not in use, %d withdrawn", withdrawn, len(st.withdrawn))
	}
	for addr, b := range st.large {
		if b.r.Addr() != addr || b.addr != addr {
			st.flFail("large block %#x filed under %#x", b.r.Addr(), addr)
		}
		if st.largeAt(addr) != b || st.largeAt(addr+b.size-1) != b {
			st.flFail("large block %#x is not in the page map", addr)
		}
		mapped += b.size
		if b.cached {
			cached += b.size
			ncached++
			continue
		}
		inUse += b.size
	}
	if cached != st.lc.bytes || ncached != st.lc.n || cached > st.lc.limit {
		st.flFail("cache holds %d bytes in %d blocks, large blocks marked cached add up to %d in %d (bound %d)", st.lc.bytes, st.lc.n, cached, ncached, st.lc.limit)
	}
	lists := 0
	for _, l := range []largeList{st.lc.dirty, st.lc.clean} {
		for b := l.oldest; b != nil; b = b.next {
			lists++
			if !b.cached || (b.next != nil && b.next.at < b.at) {
				st.flFail("large block %#x on a cache list: cached %v, out of age order", b.addr, b.cached)
			}
		}
	}
	if lists != st.lc.n {
		st.flFail("cache lists hold %d blocks, the cache counts %d", lists, st.lc.n)
	}
	if len(st.freedLarge) > freedLargeKept {
		st.flFail("%d freed large blocks remembered, more than %d", len(st.freedLarge), freedLargeKept)
	}
	for addr := range st.freedLarge {
		if _, ok := st.large[addr]; ok {
			st.flFail("large block %#x is live and remembered as freed", addr)
		}
	}
	if mapped != st.mapped {
		st.flFail("mapped %d, chunks and large blocks add up to %d", st.mapped, mapped)
	}
	if n := st.inUseBytes(); inUse != n {
		st.flFail("inUse %d, blocks add up to %d", n, inUse)
	}
}
