package arena

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
	"weak"
)

// A Shared is a bump arena that many goroutines may allocate from at once.
// Allocation takes bytes from the slab of the P (the scheduler's
// processor) the goroutine runs on, pinned there while it moves the
// slab's offset: no lock, no locked instruction, no system call, no Go
// heap allocation. Two goroutines running at once run on two Ps, so
// they never touch the same slab's line (one shared offset made two
// goroutines 3.5x slower than one, in BenchmarkConcurrent; a slab picked
// by the goroutine's stack address still collided now and then). Ps
// past the sixteenth share one more slab, which a compare-and-swap keeps
// correct. Slabs are cut from chunks under a mutex, one 64 KiB slab at a
// time; at most one partly used slab per P is left over at Reset.
//
// Alloc, New, MakeSlice, String, Bytes and Stats are safe for concurrent
// use. Reset, Trim and Close are not: call them when no allocation is in
// flight (between requests, say), as one closes a file nobody reads.
// Shared does not count allocations (Stats.Allocs and Requested stay 0),
// and its InUse counts whole slabs handed to shards. Make a Shared with
// NewShared; the zero Shared's methods return ErrNoArena, or do nothing.
// A Shared must not be copied after first use.
type Shared struct {
	_      noCopy
	shards [shards]shard
	spill  shard // the slab of every P from the shards' number on, shared

	mu     sync.Mutex // guards st; held to cut slabs and change chunks
	st     *bumpState
	gen    atomic.Uint64 // Reset and Close so far: see State
	closed atomic.Bool   // st.closed, for State without the lock
	cl     runtime.Cleanup
}

const (
	shards = 16 // power of two; several per core of a large machine
	// slabSize is what a shard takes from a chunk at once; allocations
	// above slabSize/4 are cut from the chunk directly.
	slabSize = 64 << 10
)

// A shard is a slot for the current slab of the goroutines that hash to
// it, padded to a cache line of its own.
type shard struct {
	cur atomic.Pointer[slab]
	_   [56]byte
}

// A slab is a run of a chunk that one shard allocates from; it reads as
// zero when it is handed to the shard.
type slab struct {
	base unsafe.Pointer // first byte
	size uintptr
	// next is the next free byte, from base; next <= size. Only the
	// goroutines of the shard's P touch it: plainly when the shard is
	// theirs alone, with atomics on the spill shard and in race builds
	// (see Alloc).
	next uintptr
}

// NewShared returns an empty arena safe for concurrent allocation, with
// the same options as NewBump.
func NewShared(opts *Options) (*Shared, error) {
	st, err := newState(kindShared, opts, callerPC(1))
	if err != nil {
		return nil, err
	}
	s := &Shared{st: st}
	s.cl = runtime.AddCleanup(s, (*bumpState).leaked, st)
	// TakeSnapshot asks the arena under its mutex, which every change of
	// its numbers holds, so a Shared is never shown behind. The registry
	// holds it weakly, as it does a SyncFreeList, so that one dropped
	// without Close is still reported; its last published numbers then
	// stand.
	w := weak.Make(s)
	registerAt(Summary{Name: st.name, Kind: st.kind}, st.site, func() Summary {
		s := w.Value()
		if s == nil {
			return st.published() // leaked: as of its last change
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !st.closed {
			s.publish()
		}
		sum := st.published()
		sum.Updated = time.Now()
		return sum
	}, &st.id, &st.slot)
	return s, nil
}

// Alloc returns size bytes of zeroed memory aligned to align, as
// Bump.Alloc does, and is safe to call from many goroutines at once.
func (s *Shared) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	if al&(al-1) != 0 || al-1 >= maxAlign {
		return nil, errAlign(al)
	}
	if size == 0 || size > slabSize/4 {
		return s.allocLocked(size, al)
	}
	for {
		// The P's shard, pinned for the few instructions that use it.
		// Invariant: shard i < shards is used only by goroutines pinned
		// to P i, and a pinned goroutine is the only one running on its
		// P, so no two goroutines touch a shard's slab at once; a P
		// handed from one thread to another passes through the
		// scheduler's locks, which order the slab's bytes as they order
		// the runtime's own per-P caches. Its offset then moves with a
		// plain load and store, no locked instruction (the CAS it took
		// cost 44% of BenchmarkConcurrent's Shared). The spill shard of
		// the Ps past shards, which several Ps share, takes a CAS, as
		// every shard does in race builds, so that the race detector
		// checks the rest without knowing of pinning.
		pid := uint(procPin())
		sh, alone := &s.spill, false
		if pid < shards {
			sh, alone = &s.shards[pid], !raceEnabled
		}
		sl := sh.cur.Load()
		if sl != nil {
			var old uintptr
			if alone {
				old = sl.next
			} else {
				old = atomic.LoadUintptr(&sl.next)
			}
			// A slab starts wherever the chunk had got to, so the
			// alignment is of the address, not of the offset.
			base := uintptr(sl.base)
			start := (base+old+al-1)&^(al-1) - base
			if start <= sl.size && size <= sl.size-start {
				ok := true
				if alone {
					sl.next = start + size
				} else {
					ok = atomic.CompareAndSwapUintptr(&sl.next, old, start+size)
				}
				procUnpin()
				if !ok {
					continue // another P took those bytes; try again
				}
				return add(sl.base, start), nil
			}
		}
		procUnpin() // refill takes a mutex, which may block
		if err := s.refill(sh, sl); err != nil {
			return nil, err
		}
	}
}

