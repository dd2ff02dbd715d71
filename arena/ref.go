package arena

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// References. A Ref[T] names a T in one arena by its offset in the
// arena's offset space rather than by its address, for two reasons.
// First, a Ref holds no Go pointer, so structures that link inside an
// arena (trees, lists, graphs) pass the pointer check of New, MakeSlice
// and list.New without unsafe in the user's code. Second, an offset
// stays valid when the same memory is mapped at another address: in a
// second process attaching a memfd-shared arena, or in a file arena
// reopened later (the shared and file arenas), where an address
// would point into nothing.
//
// The offset space. A shared or file arena will be one contiguous
// reservation grown in place, so its offset space is simply the distance
// from the start of the mapping. A Bump is a chain of chunks at unrelated
// addresses (chunks.go says why it does not reserve one range), so each
// chunk is given a place in the offset space when it is mapped: a run of
// refGranule-sized slots, the first free run, never slot 0. A table with
// one entry per slot, kept in the arena's state, holds where the slot's
// bytes are and how many of the chunk's bytes follow its start;
// resolving a Ref is a subtraction and a shift, one load from that small
// table (in L1), a bound check and an add. BenchmarkRefTraversal measures
// it on a 10M-node list against following a pointer and against base
// plus offset, what a contiguous arena costs: with a cache miss per node,
// 1.04x and 1.05x a pointer (within the noise); with every node a cache
// hit, 1.83x and 1.16x, the slot load on the chain from node to node
// costing 2.7 ns (bench/issue-15-ref.txt). Reserving each Bump's chunks
// inside one range would remove that load for the cache-hit case, at the
// price chunks.go gives against it; the table keeps chunks as they are,
// and a contiguous arena is its special case of one slot run from
// offset 0.
//
// A Ref is 64 bits: the offset (refOffBits, so 1 TiB of offset space,
// 2^18 slots), then 8 bits of the arena's generation, then 16 bits of a
// tag drawn from a process-wide counter when the arena is made. Get
// compares tag and generation with its arena's in one compare, so a Ref
// resolved against another arena, or kept across a Reset or Close,
// resolves to nil. The check is exact for arenas made fewer than 65536
// apart and for fewer than 256 Resets; past that a stale or foreign Ref
// may alias, and then it resolves, bounds-checked, to memory of a chunk
// the arena has mapped now: a wrong object, never an unmapped or fenced
// page or a wild address. Slot 0 never holds a chunk, so the zero Ref
// always resolves to nil.
const (
	refOffBits    = 40
	refGranShift  = 22 // 4 MiB slots: a default 64 MiB chunk takes 16 entries
	refGranule    = 1 << refGranShift
	refMaxSlots   = 1 << (refOffBits - refGranShift)
	refGenMask    = 0xff
	refKeyTagBits = 8 // the tag sits above the 8 generation bits in a key
)

// A Ref is a typed reference to a T in an arena: an offset, not an
// address, so a T that links to other Ts with Refs holds no Go pointer
// and may itself live in the arena (New, MakeSlice and list accept it).
// Make one with RefOf and follow it with Get, against the arena it was
// made in. The zero Ref refers to nothing: Get returns nil for it, and
// RefOf(b, nil) returns it.
//
// A Ref is 8 bytes and comparable; copy it freely, store it in arena
// memory or on the Go heap. A Bump hands out Refs (RefOf, Get), and so
// does a Memfd (MemfdRef, In), whose Refs mean the same in every process
// attached to it; a Ref into a Bump is valid until the Bump's next Reset or its Close (Get
// returns nil after either, and after Pool.Put; see Get for the limits
// of that check). A Ref holds no lock: Gets may run concurrently with each
// other (on a frozen Bump, say), not with anything that changes the arena
// (an allocation may map a chunk and grow its table; Reset, Trim, Close).
type Ref[T any] struct {
	v uint64 // offset | generation<<refOffBits | tag<<(refOffBits+8); 0 for the zero Ref
}

