package arena

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/mmarena/mmarena/guard"
)

// flClass is the state of one size class.
type flClass struct {
	partial []*span // spans with at least one free block
	spare   *span   // one empty span kept, so alloc/free at a span's edge makes no system call
	spans   int     // spans of this class, spare included
	inUse   uint64  // blocks allocated and live
	// withdrawn counts the blocks CheckFreed withdrew, allocated but not
	// in use: the class's free blocks are its spans' blocks less these
	// and inUse (freeBlocks).
	withdrawn uint64
	// dead holds span records whose pages went back to the OS, at most
	// deadKept, so that a span cut again reuses one with its bitmap and
	// free list instead of allocating: churn at a span's edge makes no
	// Go heap allocation.
	dead []*span
}

// deadKept bounds each class's dead span records: a few per class cover
// the churn of a steady workload, and keeping all would hold the Go heap
// of the arena's peak.
const deadKept = 8

// chunkShift fixes the chunk size and alignment at 4 MiB: a pointer's
// chunk is found in the page map by its address >> chunkShift.
const (
	chunkShift = 22
	chunkBytes = 1 << chunkShift
	unitsPer   = chunkBytes / spanUnit
)

// flChunk is one 4 MiB mapping, aligned to 4 MiB, cut into span units.
type flChunk struct {
	r    *guard.Region
	base unsafe.Pointer
	addr uintptr
	next uintptr // first never-used byte; spans are cut from [next, chunkBytes)
	// units holds the span covering each unit, nil if the unit is free.
	// Atomic because a SyncFreeList's Free reads it from a goroutine
	// that does not hold the owner's lock (a load is a plain move on
	// amd64 and arm64; only cutting and releasing a span store).
	units [unitsPer]atomic.Pointer[span]
	last  [unitsPer]int8 // class of the last span at each unit, -1 never used
	// owner is the SyncFreeList shard whose flState mapped the chunk; 0
	// for a FreeList's. Set before the chunk is published.
	owner int32
}

// A span is a run of units cut into blocks of one class. Its metadata
// lives on the Go heap, and its bitmap is all it keeps per block: a
// block whose bit is clear is free, and Alloc finds the lowest one with
// two count-trailing-zeros, the first in avail, a summary of which
// bitmap words have a free block, the second in that word (Go's mspan
// caches its free bits in a word the same way). That is 1 bit of Go heap
// per block, where a stack of free indexes cost 32 more, and a Free or an
// Alloc touches one line of the span and one word of its bitmap: base
// spares them a load of the chunk's record for the block's address.
type span struct {
	// The fields Free and Alloc use, in the record's first line: the
	// record is padded to 128 bytes, a Go size class whose objects are
	// 128-byte aligned. The block size, block count and reciprocal are
	// the class's, read from tables that stay in L1.
	bits  []uint64       // bit i set: block i is allocated; len (blocks()+63)/64
	base  unsafe.Pointer // block 0: the chunk's base + off
	used  uint32         // blocks allocated; used <= fresh
	fresh uint32         // blocks [fresh, blocks()) were never handed out and read zero
	class int32
	// partialAt is the span's index in its class's partial list, or -1
	// when it is not on it (full, or the spare).
	partialAt int32
	// avail summarises bits: bit w%64 of avail[w/64] is set when bits[w]
	// has a free block. The bits past the last block are set, as if
	// allocated, so that a word is full when it is all ones.
	avail [2]uint64

	chunk *flChunk
	off   uintptr // from the chunk's base
	// sh is what a SyncFreeList shard's span shares with other
	// goroutines (see freelist_shard.go); nil in a FreeList.
	sh *spanShared
	_  [40]byte
}

// blockSize returns the span's block size, its class's.
func (s *span) blockSize() uintptr { return classSize[s.class] }

// blocks returns how many blocks the span holds.
func (s *span) blocks() uint32 { return classBlocks[s.class] }