// refill gives sh a new slab, unless another goroutine already replaced
// full.
func (s *Shared) refill(sh *shard, full *slab) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.st == nil:
		return errNoArena("Shared")
	case s.st.closed:
		return ErrClosed
	}
	if sh.cur.Load() != full {
		return nil
	}
	sl, err := s.cut(slabSize, 1)
	if err != nil {
		return err
	}
	sh.cur.Store(sl)
	s.publish()
	return nil
}

// allocLocked serves zero-size and large allocations straight from the
// current chunk.
func (s *Shared) allocLocked(size, al uintptr) (unsafe.Pointer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.st == nil:
		return nil, errNoArena("Shared")
	case s.st.closed:
		return nil, ErrClosed
	}
	if size == 0 {
		return zeroSized(), nil
	}
	sl, err := s.cut(size, al)
	if err != nil {
		return nil, err
	}
	return sl.base, nil
}

// cut takes size bytes aligned to al from the current chunk, moving to a
// kept or new chunk when it has no room, and clears any of them that a
// Reset left dirty. s.mu must be held.
func (s *Shared) cut(size, al uintptr) (*slab, error) {
	st := s.st
	for {
		if st.cur >= 0 {
			c := st.chunks[st.cur]
			old := c.next.Load()
			start := (old + al - 1) &^ (al - 1)
			if start <= c.size && size <= c.size-start {
				c.next.Store(start + size)
				sl := &slab{base: add(c.base, start), size: size}
				if c.dirty > start {
					clearBytes(sl.base, min(c.dirty-start, size))
				}
				return sl, nil
			}
		}
		if _, err := st.advance(size, func() {}); err != nil {
			return nil, err
		}
		s.publish() // a new or reused chunk: the registry's summary follows, as Bump's does
	}
}

// Reset frees every allocation at once, as Bump.Reset does. It must not
// run while any goroutine allocates.
func (s *Shared) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if st == nil || st.closed {
		return
	}
	st.resets++
	s.gen.Add(1)
	st.peak = max(st.peak, s.inUse())
	for i := range s.shards {
		s.shards[i].cur.Store(nil)
	}
	s.spill.cur.Store(nil)
	for _, c := range st.chunks[:st.cur+1] {
		c.dirty = max(c.dirty, c.next.Load())
		c.next.Store(0)
	}
	st.recycle()
	st.cur = -1
	if len(st.chunks) > 0 {
		st.cur = 0
	}
	s.publish()
}

// inUse adds up the bytes handed out since the last Reset. s.mu must be
// held.
func (s *Shared) inUse() uintptr {
	var n uintptr
	for _, c := range s.st.chunks[:s.st.cur+1] {
		n += min(c.next.Load(), c.size)
	}
	return n
}

// Trim unmaps the chunks kept for reuse. It must not run while any
// goroutine allocates.
func (s *Shared) Trim() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	switch {
	case st == nil:
		return errNoArena("Shared")
	case st.closed:
		return ErrClosed
	}
	err := st.dropKept()
	s.publish()
	return err
}

// Close gives every chunk back, as Bump.Close does (their ranges wait,
// fenced, in guard's quarantine); afterwards allocations return
// ErrClosed. It must not run while any goroutine allocates. A second
// Close returns nil.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.st == nil:
		return errNoArena("Shared")
	case s.st.closed:
		return nil
	}
	s.cl.Stop()
	for i := range s.shards {
		s.shards[i].cur.Store(nil)
	}
	s.spill.cur.Store(nil)
	s.gen.Add(1)
	s.closed.Store(true)
	return s.st.close(closeSite())
}

// Name returns the arena's name.
func (s *Shared) Name() string {
	if s.st == nil {
		return ""
	}
	return s.st.name
}

// State returns the arena's generation, which changes at every Reset and
// at Close, and nil, or ErrClosed after Close, as Bump.State does (a
// Shared cannot be frozen). Safe for concurrent use.
func (s *Shared) State() (generation uint64, err error) {
	g := s.gen.Load()
	if s.closed.Load() {
		return g, ErrClosed
	}
	if s.st == nil {
		return g, errNoArena("Shared")
	}
	return g, nil
}

// Stats returns the arena's statistics; Allocs and Requested are not
// counted by a Shared.
func (s *Shared) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if st == nil {
		return Stats{} // the zero Shared
	}
	inUse := uint64(s.inUse())
	out := Stats{
		Name: st.name, Kind: st.kind, InUse: inUse, Peak: max(uint64(st.peak), inUse),
		Committed: uint64(st.mapped), Resets: st.resets, Closed: st.closed,
	}
	st.addChunkStats(&out)
	if !st.closed {
		s.publish()
	}
	return out
}

// String returns Stats().String(): the arena as a small table.
func (s *Shared) String() string {
	if s.st == nil {
		return zeroString("Shared")
	}
	return s.Stats().String()
}

// publish stores the Shared's numbers for the registry: a few atomic
// stores, and a new list of ranges when the chunks changed. s.mu must be
// held.
func (s *Shared) publish() {
	if s.st.slot != nil {
		s.st.publish(uint64(s.inUse()), 0)
	}
}