// RefOf returns a Ref to *p, which must lie in memory that the Bump b
// handed out since its last Reset (from New, MakeSlice or Alloc). A nil
// p gives the zero Ref. It returns ErrNoArena for a nil or zero Bump,
// ErrClosed after Close, and ErrNotOwned if *p is not wholly inside the
// used part of one of b's chunks (memory of another arena or of the Go
// heap, a zero-size T, a block sampled by hardened mode, or a pointer
// from before a Reset past what the current chunk has handed out since;
// one into a chunk the arena has moved past again is not told apart,
// and gets a Ref to whatever now lies there). O(1) for memory of the
// current chunk, O(chunks) otherwise.
func RefOf[T any](b *Bump, p *T) (Ref[T], error) {
	switch {
	case p == nil:
		return Ref[T]{}, nil
	case b == nil || b.st == nil:
		return Ref[T]{}, errZeroBump
	case b.st.closed:
		return Ref[T]{}, ErrClosed
	}
	var zero T
	v, err := b.refOf(unsafe.Pointer(p), unsafe.Sizeof(zero)) // ok: only compared with chunk bounds
	return Ref[T]{v}, err
}

// Get returns the T that r refers to in the Bump b, or nil if r is the
// zero Ref, b is nil or zero, or r does not refer to memory of b's
// current generation: made in another arena, kept across a Reset or
// Close of b, or out of the range b has mapped. Those checks compare the
// Ref's 16-bit arena tag and 8-bit generation with b's (see Ref for when
// they can alias) and bound the offset by what b maps now, so a non-nil
// result always points at a whole, aligned T inside a chunk b has mapped
// and not fenced: never a wild address (a misaligned Ref, which only
// forging can make, is rounded down to T's alignment). It makes no
// system call and no Go heap allocation, and is inlined (cost 79 of
// 80): a shift, a load from a small table and a compare more than
// following a pointer (BenchmarkRefTraversal). Safe for concurrent use
// with other Gets; not with anything that changes b (see Ref).
func (r Ref[T]) Get(b *Bump) *T {
	var zero T
	if b != nil && b.st != nil {
		return (*T)(b.st.resolve(r.v, unsafe.Sizeof(zero), unsafe.Alignof(zero))) // ok: resolve checked bounds and alignment
	}
	return nil
}

// A refSlot is one refGranule of a Bump's offset space: base is where
// its bytes are mapped, n how many of its chunk's bytes follow base (0
// for a free slot or one whose chunk is fenced). The slots of one chunk
// are consecutive: slot j of a chunk at pos has base c.base+j*refGranule.
type refSlot struct {
	base unsafe.Pointer
	n    uintptr
}

// refTags hands each arena the tag its Refs carry.
var refTags atomic.Uint32

// newRefBase returns the key of a new arena, a fresh tag and generation
// 0, shifted to where it sits in its Refs.
func newRefBase() uint64 { return uint64(uint16(refTags.Add(1))) << (refOffBits + refKeyTagBits) }

// nextRefGen moves the arena's Refs to the next generation: every Ref
// made before resolves to nil from now on (up to the aliasing told at
// Ref). Reset and Close call it.
func (st *bumpState) nextRefGen() {
	const gen = refGenMask << refOffBits
	st.refBase = st.refBase&^gen | (st.refBase+1<<refOffBits)&gen
}

// resolve returns the address of the size bytes aligned to al that v
// names, or nil; a misaligned v (only a forged one can be) is rounded
// down to al. Inlinable into Get. Subtracting the arena's key leaves
// the offset if v carries the key, and otherwise a number of 2^40 or
// more (it wraps if v's key is lower), which the one bound on the slot
// index refuses: tag, generation and range cost one compare.
func (st *bumpState) resolve(v uint64, size, al uintptr) unsafe.Pointer {
	i := (v - st.refBase) >> refGranShift
	if i >= uint64(len(st.refs)) {
		return nil
	}
	s := &st.refs[i]
	o := uintptr(v) & (refGranule - al) // al <= the page size < refGranule: drops the low bits a T's address cannot have
	if o+size > s.n {
		return nil // o < 4 MiB and size < 2^50 (Go's largest type): the sum cannot wrap
	}
	return add(s.base, o) // ok: o+size <= n, inside the slot's chunk, which is mapped and not fenced
}