// firstFree returns the lowest free block; s.used < s.blocks(). It is below
// s.fresh when a block handed out before is free, and s.fresh otherwise:
// every block from fresh on is free. O(1): the summary names the first
// word with a free block, as Go's mspan caches its free bits.
func (s *span) firstFree() uint32 {
	w := uint32(bits.TrailingZeros64(s.avail[0]))
	if w == 64 {
		w += uint32(bits.TrailingZeros64(s.avail[1]))
	}
	return w*64 + uint32(bits.TrailingZeros64(^s.bits[w]))
}

// firstSetFrom returns the first allocated block at or after i, or n:
// arenadebug's check that no block from fresh on is allocated. O(blocks).
func (s *span) firstSetFrom(i uint32) uint32 {
	for ; i < s.blocks(); i++ {
		if s.bits[i/64]>>(i%64)&1 != 0 {
			return i
		}
	}
	return s.blocks()
}

// tailBits returns how many bits past n the last word of a bitmap of n
// blocks has.
func tailBits(n uint32) uint32 { return (64 - n%64) % 64 }

// reset makes s a span of its class with no block allocated, reusing
// its bitmap if it has one: every word clear but for the bits past the
// last block, every word marked available in the summary. At most 8192
// blocks, spanUnit over the smallest class.
func (s *span) reset() {
	n := s.blocks()
	words := (n + 63) / 64
	if uint32(len(s.bits)) != words {
		s.bits = make([]uint64, words)
	} else {
		clear(s.bits)
	}
	if t := tailBits(n); t > 0 {
		s.bits[words-1] = ^uint64(0) << (64 - t)
	}
	s.avail = [2]uint64{}
	for w := range words {
		s.avail[w/64] |= 1 << (w % 64)
	}
	s.used, s.fresh = 0, 0
}

// spanSlot is a free run of units.
type spanSlot struct {
	chunk      *flChunk
	off        uintptr
	discounted bool // its pages were released and are not counted in guard.Committed until cut again
}

// allocSmall hands out a block of class c; zero clears a block that was
// handed out before (one never handed out reads zero already: its pages
// came from the kernel, or from Release, or were cleared when a Release
// failed). With CheckFreed a reused block is checked to read zero
// instead, zero or not. O(1) but for newSpan's system calls and the
// clear.
func (st *flState) allocSmall(c int, zero bool) (unsafe.Pointer, error) {
	cl := &st.classes[c]
	if len(cl.partial) == 0 {
		if err := st.newSpan(c); err != nil {
			return nil, err
		}
	}
	s := cl.partial[len(cl.partial)-1]
	i := s.firstFree()
	p := add(s.base, uintptr(i)*s.blockSize())
	if i >= s.fresh {
		s.fresh = i + 1 // i == fresh: a block never handed out, which reads zero
	} else if st.opts.CheckFreed {
		if err := st.checkReused(s, i, p); err != nil {
			return nil, err
		}
	} else if zero {
		clearBytes(p, s.blockSize())
	}
	w := &s.bits[i/64]
	if *w |= 1 << (i % 64); *w == ^uint64(0) {
		s.avail[i/4096] &^= 1 << (i / 64 % 64)
	}
	if s.sh != nil {
		s.sh.live[i/64].Or(1 << (i % 64))
	}
	s.used++
	cl.inUse++
	if s.used == s.blocks() {
		st.dropPartial(s)
	}
	return p, nil
}

// The fast paths. allocFast, and the start of Free, are allocSmall and
// free's small-block case for the common arena, with nothing to check
// (plain) and nothing to report: no error built, the class read from a
// table, the span from the top of its partial list, the block from the
// span's summary and bitmap. They do exactly what the general path does
// for the same block, which they leave every other case to.

