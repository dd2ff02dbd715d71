package arena

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"
)

// A SyncFreeList is a FreeList safe for concurrent use, sharded so that
// goroutines running on different cores do not wait for each other. A
// block allocated by one goroutine may be freed by any other.
//
// Small blocks come from shards, up to one per P (GOMAXPROCS at
// NewSyncFreeList; Ps past that share shards): one is in use until two
// goroutines running at once meet on its mutex, and every collision
// after that doubles those in use, so a lone goroutine keeps its blocks
// on one shard wherever the scheduler runs it. A goroutine allocates
// from its P's shard, taking only that shard's mutex, which no other
// core wants, so Alloc and Free cost an uncontended lock. A block whose
// shard's mutex another goroutine holds is freed with one atomic
// operation and goes back to its shard when that shard next allocates
// (freelist_shard.go tells how). Large blocks, zero sizes, and everything of an arena with
// Options.Limit, CheckFreed or Sample, which need one view of the
// whole arena, are served by one FreeList under one mutex.
//
// A burst on one goroutine costs the others nothing but the system
// calls it makes: its shard maps chunks of its own. What a shard frees
// only that shard hands out again; the pages of its empty spans go back
// to the OS as a FreeList's do, but each shard keeps, per size class, a
// span it is allocating from and an empty spare: up to two spans (64
// KiB, or 256 KiB above 8 KiB blocks) per class it used, per shard.
// Trim gives the empty ones back. Stats adds the shards up, after each
// has collected the frees other shards left it, so its numbers are
// exact; Stats.Shards shows each.
//
// Double, interior and foreign frees are refused as a FreeList's are,
// and two goroutines freeing one block at once get one nil and one
// ErrDoubleFree. Stats, TakeSnapshot, Trim and Close take every mutex.
// Make one with NewSyncFreeList; the zero SyncFreeList's methods return
// ErrNoArena, or do nothing. A SyncFreeList must not be copied after
// first use.
type SyncFreeList struct {
	mu sync.Mutex // guards f
	f  *FreeList  // large blocks, and everything when shards is nil

	shards []flShard // nil when one FreeList serves everything
	// route maps a P (its id modulo len(route)) to the index of its
	// shard: P i to shard i%active, where active, the number of shards
	// in use, starts at 1 and only grows (see grow).
	route   []atomic.Uint32
	growMu  sync.Mutex   // serialises grow
	active  atomic.Int32 // shards in use: 1 to len(shards)
	locking atomic.Int32 // lockAlls under way: their TryLock failures are no collisions
	index   chunkIndex
	mapMu   sync.Mutex  // serialises index.file
	closed  atomic.Bool // Close began
}

// NewSyncFreeList returns an empty free-list arena safe for concurrent
// use, with the options NewFreeList takes. With Limit, CheckFreed or
// Sample set it is not sharded: one FreeList under one mutex.
func NewSyncFreeList(opts *Options) (*SyncFreeList, error) {
	return newSyncFreeList(opts, runtime.GOMAXPROCS(0), callerPC(1))
}

// newSyncFreeList is NewSyncFreeList with n shards, naming pc as the
// call site that made it.
func newSyncFreeList(opts *Options, n int, pc uintptr) (*SyncFreeList, error) {
	f, err := newFreeList(opts, pc)
	if err != nil {
		return nil, err
	}
	s := &SyncFreeList{f: f}
	if o := f.st.opts; o.Limit == 0 && f.st.plain {
		s.shards = make([]flShard, max(n, 1))
		file := func(ch *flChunk) {
			s.mapMu.Lock()
			s.index.file(ch)
			s.mapMu.Unlock()
		}
		for i := range s.shards {
			s.shards[i].st = newShardState(o, i, f.st.site, file)
			s.shards[i].solo.Store(true)
		}
		s.route = make([]atomic.Uint32, len(s.shards))
		s.active.Store(1) // every route 0
	}
	// TakeSnapshot asks the arena under its locks, so a busy SyncFreeList
	// is never shown behind. The registry holds it weakly: a
	// SyncFreeList dropped without Close must still become unreachable,
	// for its leak to be reported; from then on its last published
	// counters stand.
	st, w := f.st, weak.Make(s)
	setLive(st.id, func() Summary {
		if s := w.Value(); s != nil {
			s.lockAll()
			defer s.unlockAll()
			if !st.closed {
				return s.summary()
			}
		}
		return st.published()
	})
	return s, nil
}

