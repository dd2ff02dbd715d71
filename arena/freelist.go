package arena

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/errs"
	"golang.org/x/sys/unix"
)

// A FreeList arena is malloc and free off the Go heap: blocks are freed
// one at a time and reused. Small blocks (up to 32 KiB) come from size
// classes carved out of 64 KiB spans of 4 MiB chunks; larger ones, and
// ones aligned to more than a page, get a guarded mapping of their own.
// A freed one waits in the arena's cache of mappings (Options.LargeCache,
// 64 MiB by default) for the next large request that fits, which takes
// it with no system call; its pages go back to the kernel after
// Options.LargeDecay (10 s), and the oldest leave the cache for guard's
// quarantine past its bound. Realloc of a large block moves its pages
// to the new block instead of copying them (mremap, on Linux). Its
// bookkeeping lives on the Go heap, out of line, so a write past a block
// cannot corrupt the allocator. The pages of a span emptied by Free go
// back to the kernel with those of the spans emptied next to it, once
// 1 MiB of them waits, or at Stats.
//
// Free refuses, changing nothing, every pointer that is not a block's
// start (ErrInvalidFree) or that the arena never handed out
// (ErrNotOwned). A double free is refused (ErrDoubleFree) only while the
// block's memory has not been handed out again:
//
//   - Plain mode catches a second Free of a small block whose slot is
//     still free, or whose span was emptied and released; of a large
//     block in the cache, always; of one that left the cache (or was
//     freed with the cache off), among the last 256 such, whatever was
//     mapped at its address since (older ones are ErrNotOwned).
//   - CheckFreed also catches a Free of a block Alloc withdrew after a
//     write after free, and keeps no cache: a freed large block is
//     fenced in the quarantine at once, so a use after free of it faults
//     and hardened.Catch names it, at some 40 µs a Free where the cache
//     costs well under a microsecond. Sampling (Options.Sample) catches
//     a second Free of a sampled block, which stays fenced in a
//     quarantine and is not handed out again until Sample.Slots later
//     samples have been placed.
//   - A use after free of a cached large block is not caught: the block
//     is not fenced while it waits, as a freed small block is not. The
//     stale bytes never reach a later owner through Alloc, which clears
//     a reused block; Malloc hands them out, as C's malloc would.
//   - No mode can catch a second Free of a pointer whose memory the arena
//     has handed out again: it is the new owner's block now, and the
//     stale Free frees it, as the owner's own Free would, so the block
//     can go to a third party while the owner still uses it. CheckFreed
//     zeroes the block on that Free, so the owner's next write is
//     reported (ErrWriteAfterFree) when the block is next to be handed
//     out; a sampled block is safe while in quarantine.
//
// Make a FreeList with NewFreeList. The zero FreeList has nothing to
// allocate from: its methods return ErrNoArena, or do nothing, and never
// panic.
//
// A FreeList must not be used by two goroutines at once; use a
// SyncFreeList for that. A FreeList must not be copied after first use.
type FreeList struct {
	_  noCopy
	st *flState
	cl runtime.Cleanup
}