// allocFast returns a block of size bytes aligned to al and how many of
// its bytes Alloc must clear (its block size if it was handed out
// before, 0 if it reads zero already: the caller clears, so that a
// SyncFreeList clears outside its lock), or nil when the general path
// must answer: the
// zero FreeList, a closed, frozen or checking arena, a size rounded up to
// al above smallTableMax, a class with no partial span.
// O(1) but for the clear.
func (st *flState) allocFast(size, al uintptr) (p unsafe.Pointer, dirty uintptr) {
	if st == nil || !st.fast || al-1 >= smallTableMax || al&(al-1) != 0 {
		return nil, 0
	}
	// classFor(size, al). A size of 0 rounds to n == 0, and a size so
	// large that size+al-1 wraps rounds to 0 too (the wrapped sum is below
	// al), so one test of n-1 refuses both along with sizes above the
	// table's.
	n := (size + al - 1) &^ (al - 1)
	if n-1 >= smallTableMax {
		return nil, 0
	}
	// The span is the top of the class's partial list: the one a Free
	// pushed last, whose record and bitmap that Free has just brought
	// into the cache. No partial span means a new one to cut, perhaps
	// a chunk to map: newSpan's business, on the general path.
	cl := &st.classes[smallClass[(n+7)>>3]]
	top := len(cl.partial) - 1
	if top < 0 {
		return nil, 0
	}
	s := cl.partial[top]
	c := s.class // read once: the stores below could change it, for all the compiler knows
	i := s.firstFree()
	p = add(s.base, uintptr(i)*classSize[c])
	// A block from fresh on was never handed out and reads zero, as its
	// pages came from the kernel (or Release); one below was, and holds
	// its last owner's bytes.
	if i >= s.fresh {
		s.fresh = i + 1
	} else {
		dirty = classSize[c]
	}
	// Mark it allocated, and its word full in the summary if it is now.
	w := &s.bits[i/64]
	if *w |= 1 << (i % 64); *w == ^uint64(0) {
		s.avail[i>>12&1] &^= 1 << (i / 64 % 64)
	}
	if s.sh != nil { // a SyncFreeList shard's: the block is claimable by Free now
		s.sh.live[i/64].Or(1 << (i % 64))
	}
	s.used++
	cl.inUse++
	st.requested += uint64(size)
	st.allocs++
	if s.used == classBlocks[c] { // full: off the top of the partial list
		// The slot past the new end keeps its pointer until the next
		// push overwrites it: no store, and no write barrier, on the
		// path nearly every W2 Alloc takes. It keeps alive only a span
		// record the arena holds anyway (a full span is in its chunk's
		// unit table), or one emptied since, for as long as the class's
		// list is shorter than it was: a bounded retention, never a
		// dangling pointer.
		cl.partial = cl.partial[:top]
		s.partialAt = -1
	}
	if st.ops++; st.ops >= publishEvery {
		st.refresh(false)
	}
	if invariantsEnabled {
		st.debugCheck()
	}
	return p, dirty
}

// checkReused checks that block i of s, at p, about to be handed out
// again, still reads zero as CheckFreed's Free left it. If not, it
// withdraws the block for good (it stays marked allocated and is never
// handed out again) and returns ErrWriteAfterFree.
func (st *flState) checkReused(s *span, i uint32, p unsafe.Pointer) error {
	at := nonZero(p, s.blockSize())
	if at < 0 {
		return nil
	}
	if s.bits[i/64] |= 1 << (i % 64); s.bits[i/64] == ^uint64(0) {
		s.avail[i/4096] &^= 1 << (i / 64 % 64)
	}
	s.used++
	st.classes[s.class].withdrawn++
	st.retired++
	if st.withdrawn == nil {
		st.withdrawn = make(map[uintptr]struct{})
	}
	st.withdrawn[uintptr(p)] = struct{}{}
	if s.used == s.blocks() {
		st.dropPartial(s)
	}
	return fmt.Errorf("%w: %d-byte block at %#x of %q written after it was freed (byte %d is %#x)",
		ErrWriteAfterFree, s.blockSize(), uintptr(p), st.name, at, *(*byte)(add(p, uintptr(at))))
}

// nonZero returns the offset of the first non-zero byte of [p, p+n), or
// -1.
func nonZero(p unsafe.Pointer, n uintptr) int {
	for i, b := range bytesOf(p, int(n)) {
		if b != 0 {
			return i
		}
	}
	return -1
}

// dropPartial takes a span off its class's partial list. O(1).
func (st *flState) dropPartial(s *span) {
	cl := &st.classes[s.class]
	last := cl.partial[len(cl.partial)-1]
	cl.partial[s.partialAt], last.partialAt = last, s.partialAt
	cl.partial[len(cl.partial)-1] = nil
	cl.partial = cl.partial[:len(cl.partial)-1]
	s.partialAt = -1
}