// lockAll takes every mutex, the central one first, then the shards' in
// order: the one order anything holding two of them takes them in.
func (s *SyncFreeList) lockAll() {
	s.locking.Add(1)
	s.mu.Lock()
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
}

// unlockAll releases what lockAll took.
func (s *SyncFreeList) unlockAll() {
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
	s.mu.Unlock()
	s.locking.Add(-1)
}

// summary is the registry's row: the central FreeList's, plus the
// shards'. Every mutex must be held.
func (s *SyncFreeList) summary() Summary {
	sum := s.f.st.summary()
	for i := range s.shards {
		st := s.shards[i].st
		s.shards[i].collect()
		sum.InUse += uint64(st.inUseBytes())
		sum.Committed += uint64(st.mapped)
		sum.Allocs += st.allocs
		sum.Chunks += len(st.chunks)
		sum.Ranges = append(sum.Ranges, st.mappingRanges()...)
		sum.Classes = mergeClasses(sum.Classes, st.classStats())
		sum.Shards = append(sum.Shards, st.shardStats())
	}
	if len(s.shards) > 0 {
		sum.Ranges = sortedRanges(sum.Ranges)
	}
	return sum
}

// shard returns the calling goroutine's shard, pinning it to its P:
// the caller must procUnpin.
func (s *SyncFreeList) shard() *flShard {
	i, n := uint(procPin()), uint(len(s.route))
	if i >= n {
		i %= n // a P added since NewSyncFreeList: the division only then
	}
	return &s.shards[s.route[i].Load()]
}

// lockShard returns the calling goroutine's shard and whether it took
// its mutex (a TryLock). With one shard in use it is shard 0, and the
// goroutine is not pinned: were the shards to grow meanwhile, shard 0
// would still be a right one to allocate from, as any shard is under its
// mutex.
func (s *SyncFreeList) lockShard() (h *flShard, locked bool) {
	if s.active.Load() == 1 {
		h = &s.shards[0]
		return h, h.mu.TryLock()
	}
	h = s.shard()
	locked = h.mu.TryLock()
	procUnpin() // pinned only to read the P and to TryLock: see pin.go
	return h, locked
}

// collided is called when a goroutine found the mutex of its shard h
// held by someone else: two goroutines running at once share h, so the
// shards in use double (up to one per P), unless a lockAll holds it (no
// collision), or h is no longer shared (a collision counted already). A lone goroutine never collides with
// itself, and so stays on one shard however often the scheduler moves
// it between Ps: its blocks are never spread over shards, nor freed from
// a shard that is not theirs.
func (s *SyncFreeList) collided(h *flShard) {
	n := s.active.Load()
	if int(h.st.owner)+int(n) >= len(s.route) || s.locking.Load() != 0 {
		return // h is P owner's alone (no P owner+n), or lockAll holds it
	}
	s.grow(n)
}

// grow doubles the shards in use, up to len(s.shards), if n are in use. A block's shard is the one of
// its chunk for its whole life, so the blocks already handed out stay
// where they are: only where new ones come from changes.
func (s *SyncFreeList) grow(n int32) {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	if s.active.Load() != n || int(n) >= len(s.shards) {
		return // another collision grew them meanwhile, or all are in use
	}
	if n == 1 {
		// The shards' solo time ends before any P is routed to a second
		// one: from then on a block may be freed while another goroutine
		// holds its shard's mutex.
		for i := range s.shards {
			h := &s.shards[i]
			h.mu.Lock()
			h.share()
			h.mu.Unlock()
		}
	}
	m := min(2*n, int32(len(s.shards)))
	for p := range s.route {
		s.route[p].Store(uint32(p) % uint32(m))
	}
	s.active.Store(m)
}

// Alloc is FreeList.Alloc, safe for concurrent use. A small block comes
// from the goroutine's shard (the clear of a reused one after its mutex
// is released, as the block is the caller's alone by then); others from
// the central FreeList. A Close that runs between the Unlock and the
// clear makes the clear a use after close, as the caller's first write
// to the block would be.
func (s *SyncFreeList) Alloc(size, align uintptr) (unsafe.Pointer, error) {
	if s.shards != nil { // alloc's fast path, spelled out: one call less
		h, locked := s.lockShard()
		if locked {
			if h.remote.Load() == nil {
				if p, dirty := h.st.allocFast(size, align); p != nil {
					h.mu.Unlock()
					clearBytes(p, dirty)
					return p, nil
				}
			}
			return s.allocOn(h, true, size, align, true)
		}
		s.collided(h)
		return s.allocOn(h, false, size, align, true)
	}
	return s.alloc(size, align, true)
}