// flState is everything a FreeList holds, kept apart from the FreeList so
// that a leak cleanup can release it.
type flState struct {
	name   string
	opts   Options
	closed bool
	frozen bool // Freeze made every mapping read-only; Alloc and Free are refused
	// plain is set when neither CheckFreed nor sampling is on. Fixed at
	// NewFreeList.
	plain bool
	// fast is plain && !closed && !frozen, kept by setFlags: small blocks
	// take allocFast and Free's fast path when it is set, which then
	// test one byte where they tested three.
	fast bool
	gen  uint64 // Close so far: see State
	site uintptr

	classes [numClasses]flClass
	chunks  []*flChunk    // every chunk, in the order mapped
	current *flChunk      // the chunk new spans are cut from
	free    [2][]spanSlot // free span slots: [0] one unit, [1] four units
	// waiting holds emptied spans whose pages have not gone back to the
	// OS yet, at most releaseBatch bytes of them, in the order emptied;
	// their units become free slots when they do (release).
	waiting      []waitingSpan
	waitingBytes uintptr
	large        map[uintptr]*largeBlock // by start address
	// chunkMap finds the chunk of an address, largeMap the large blocks
	// overlapping its 4 MiB granule: see freelist_pagemap.go.
	chunkMap granuleMap[*flChunk]
	largeMap granuleMap[[]*largeBlock]
	ranges   []Range // the mappings' ranges, as last assembled; nil when they changed since

	mapped    uintptr // usable bytes of chunks and large blocks; <= opts.Limit if set
	inUse     uintptr // bytes of live large blocks; small ones are counted by class: see inUseBytes
	requested uint64  // bytes asked for, ever
	allocs    uint64
	frees     uint64
	released  uint64   // bytes given back to the OS, ever
	syscalls  uint64   // calls into guard that reach the kernel
	retired   uint64   // blocks withdrawn after a write after free; == len(withdrawn) until Close
	smp       *sampler // Options.Sample; nil when off
	checks    uint64   // arenadebug: mutating calls checked so far

	// sharded is set for the state of one of a SyncFreeList's shards:
	// its spans carry a live bitmap other goroutines claim frees in, and
	// their records are never reused. owner is the shard's index, and
	// onChunk files each new chunk in the SyncFreeList's chunk map.
	sharded bool
	// solo is set while the SyncFreeList has one shard in use: its
	// blocks are then freed under its mutex only, and its spans carry
	// no live bitmap (share ends it). Only set with sharded.
	solo        bool
	owner       int32
	onChunk     func(*flChunk)
	remoteFrees uint64 // blocks other shards freed, collected

	// withdrawn holds the addresses of the blocks Alloc withdrew after a
	// write after free (CheckFreed). Such a block stays marked allocated so
	// that it is never handed out again, yet it was freed: a Free of it
	// is a double free, and this set is how find tells it from a live
	// block. nil until the first withdrawal; a span holding one is never
	// emptied, so an entry stays true until Close.
	withdrawn map[uintptr]struct{}

	// freedLarge remembers the large blocks freed last, at most
	// freedLargeKept, so that freeing one again is ErrDoubleFree even
	// after the kernel gave its address range to another mapping: the
	// address is this arena's own record, not guard's. freedRing holds
	// them oldest first from freedNext%freedLargeKept; an entry whose
	// address was handed out again is dropped from the map and skipped in
	// the ring. Both are nil until the first large Free.
	freedLarge map[uintptr]freedBlock
	freedRing  []uintptr
	freedNext  uint64 // large blocks freed so far

	lc largeCache // freed large blocks kept for reuse: see freelist_large.go

	id   uint64                   // in the registry
	slot *atomic.Pointer[Summary] // the registry's summary of this arena
	pub  flPublished              // the counters TakeSnapshot reads; see freelist_stats.go
	ops  uint32                   // Allocs and Frees since pub was last refreshed; < publishEvery
}

// setFlags sets closed and frozen, and fast from them and plain: every
// change to closed or frozen goes through it, so that fast never lets
// the fast paths serve a closed or frozen arena.
func (st *flState) setFlags(closed, frozen bool) {
	st.closed, st.frozen = closed, frozen
	st.fast = st.plain && !closed && !frozen
}

// NewFreeList returns an empty free-list arena; nothing is mapped until
// the first allocation. It returns an error for an option out of range
// (ErrSize) or one a FreeList does not use (ErrUnsupported): see Options.
func NewFreeList(opts *Options) (*FreeList, error) { return newFreeList(opts, callerPC(1)) }

// newFreeList is NewFreeList, naming pc as the call site that made it.
func newFreeList(opts *Options, pc uintptr) (*FreeList, error) {
	o, err := opts.resolve(kindFreeList)
	if err != nil {
		return nil, err
	}
	st := &flState{large: make(map[uintptr]*largeBlock), opts: o, name: o.Name}
	st.lc.limit, st.lc.decay, st.lc.epoch = uintptr(o.LargeCache), int64(o.LargeDecay), time.Now()
	if st.smp, err = newSampler(st.name, o.Sample); err != nil {
		return nil, err
	}
	st.site = pc
	st.plain = !o.CheckFreed && st.smp == nil
	st.setFlags(false, false)
	f := &FreeList{st: st}
	f.cl = runtime.AddCleanup(f, (*flState).leaked, st)
	registerAt(Summary{Name: st.name, Kind: kindFreeList}, st.site, st.published, &st.id, &st.slot)
	return f, nil
}