// pushPartial puts a span with free blocks on its class's partial list.
func (st *flState) pushPartial(s *span) {
	cl := &st.classes[s.class]
	s.partialAt = int32(len(cl.partial))
	cl.partial = append(cl.partial, s)
}

// newSpan gives class c a span with free blocks: its spare, a free slot,
// or units cut from a chunk, mapping a new chunk if need be.
func (st *flState) newSpan(c int) error {
	cl := &st.classes[c]
	if s := cl.spare; s != nil {
		cl.spare = nil
		st.pushPartial(s)
		return nil
	}
	bytes := spanBytes(c)
	kind := 0
	if bytes > spanUnit {
		kind = 1
	}
	var slot spanSlot
	if len(st.free[kind]) == 0 && len(st.waiting) > 0 {
		st.release() // reuse the units of emptied spans before cutting new ones
	}
	if n := len(st.free[kind]); n > 0 {
		slot = st.free[kind][n-1]
		if slot.discounted {
			// Its pages are about to be touched again: counted first,
			// so the process-wide cap can refuse them.
			if err := slot.chunk.r.Recount(int(bytes)); err != nil {
				return fmt.Errorf("arena: %q: new span: %w", st.name, err)
			}
		}
		st.free[kind] = st.free[kind][:n-1]
	} else {
		if st.current == nil || st.current.next+bytes > chunkBytes {
			if err := st.newChunk(); err != nil {
				return err
			}
		}
		ch := st.current
		slot = spanSlot{chunk: ch, off: ch.next}
		ch.next += bytes
	}
	// Fault the span's pages in with one system call rather than one
	// fault per page as its blocks are first written: for page-sized
	// blocks that halves the cost of a fresh block.
	if canPopulate.Load() {
		if err := slot.chunk.r.Populate(int(slot.off), int(bytes)); errors.Is(err, errors.ErrUnsupported) {
			canPopulate.Store(false)
		}
	}
	s := &span{}
	if k := len(cl.dead); k > 0 && !st.sharded {
		s = cl.dead[k-1]
		cl.dead[k-1] = nil
		cl.dead = cl.dead[:k-1]
	}
	*s = span{chunk: slot.chunk, off: slot.off, base: add(slot.chunk.base, slot.off), class: int32(c),
		bits: s.bits} // a dead record keeps its bitmap: same class, same length
	s.reset()
	if st.sharded && !st.solo {
		s.sh = newSpanShared(s)
	}
	for u := slot.off / spanUnit; u < (slot.off+bytes)/spanUnit; u++ {
		slot.chunk.units[u].Store(s)
		slot.chunk.last[u] = int8(c)
	}
	st.pushPartial(s)
	cl.spans++
	return nil
}

// newChunk maps a 4 MiB chunk aligned to 4 MiB. Its unused tail, if the
// last chunk had one, stays mapped and is never cut: at most one span's
// worth per chunk.
func (st *flState) newChunk() error {
	if err := st.checkLimit(chunkBytes); err != nil {
		return err
	}
	o := &guard.Options{Name: st.name, NoGuards: st.opts.NoGuards, Align: chunkBytes,
		HugePages: st.opts.HugePages, Populate: st.opts.Prefault}
	r, err := guard.Map(chunkBytes, o)
	if err != nil {
		return fmt.Errorf("arena: %q: new chunk: %w", st.name, err)
	}
	st.syscalls++ // counted on success only: a refused call changes no stats
	ch := &flChunk{r: r, base: r.Pointer(), addr: r.Addr(), owner: st.owner}
	e := st.chunkMap.at(ch.addr >> chunkShift)
	if e == nil {
		_ = r.Close() // beyond the page map: never handed out, nothing to fence
		return fmt.Errorf("arena: %q: new chunk at %#x: %w", st.name, ch.addr, errTooLarge("above the %d-bit address space", pmAddrBits))
	}
	*e = ch
	for i := range ch.last {
		ch.last[i] = -1
	}
	st.chunks = append(st.chunks, ch)
	st.current = ch
	st.mapped += chunkBytes
	if st.onChunk != nil {
		st.onChunk(ch) // a shard's: filed where every goroutine's Free finds it
	}
	st.mappingsChanged()
	return nil
}