// Malloc is FreeList.Malloc, safe for concurrent use: a block whose
// bytes are unspecified (old bytes of this arena, never another
// process's).
func (s *SyncFreeList) Malloc(size, align uintptr) (unsafe.Pointer, error) {
	return s.alloc(size, align, false)
}

// alloc is Alloc, or Malloc when zero is false.
func (s *SyncFreeList) alloc(size, al uintptr, zero bool) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	if s.shards == nil {
		return s.allocCentral(size, al, zero)
	}
	h, locked := s.lockShard()
	if !locked {
		s.collided(h)
	}
	return s.allocOn(h, locked, size, al, zero)
}

// allocOn is alloc from shard h, whose mutex the caller holds if locked.
func (s *SyncFreeList) allocOn(h *flShard, locked bool, size, al uintptr, zero bool) (unsafe.Pointer, error) {
	if locked {
		if h.remote.Load() != nil {
			h.collect()
		}
		if p, dirty := h.st.allocFast(size, al); p != nil {
			h.mu.Unlock()
			if zero {
				clearBytes(p, dirty)
			}
			return p, nil
		}
		h.mu.Unlock()
	}
	return s.allocSlow(h, size, al, zero)
}

// allocSlow is alloc for what the fast path left: a small block when
// the shard's mutex was busy or its class needs a span, with the mutex
// taken as any other (the goroutine no longer pinned, as cutting a span
// may make system calls); anything else from the central FreeList.
func (s *SyncFreeList) allocSlow(h *flShard, size, al uintptr, zero bool) (unsafe.Pointer, error) {
	if al&(al-1) != 0 || al > maxAlign || classFor(size, al) < 0 {
		return s.allocCentral(size, al, zero)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.collect()
	if c := classFor(size, al); s.active.Load() > 1 && len(h.st.classes[c].partial) == 0 && h.st.classes[c].spare == nil {
		if p := s.steal(h, c, size, al, zero); p != nil {
			return p, nil
		}
	}
	return h.st.alloc(size, al, zero)
}

// steal allocates a block of class c from another shard in use whose
// free blocks of that class fill at least two partly used spans, when h
// has none, nor a spare, and would cut a span: the block is that shard's (its chunk
// says so), and it is freed there as any of its blocks. A goroutine the
// scheduler moved to h's P frees into its old shard and would otherwise
// map new memory here while the free blocks it left there wait for
// another goroutine. Only TryLock: h.mu is held, and a busy shard is
// passed by. nil when no shard had blocks to spare. O(shards).
func (s *SyncFreeList) steal(h *flShard, c int, size, al uintptr, zero bool) unsafe.Pointer {
	for i := range int(s.active.Load()) {
		o := &s.shards[i]
		if o == h || !o.mu.TryLock() {
			continue
		}
		o.collect()
		var p unsafe.Pointer
		var dirty uintptr
		if len(o.st.classes[c].partial) >= 2 {
			p, dirty = o.st.allocFast(size, al)
		}
		o.mu.Unlock()
		if p != nil {
			if zero {
				clearBytes(p, dirty)
			}
			return p
		}
	}
	return nil
}

// allocCentral allocates from the central FreeList under its mutex.
func (s *SyncFreeList) allocCentral(size, al uintptr, zero bool) (unsafe.Pointer, error) {
	s.mu.Lock()
	if p, dirty := s.f.st.allocFast(size, al); p != nil {
		s.mu.Unlock()
		if zero {
			clearBytes(p, dirty)
		}
		return p, nil
	}
	defer s.mu.Unlock()
	return s.f.st.alloc(size, al, zero)
}

// Free is FreeList.Free, safe for concurrent use. A small block is freed
// under its shard's mutex when that is free, whatever the goroutine's
// own shard; when another goroutine holds it, the block is claimed
// without a lock and collected by its shard later.
func (s *SyncFreeList) Free(p unsafe.Pointer) error {
	// free's common case spelled out: a live block of a shard, freed
	// from its home P.
	if s.shards != nil {
		// The live word is read before any locked instruction, so that
		// its cache miss overlaps theirs (each waits for every store in
		// flight, such as the last Alloc's clear, to land).
		if ch, sp, q, ok := s.shardBlock(p); ok && !s.closed.Load() {
			if h := &s.shards[ch.owner]; (h.solo.Load() || sp.isLive(q)) && h.mu.TryLock() {
				if !h.st.mine(sp, q) {
					h.mu.Unlock()
					return s.errClaimed(sp, p)
				}
				h.st.freeSmall(sp, uint32(q), p) // not closed: Close sets s.closed under h.mu first
				h.mu.Unlock()
				return nil
			}
		}
	}
	return s.free(p, -1)
}

// free is Free. With me negative it frees at home whenever the home
// shard's mutex is free; with me a shard's index, only when the block is
// that shard's (tests use it to free as a goroutine that finds another
// shard's mutex held).
func (s *SyncFreeList) free(p unsafe.Pointer, me int) error {
	if s.f == nil {
		return errNoArena("SyncFreeList")
	}
	for s.shards != nil {
		ch, sp, q, ok := s.shardBlock(p)
		if ch == nil {
			break // not a shard's: the central FreeList's, or nobody's
		}
		if s.closed.Load() {
			return ErrClosed
		}
		if !ok {
			if err := s.badFree(ch, p); err != nil {
				return err
			}
			continue // a span was cut there meanwhile: look again
		}
		// When the home shard's mutex is free, the block is claimed and
		// freed under it; when another goroutine holds it, claimed here
		// and left for its shard to collect. A claim outside the mutex must never be followed by
		// a free of the block under it: the shard may have collected the
		// claimed block in between, and would free it twice.
		h := &s.shards[ch.owner]
		home := (me < 0 || int(ch.owner) == me) && h.mu.TryLock()
		if !home && h.solo.Load() {
			// A solo shard's blocks are freed under its mutex only:
			// wait for it. Another goroutine holding it at once is a
			// collision, unless that was a lockAll.
			if me < 0 {
				s.collided(h)
			}
			h.mu.Lock()
			home = true
		}
		if home {
			defer h.mu.Unlock()
			if !h.st.mine(sp, q) {
				return s.errClaimed(sp, p)
			}
			if !h.st.closed {
				h.st.freeSmall(sp, uint32(q), p)
			}
			return nil
		}
		if !sp.claim(q) {
			return s.errClaimed(sp, p)
		}
		h.push(sp)
		return nil
	}
	s.mu.Lock()
	if !invariantsEnabled && s.f.st.fast {
		// No defer: a plain, open arena's Free panics on no input (its
		// errors are values, and it reads no user memory that could
		// fault), so the Unlock below is always reached. The defer's
		// frame and call cost about 20 instructions a Free. Debug
		// builds, whose checks panic, and checking arenas keep it.
		err := s.f.Free(p)
		s.mu.Unlock()
		return err
	}
	defer s.mu.Unlock()
	return s.f.Free(p)
}

// Realloc is FreeList.Realloc, safe for concurrent use; a shard's block
// that must move is allocated anew, copied and freed.
func (s *SyncFreeList) Realloc(p unsafe.Pointer, n uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	if s.shards != nil && p != nil {
		if ch, _, _, _ := s.shardBlock(p); ch != nil {
			old, err := s.UsableSize(p)
			switch {
			case err != nil:
				return nil, err
			case n == 0:
				return nil, s.Free(p)
			case n <= old && (n > old/2 || old <= 16):
				clearBytes(add(p, n), old-n)
				return p, nil
			}
			q, err := s.Alloc(n, 16)
			if err != nil {
				return nil, err
			}
			copy(bytesOf(q, int(min(old, n))), bytesOf(p, int(min(old, n))))
			return q, s.Free(p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Realloc(p, n)
}

// Calloc is FreeList.Calloc, safe for concurrent use.
func (s *SyncFreeList) Calloc(n, size uintptr) (unsafe.Pointer, error) {
	if s.f == nil {
		return nil, errNoArena("SyncFreeList")
	}
	hi, total := bits.Mul64(uint64(n), uint64(size))
	if hi != 0 || total > math.MaxInt {
		return nil, errTooLarge("calloc of %d elements of %d bytes overflows", n, size)
	}
	return s.Alloc(uintptr(total), 16)
}

// UsableSize is FreeList.UsableSize, safe for concurrent use.
func (s *SyncFreeList) UsableSize(p unsafe.Pointer) (uintptr, error) {
	if s.f == nil {
		return 0, errNoArena("SyncFreeList")
	}
	for s.shards != nil {
		ch, sp, q, ok := s.shardBlock(p)
		if ch == nil {
			break
		}
		if s.closed.Load() {
			return 0, ErrClosed
		}
		if !ok {
			if err := s.badFree(ch, p); err != nil {
				return 0, err
			}
			continue
		}
		if h := &s.shards[ch.owner]; h.solo.Load() {
			h.mu.Lock()
			live := !h.st.solo && sp.isLive(q) || h.st.solo && sp.allocated(q)
			h.mu.Unlock()
			if !live {
				return 0, s.errClaimed(sp, p)
			}
		} else if !sp.isLive(q) {
			return 0, s.errClaimed(sp, p)
		}
		return sp.blockSize(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.UsableSize(p)
}

// Stats returns the arena's statistics: the central FreeList's and every
// shard's added up, each shard having collected the blocks other shards
// freed, and each shard's own numbers in Shards. It takes every mutex.
func (s *SyncFreeList) Stats() Stats {
	if s.f == nil {
		return Stats{} // the zero SyncFreeList
	}
	s.lockAll()
	defer s.unlockAll()
	out := s.f.Stats()
	if s.shards == nil || out.Closed {
		return out
	}
	for i := range s.shards {
		h := &s.shards[i]
		h.collect()
		f := FreeList{st: h.st}
		out.add(f.Stats())
		out.Shards = append(out.Shards, h.st.shardStats())
	}
	out.Fragmentation = 0
	if out.InUse > 0 {
		out.Fragmentation = float64(out.Committed) / float64(out.InUse)
	}
	return out
}

// Trim gives back what the arena keeps for reuse: the frees other
// shards left each shard are collected, every empty span (each class's
// spare included) returns its pages to the OS, and the cached large
// blocks are unmapped. Memory in partly used spans stays: only frees
// can give it back. It returns ErrClosed after Close.
func (s *SyncFreeList) Trim() error {
	if s.f == nil {
		return errNoArena("SyncFreeList")
	}
	s.lockAll()
	defer s.unlockAll()
	if s.f.st.closed {
		return ErrClosed
	}
	for i := range s.shards {
		s.shards[i].collect()
		s.shards[i].st.dropCaches()
	}
	s.f.st.dropCaches()
	return nil
}

// Close is FreeList.Close for the whole arena, every shard included; it
// takes every mutex. A Free racing with Close may return nil or
// ErrClosed.
func (s *SyncFreeList) Close() error {
	if s.f == nil {
		return errNoArena("SyncFreeList")
	}
	s.lockAll()
	defer s.unlockAll()
	if s.f.st.closed {
		return nil
	}
	s.closed.Store(true)
	pcs := closeSite()
	var first error
	for i := range s.shards {
		st := s.shards[i].st
		if err := st.close(pcs); err != nil && first == nil {
			first = err
		}
	}
	s.f.cl.Stop()
	s.f.st.gen++
	if err := s.f.st.close(pcs); err != nil && first == nil {
		first = err
	}
	return first
}

// State is FreeList.State under the lock (a SyncFreeList cannot be
// frozen).
func (s *SyncFreeList) State() (generation uint64, err error) {
	if s.f == nil {
		return 0, errNoArena("SyncFreeList")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.State()
}

// shardStats returns a shard's own numbers. Its mutex must be held,
// and its remote frees collected.
func (st *flState) shardStats() ShardStats {
	out := ShardStats{Allocs: st.allocs, Frees: st.frees, Remote: st.remoteFrees,
		InUse: uint64(st.inUseBytes()), Committed: uint64(st.mapped)}
	for c := range st.classes {
		out.Held += st.classes[c].freeBlocks(c) * uint64(classSize[c])
	}
	return out
}

// add adds a shard's FreeList numbers to s, the classes by size.
func (s *Stats) add(o Stats) {
	s.Requested += o.Requested
	s.InUse += o.InUse
	s.Committed += o.Committed
	s.Resident += o.Resident
	s.Allocs += o.Allocs
	s.Frees += o.Frees
	s.Released += o.Released
	s.Syscalls += o.Syscalls
	s.Large += o.Large
	s.Cached += o.Cached
	s.Retired += o.Retired
	s.Classes = mergeClasses(s.Classes, o.Classes)
}

// mergeClasses adds the classes of src to dst, both smallest first, and
// returns dst. O(classes).
func mergeClasses(dst, src []ClassStats) []ClassStats {
	for _, c := range src {
		i := 0
		for i < len(dst) && dst[i].Size < c.Size {
			i++
		}
		if i < len(dst) && dst[i].Size == c.Size {
			d := &dst[i]
			d.InUse += c.InUse
			d.Free += c.Free
			d.Spans += c.Spans
			d.Bytes += c.Bytes
			continue
		}
		dst = append(dst, ClassStats{})
		copy(dst[i+1:], dst[i:])
		dst[i] = c
	}
	return dst
}