// Alloc returns size bytes of zeroed memory aligned to align, a power of
// two up to 1 GiB (otherwise an error matching align.ErrAlignment, and
// unix.EINVAL for one that is not a power of two, unix.ENOMEM for a
// larger power of two). Blocks of up to 32 KiB aligned to at most a page come
// from size classes; others get a mapping of their own.
//
// The waste per block is bounded: a small block is the smallest class
// that holds size and is a multiple of align, so at most 12.5% above size
// when align <= size/8 (and size > 128), and otherwise at most the next
// power of two above max(size, align); a block with its own mapping wastes
// less than one page, whatever its alignment (the excess address space
// mapped to align it is unmapped at once). A size of 0
// returns a pointer that uses no memory and must not be dereferenced (Free
// accepts it). It returns an alignment error, ErrSize, ErrLimit,
// ErrClosed, ErrWriteAfterFree (CheckFreed) or a mapping error, and then
// changes nothing.
//
// Only a block handed out before is cleared: one never handed out, or
// cut from pages fresh from the kernel, reads zero already. O(1) in the
// number of live blocks; the clear is O(size).
func (f *FreeList) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	if p, dirty := f.st.allocFast(size, al); p != nil {
		clearBytes(p, dirty)
		return p, nil
	}
	if f.st == nil {
		return nil, errNoArena("FreeList")
	}
	return f.st.alloc(size, al, true)
}

// Malloc is Alloc without the clear, as C's malloc is to calloc: the
// block's bytes are unspecified. A block handed out before holds what
// its last owner left in it (bytes of this arena, never another
// process's or another arena's: a chunk or mapping the arena gets from
// the kernel reads zero); with CheckFreed it reads zero, as CheckFreed
// checks it does. Use it where every byte is written before it is read;
// it saves touching a whole block (a 516-byte block on average in W2)
// that the caller is about to fill anyway. The same errors as Alloc.
func (f *FreeList) Malloc(size, al uintptr) (unsafe.Pointer, error) {
	if p, _ := f.st.allocFast(size, al); p != nil {
		return p, nil
	}
	if f.st == nil {
		return nil, errNoArena("FreeList")
	}
	return f.st.alloc(size, al, false)
}

// alloc is Alloc, clearing a reused block if zero is set, else Malloc.
func (st *flState) alloc(size, al uintptr, zero bool) (unsafe.Pointer, error) {
	if invariantsEnabled {
		defer st.debugCheck()
	}
	if !align.IsPowerOfTwo(al) {
		return nil, errAlign(al)
	}
	if al > maxFreeListAlign {
		return nil, errs.New(align.ErrAlignment, unix.ENOMEM, "arena: alignment %d is larger than the 1 GiB a free-list arena can align to", al)
	}
	if st.closed {
		return nil, ErrClosed
	}
	if st.frozen {
		return nil, ErrFrozen
	}
	if size == 0 {
		return zeroSized(), nil
	}
	if st.smp != nil && st.smp.tick() {
		if p := st.smp.alloc(size, al); p != nil {
			st.requested += uint64(size)
			st.allocs++
			return p, nil
		}
	}
	if al <= maxAlign {
		if c := classFor(size, al); c >= 0 {
			p, err := st.allocSmall(c, zero)
			if err == nil {
				st.requested += uint64(size)
				st.allocs++
				st.tick()
			}
			return p, err
		}
	}
	p, err := st.allocLarge(size, al, zero)
	if err == nil {
		st.requested += uint64(size)
		st.allocs++
		st.tick()
	}
	return p, err
}

// maxFreeListAlign is the largest alignment a FreeList serves.
const maxFreeListAlign = 1 << 30

// checkLimit returns ErrLimit if mapping n more bytes would pass the
// limit. When giving back cached large blocks would make the room, it
// gives back the oldest until it does; when even an empty cache would
// not, it changes nothing.
func (st *flState) checkLimit(n uintptr) error {
	lim := uintptr(st.opts.Limit)
	over := func() bool { return lim > 0 && (st.mapped > lim || n > lim-st.mapped) }
	if kept := st.mapped - st.lc.bytes; over() && kept <= lim && n <= lim-kept {
		for over() {
			st.evictLarge(1) // the oldest: a few system calls beside the mapping
		}
	}
	if over() {
		return errLimit(st.name, n, st.mapped, lim)
	}
	return nil
}