// emptied handles a span whose last block was freed, which is on the
// partial list. Hysteresis, so that allocating and freeing at a span's
// edge makes no system call: the class's only partial span stays where
// it is; otherwise the span becomes the class's spare if it has none;
// only otherwise do its pages go back to the OS and its units to the free
// slots.
func (st *flState) emptied(s *span) {
	cl := &st.classes[s.class]
	if len(cl.partial) == 1 {
		return
	}
	st.dropPartial(s)
	if cl.spare == nil {
		cl.spare = s
		return
	}
	st.retireSpan(s)
}

// retireSpan sends the pages of s, empty and on no list, back to the
// OS (with the next batch) and its units to the free slots.
func (st *flState) retireSpan(s *span) {
	cl := &st.classes[s.class]
	bytes := spanBytes(int(s.class))
	for u := s.off / spanUnit; u < (s.off+bytes)/spanUnit; u++ {
		s.chunk.units[u].Store(nil)
	}
	st.waiting = append(st.waiting, waitingSpan{s.chunk, s.off, bytes})
	if st.waitingBytes += bytes; st.waitingBytes >= releaseBatch {
		st.release()
	}
	cl.spans--
	// A shard's span record is never reused: another goroutine's Free
	// may still read its class and base (it then finds every block
	// free, a double free).
	if len(cl.dead) < deadKept && !st.sharded {
		s.chunk, s.base = nil, nil // the record must not keep a closed chunk's metadata
		cl.dead = append(cl.dead, s)
	}
}

// releaseBatch is how many bytes of emptied spans wait before their pages
// go back to the OS together, in one system call per run of adjacent
// spans: freeing 1M 64-byte blocks in the order they were allocated
// (W5) empties 977 spans side by side, which makes 62 madvise calls
// instead of 977. At most this many bytes stay resident meanwhile;
// Stats, and a class that needs a span when no free slot is left, give
// them back at once.
const releaseBatch = 1 << 20

// waitingSpan is an emptied span whose pages wait to go back to the OS.
type waitingSpan struct {
	chunk *flChunk
	off   uintptr // from the chunk's base
	n     uintptr // bytes: spanUnit or 4*spanUnit
}

// release gives the pages of the emptied spans in st.waiting back to
// the OS, one system call per run of spans adjacent in a chunk, and makes
// their units free slots. O(spans waiting).
func (st *flState) release() {
	w := st.waiting
	for i := 0; i < len(w); {
		ch, end, j := w[i].chunk, w[i].off+w[i].n, i+1
		for j < len(w) && w[j].chunk == ch && w[j].off == end {
			end += w[j].n
			j++
		}
		discounted := false
		if err := ch.r.Release(int(w[i].off), int(end-w[i].off)); err == nil {
			st.released += uint64(end - w[i].off)
			ch.r.Discount(int(end - w[i].off)) // given back: the memory budget and cap stop counting it
			discounted = true
		} else {
			// The pages keep their bytes, yet the next span cut here
			// hands its blocks out as never used, unzeroed: clear them.
			clearBytes(add(ch.base, w[i].off), end-w[i].off)
		}
		st.syscalls++
		for _, s := range w[i:j] {
			kind := 0
			if s.n > spanUnit {
				kind = 1
			}
			st.free[kind] = append(st.free[kind], spanSlot{s.chunk, s.off, discounted})
		}
		i = j
	}
	clear(w) // the chunks' records are not kept alive by a stale entry
	st.waiting, st.waitingBytes = w[:0], 0
}

// spanBytes is how much memory a span of class c takes: 64 KiB for
// blocks up to 8 KiB (at least 8 blocks a span), 256 KiB above.
func spanBytes(c int) uintptr {
	if classSize[c] <= 8<<10 {
		return spanUnit
	}
	return 4 * spanUnit
}

// spanUnit is the granule spans are cut in and aligned to.
const spanUnit = 64 << 10