// refOf returns the Ref bits for the size bytes at p, which must lie in
// bytes of a chunk handed out since the last Reset.
func (b *Bump) refOf(p unsafe.Pointer, size uintptr) (uint64, error) {
	st := b.st
	fb := b
	if b.inner != nil {
		fb = b.inner // a sampling Bump's chunks are carved by its twin
	}
	for i := st.cur; i >= 0; i-- {
		c := st.chunks[i]
		used := c.dirty // chunks[:cur]: leave recorded how far they were used
		if i == st.cur {
			used = fb.off
		}
		o, ok := offsetIn(p, c.base, used)
		if !ok || size > used-o {
			continue
		}
		if c.pos == 0 {
			return 0, fmt.Errorf("arena: RefOf: %q: chunk of %d bytes has no place in the 1 TiB reference space: %w", st.name, c.size, ErrNotOwned)
		}
		return st.refBase | (uint64(c.pos)<<refGranShift + uint64(o)), nil
	}
	return 0, fmt.Errorf("arena: RefOf: %q: %w", st.name, ErrNotOwned)
}

// placeRefs gives the new chunk c a place in the offset space, the first
// run of free slots long enough, and fills its slots in. A chunk that
// does not fit (over 1 TiB of chunks at once) gets pos 0 and no Refs.
func (st *bumpState) placeRefs(c *chunk) {
	k := int((c.size + refGranule - 1) >> refGranShift)
	if len(st.refs) == 0 {
		st.refs = append(st.refs, refSlot{}) // slot 0: the zero Ref's
	}
	pos, run := 1, 0
	for i := 1; i < len(st.refs) && run < k; i++ {
		if st.refs[i].n != 0 || st.used(i) {
			pos, run = i+1, 0
			continue
		}
		run++
	}
	if run < k {
		// The free run at the end, from pos, is too short: lengthen it.
		if pos+k > refMaxSlots {
			return
		}
		st.refs = append(st.refs, make([]refSlot, pos+k-len(st.refs))...)
	}
	c.pos = uint32(pos)
	st.showRefs(c, true)
}

// used reports whether slot i belongs to a chunk that is fenced in the
// quarantine, whose slots are empty but still taken.
func (st *bumpState) used(i int) bool {
	for _, q := range st.quar {
		if p := int(q.c.pos); p > 0 && i >= p && i < p+int((q.c.size+refGranule-1)>>refGranShift) {
			return true
		}
	}
	return false
}

// showRefs fills c's slots in (on) or empties them (off): Refs into a
// fenced or unmapped chunk resolve to nil, never to a fenced page.
func (st *bumpState) showRefs(c *chunk, on bool) {
	if c.pos == 0 {
		return
	}
	for j := uintptr(0); j*refGranule < c.size; j++ {
		s := refSlot{}
		if on {
			s = refSlot{add(c.base, j*refGranule), c.size - j*refGranule} // ok: j*refGranule < size
		}
		st.refs[uintptr(c.pos)+j] = s
	}
}

// refTagBits is how many bits Ref.Tag xors into a Ref: the 24 above
// the offset, where the arena's key sits.
const refTagBits = 64 - refOffBits

// Offset returns r's offset in its arena's offset space, the bits
// without its arena's key: 0 for the zero Ref, under 2^40 always. For
// a Memfd or a File it is the distance from the start of the mapping,
// the same in every process and after every reopen; for a Bump, a
// place its chunk was given. It tells nothing about which arena r is
// of, and is meant for deriving small identities (see Tag), not for
// arithmetic on addresses.
func (r Ref[T]) Offset() uint64 { return r.v & (1<<refOffBits - 1) }

// Tag returns r with the low 24 bits of t xored into the bits that name
// its arena, and the same call on the result gives r back. A Ref tagged
// with t != 0 resolves nowhere (Get, In and InFile return nil for it;
// up to the aliasing Ref describes for a Bump), so it is a way to pack
// a 24-bit mark into a link a structure stores, such as the list a node
// belongs to, at no cost to the links it follows untagged. Tag(0) is r.
func (r Ref[T]) Tag(t uint32) Ref[T] { return Ref[T]{r.v ^ uint64(t&(1<<refTagBits-1))<<refOffBits} }