// Free returns the block at p to the arena; its memory may be handed out
// again. Free(nil) and freeing a zero-size allocation do nothing. It
// returns ErrDoubleFree for a block that is not allocated, ErrInvalidFree
// for a pointer inside the arena's memory that is not a block's start,
// ErrNotOwned for a pointer the arena never handed out, and ErrClosed
// after Close; each leaves the arena unchanged. A large block (one with
// a mapping of its own) goes to the cache, where freeing it again is
// ErrDoubleFree; once out of it, it is remembered among the last 256,
// so that freeing it again is ErrDoubleFree even if another arena or
// mapping got its address range since; longer ago, it is ErrNotOwned.
// Which double frees cannot be caught is told in the FreeList doc. O(1) in the number of live blocks, chunks and large
// blocks: a small block's span is found through the page map and its
// index by a multiply; a large block by its address, and a pointer into
// one among the few large blocks sharing its 4 MiB granule.
func (f *FreeList) Free(p unsafe.Pointer) error {
	st, addr := f.st, uintptr(p)
	if st == nil || !st.fast {
		return f.free(p)
	}
	// Each test below is one of the general path's: an address in no
	// chunk (nil, a large or sampled block, another arena's), in units
	// no span holds, inside a block or past the span's last, or whose
	// block is free. Any of them hands the address to free, which says
	// which error it is.
	ch := st.chunkAt(addr)
	if ch == nil {
		return f.free(p)
	}
	s := ch.units[(addr-ch.addr)/spanUnit%unitsPer].Load() // addr-ch.addr < chunkBytes: the granule is the chunk's
	if s == nil {
		return f.free(p)
	}
	// The class, read once: the stores below could change it, for all
	// the compiler knows, and it would read and check it again.
	c := s.class
	q, r := divide(addr-uintptr(s.base), classSize[c], classRecip[c]) // < 256 KiB: addr is in s
	if r != 0 || q >= uintptr(classBlocks[c]) {
		return f.free(p)
	}
	w, bit := &s.bits[q/64], uint64(1)<<(q%64)
	if *w&bit == 0 {
		return f.free(p)
	}
	// Free it: its word has a free block now, whatever it had before.
	*w &^= bit
	s.avail[q>>12&1] |= 1 << (q / 64 % 64)
	s.used--
	cl := &st.classes[c]
	cl.inUse--
	st.frees++
	// A span that was full goes back on its class's partial list, on
	// top, so the class's next Alloc takes this very block; one now
	// empty may give its pages back (emptied, release). pushPartial
	// spelled out, with the class already read.
	if s.partialAt < 0 {
		s.partialAt = int32(len(cl.partial))
		cl.partial = append(cl.partial, s)
	}
	if s.used == 0 {
		st.emptied(s)
	}
	if st.ops++; st.ops >= publishEvery {
		st.refresh(false)
	}
	if invariantsEnabled {
		st.debugCheck()
	}
	return nil
}

// free is Free for every case.
func (f *FreeList) free(p unsafe.Pointer) error {
	st := f.st
	if st == nil {
		return errNoArena("FreeList")
	}
	if invariantsEnabled {
		defer st.debugCheck()
	}
	if p == nil || p == zeroSized() {
		return nil
	}
	if st.closed {
		return ErrClosed
	}
	if st.frozen {
		return ErrFrozen
	}
	s, i, err := st.find(p)
	if err == errSampled {
		status, err := st.smp.pool.Free(p)
		if status == hardened.Freed { // freed, even with a report of an overflow
			st.frees++
		}
		return freeError(status, err)
	}
	if err != nil {
		return err
	}
	if s == nil {
		return st.freeLarge(p)
	}
	st.freeSmall(s, i, p)
	return nil
}

// freeSmall frees block i of s, at p, which is allocated. O(1) but for
// emptied's system call.
func (st *flState) freeSmall(s *span, i uint32, p unsafe.Pointer) {
	st.frees++
	st.tick()
	s.bits[i/64] &^= 1 << (i % 64)
	s.used--
	s.avail[i/4096] |= 1 << (i / 64 % 64)
	st.classes[s.class].inUse--
	if st.opts.CheckFreed {
		clearBytes(p, s.blockSize())
	}
	if s.partialAt < 0 {
		st.pushPartial(s)
	}
	if s.used == 0 {
		st.emptied(s)
	}
}

// errSampled is find's answer for a pointer into a sampled block, which
// the sampler deals with.
var errSampled = errors.New("arena: sampled block")

// find locates the allocated block at p: its span and index, or a nil
// span for a large block; errSampled if p is in a sampled block's pages. It returns the error Free should give for any
// pointer that is not an allocated block's start.
func (st *flState) find(p unsafe.Pointer) (*span, uint32, error) {
	addr := uintptr(p)
	if ch := st.chunkAt(addr); ch != nil {
		off := addr - ch.addr
		if off >= chunkBytes {
			return nil, 0, fmt.Errorf("%w: %#x is in a guard page of %q", ErrInvalidFree, addr, st.name)
		}
		u := off / spanUnit
		s := ch.units[u].Load()
		if s == nil {
			// Free units: a block of the span that was here may be
			// freed a second time, or the pointer is just wrong.
			if c := ch.last[u]; c >= 0 {
				if _, r := divide(off-u*spanUnit, classSize[c], classRecip[c]); r == 0 {
					return nil, 0, fmt.Errorf("%w: %#x in %q (its span was emptied and released)", ErrDoubleFree, addr, st.name)
				}
			}
			return nil, 0, fmt.Errorf("%w: %#x is in free pages of %q", ErrInvalidFree, addr, st.name)
		}
		q, r := divide(off-s.off, s.blockSize(), classRecip[s.class]) // off-s.off < 256 KiB
		if r != 0 || q >= uintptr(s.blocks()) {
			return nil, 0, fmt.Errorf("%w: %#x is %d bytes into a %d-byte block of %q", ErrInvalidFree, addr, r, s.blockSize(), st.name)
		}
		i := uint32(q)
		if s.bits[i/64]&(1<<(i%64)) == 0 {
			return nil, 0, fmt.Errorf("%w: %d-byte block at %#x in %q", ErrDoubleFree, s.blockSize(), addr, st.name)
		}
		if st.retired > 0 {
			if _, ok := st.withdrawn[addr]; ok {
				return nil, 0, fmt.Errorf("%w: %d-byte block at %#x in %q was freed, written after free, and withdrawn",
					ErrDoubleFree, s.blockSize(), addr, st.name)
			}
		}
		return s, i, nil
	}
	if b, ok := st.large[addr]; ok {
		if b.cached {
			return nil, 0, fmt.Errorf("%w: %#x is a %d-byte large block of %q, already freed (cached for reuse)", ErrDoubleFree, addr, b.size, st.name)
		}
		return nil, 0, nil
	}
	if st.smp != nil && st.smp.pool.Holds(addr) {
		return nil, 0, errSampled
	}
	// A large block freed lately, wherever its range went since: O(1),
	// before the scan for interior pointers.
	if b, ok := st.freedLarge[addr]; ok {
		return nil, 0, fmt.Errorf("%w: %#x was a %d-byte large block of %q, already freed", ErrDoubleFree, addr, b.size, st.name)
	}
	if b := st.largeAt(addr); b != nil {
		freed := ""
		if b.cached {
			freed = ", freed"
		}
		return nil, 0, fmt.Errorf("%w: %#x is %d bytes into a %d-byte block of %q%s", ErrInvalidFree, addr, addr-b.addr, b.size, st.name, freed)
	}
	return nil, 0, fmt.Errorf("%w: %#x", ErrNotOwned, addr)
}

// UsableSize returns how many bytes the block at p holds: its class size,
// or its mapping's whole pages. It returns the errors Free would.
func (f *FreeList) UsableSize(p unsafe.Pointer) (uintptr, error) {
	st := f.st
	switch {
	case st == nil:
		return 0, errNoArena("FreeList")
	case st.closed:
		return 0, ErrClosed
	}
	if p == nil || p == zeroSized() {
		return 0, nil
	}
	s, _, err := st.find(p)
	switch {
	case err == errSampled:
		n, status, err := st.smp.pool.Size(p)
		return n, freeError(status, err)
	case err != nil:
		return 0, err
	case s == nil:
		return st.large[uintptr(p)].size, nil
	}
	return s.blockSize(), nil
}

// Realloc resizes the block at p to n bytes, keeping min(old, n) bytes of
// its contents, and returns where it now is. It stays in place when its
// block still fits n (bytes from n to the block's end are zeroed, so
// growing again reads zero); otherwise it allocates, copies and frees.
// A large block moving to a large size is not copied where the system
// can move pages (Linux: guard's Region.MoveTo, mremap): its pages move
// to the new block whatever their number (BenchmarkRealloc: ten
// doublings from 256 KiB to 256 MiB in about 2 ms, against about 200 ms
// for Alloc, copy and Free); the old block, its moved pages now reading
// zero, goes to the cache.
// A moved block is aligned to 16, as C's realloc promises; a block that
// needs more should be moved with Alloc and copy. Realloc(nil, n)
// allocates; Realloc(p, 0) frees p and returns nil. On error the old
// block is untouched and still allocated.
func (f *FreeList) Realloc(p unsafe.Pointer, n uintptr) (unsafe.Pointer, error) {
	if f.st == nil {
		return nil, errNoArena("FreeList")
	}
	if p == nil || p == zeroSized() {
		return f.Alloc(n, 16)
	}
	if f.st.frozen && !f.st.closed {
		return nil, ErrFrozen // even in place, a Realloc writes
	}
	old, err := f.UsableSize(p)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, f.Free(p)
	}
	if n <= old && (n > old/2 || old <= 16) && (f.st.smp == nil || !f.st.smp.pool.Owns(p)) {
		clearBytes(add(p, n), old-n)
		return p, nil
	}
	if q, ok, err := f.st.reallocLarge(p, old, n); ok {
		return q, err
	}
	q, err := f.Alloc(n, 16)
	if err != nil {
		return nil, err
	}
	copy(bytesOf(q, int(min(old, n))), bytesOf(p, int(min(old, n))))
	return q, f.Free(p)
}

// Calloc allocates n elements of size bytes, zeroed and aligned to 16, as
// C's calloc does, and returns ErrSize (and unix.ENOMEM) when n*size
// overflows.
func (f *FreeList) Calloc(n, size uintptr) (unsafe.Pointer, error) {
	hi, total := bits.Mul64(uint64(n), uint64(size))
	if hi != 0 || total > math.MaxInt {
		return nil, errTooLarge("calloc of %d elements of %d bytes overflows", n, size)
	}
	return f.Alloc(uintptr(total), 16)
}

// Freeze makes every chunk and large block read-only (PROT_READ): the
// blocks can still be read, by any number of goroutines, but a stray
// write faults and guard names the page "read-only page, frozen". Alloc,
// Free and Realloc return ErrFrozen until Thaw. It returns ErrClosed after
// Close, or the first system-call error, having thawed what it froze.
func (f *FreeList) Freeze() error {
	st := f.st
	switch {
	case st == nil:
		return errNoArena("FreeList")
	case st.closed:
		return ErrClosed
	case st.frozen:
		return nil
	}
	var done []*guard.Region
	undo := func() {
		for _, d := range done {
			if d.Thaw(0, d.Size()) != nil {
				st.setFlags(st.closed, true) // a mapping stays read-only: refuse writes until Thaw
			}
		}
	}
	each := func(r *guard.Region, n int) error {
		if err := r.Freeze(0, n); err != nil {
			undo()
			return fmt.Errorf("arena: freeze %q: %w", st.name, err)
		}
		done = append(done, r)
		return nil
	}
	for _, ch := range st.chunks {
		if err := each(ch.r, chunkBytes); err != nil {
			return err
		}
	}
	for _, b := range st.large {
		if b.cached {
			continue // not handed out, and Alloc is refused until Thaw
		}
		if err := each(b.r, int(b.size)); err != nil {
			return err
		}
	}
	if st.smp != nil {
		if err := st.smp.pool.Freeze(); err != nil {
			_ = st.smp.pool.Thaw()
			undo()
			return fmt.Errorf("arena: freeze %q: %w", st.name, err)
		}
	}
	st.setFlags(st.closed, true)
	return nil
}

// Thaw makes a frozen FreeList writable again. If the kernel refuses for
// a mapping, Thaw returns the error and the arena stays frozen; Thaw may
// be called again.
func (f *FreeList) Thaw() error {
	st := f.st
	switch {
	case st == nil:
		return errNoArena("FreeList")
	case st.closed:
		return ErrClosed
	case !st.frozen:
		return nil
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = fmt.Errorf("arena: thaw %q: %w", st.name, err)
		}
	}
	for _, ch := range st.chunks {
		keep(ch.r.Thaw(0, chunkBytes))
	}
	for _, b := range st.large {
		if !b.cached {
			keep(b.r.Thaw(0, int(b.size)))
		}
	}
	if st.smp != nil {
		keep(st.smp.pool.Thaw())
	}
	st.setFlags(st.closed, first != nil) // a mapping left read-only keeps writes refused; Thaw again
	return first
}

// Close gives every chunk and large block back; afterwards every call
// returns ErrClosed and Close returns nil again. As with Bump.Close, the
// pages are dropped but the address ranges wait, fenced, in guard's
// quarantine, so a pointer kept past Close faults and hardened.Catch names it a use
// after close with the Close call site. A FreeList dropped without Close
// is reported (SetLeakHandler) and keeps its memory. In hardened mode (Options.Sample)
// blocks never freed are reported first to the leak handler, as a
// LeakReport whose Unfreed lists them (see SetLeakHandler).
func (f *FreeList) Close() error {
	if f.st == nil {
		return errNoArena("FreeList")
	}
	if f.st.closed {
		return nil
	}
	if f.st.smp != nil {
		if u := f.Unfreed(); u.Blocks > 0 {
			reportLeak(LeakReport{Name: f.st.name, Kind: "freelist", Site: site(f.st.site), Unfreed: &u})
		}
	}
	f.cl.Stop()
	f.st.gen++
	return f.st.close(closeSite())
}

// close retires every mapping into guard's quarantine, naming pcs as the
// Close site.
func (st *flState) close(pcs *[4]uintptr) error {
	st.setFlags(true, st.frozen)
	unregister(st.id)
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, ch := range st.chunks {
		keep(retireRegion(ch.r, hardened.KindUseAfterClose, pcs))
	}
	for _, b := range st.large {
		keep(retireRegion(b.r, hardened.KindUseAfterClose, pcs))
	}
	if st.smp != nil {
		keep(st.smp.pool.Close())
	}
	st.chunks, st.large, st.current, st.withdrawn = nil, nil, nil, nil
	st.freedLarge, st.freedRing, st.ranges = nil, nil, nil
	st.lc = largeCache{}
	st.chunkMap, st.largeMap = granuleMap[*flChunk]{}, granuleMap[[]*largeBlock]{}
	st.classes = [numClasses]flClass{}
	st.free = [2][]spanSlot{}
	st.waiting, st.waitingBytes = nil, 0
	st.mapped, st.inUse = 0, 0
	return first
}

// Unfreed lists the blocks allocated and not freed: how many, their
// bytes (at block size; sampled blocks at their requested size), and,
// for the sampled ones (Options.Sample), where each was allocated. O(live
// sampled blocks + classes).
func (f *FreeList) Unfreed() Unfreed {
	st := f.st
	if st == nil {
		return Unfreed{} // the zero FreeList
	}
	u := Unfreed{Name: st.name, Blocks: len(st.large), Bytes: uint64(st.inUseBytes())}
	for c := range st.classes {
		u.Blocks += int(st.classes[c].inUse)
	}
	u.Blocks -= st.lc.n // cached large blocks were freed
	if st.smp != nil {
		u.Sampled = st.smp.pool.Unfreed()
		u.Blocks += len(u.Sampled)
		for _, b := range u.Sampled {
			u.Bytes += uint64(b.Size)
		}
	}
	return u
}

// leaked runs when a FreeList became unreachable without Close. It
// reports the leak and unmaps nothing (see LeakReport).
func (st *flState) leaked() {
	if st.closed {
		return
	}
	markLeaked(st.slot)
	reportLeak(LeakReport{Name: st.name, Kind: "freelist", Site: site(st.site), Chunks: len(st.chunks) + len(st.large), Bytes: uint64(st.mapped)})
}

// Name returns the arena's name.
func (f *FreeList) Name() string {
	if f.st == nil {
		return ""
	}
	return f.st.name
}

// State returns the arena's generation, which changes when memory the
// arena handed out stops being valid wholesale, at Close (a FreeList has
// no Reset), and nil, ErrFrozen while Freeze has made it read-only, or
// ErrClosed after Close, as Bump.State does. O(1).
func (f *FreeList) State() (generation uint64, err error) {
	st := f.st
	switch {
	case st == nil:
		return 0, errNoArena("FreeList")
	case st.closed:
		return st.gen, ErrClosed
	case st.frozen:
		return st.gen, ErrFrozen
	}
	return st.gen, nil
}
