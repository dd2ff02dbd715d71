package arena

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"time"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/callers"
)

// A FreeList's large blocks (over 32 KiB, or aligned to more than a
// page) each have a guarded mapping of their own. Mapping one costs an
// mmap, two guard installs and, on first touch, a page fault a page;
// giving it back costs a fence and a place in guard's quarantine. So a
// freed large block is not given back at once: it waits in the arena's
// cache of mappings, the way jemalloc retains extents, and the next large
// request that fits takes it, guards and page tables included, with no
// system call at all.
//
//   - Fit: blocks are cached in buckets of eight per doubling of their
//     page count (as the small classes are), newest first. A request
//     looks at a few blocks of its own bucket and of the next, so it
//     takes a block at most two steps, about 25%, larger than it asked
//     for; UsableSize says how large. O(1).
//   - Decay: a cached block keeps its pages, and so its RSS, for
//     Options.LargeDecay (10 s by default, jemalloc's dirty_decay_ms);
//     then they are given back with MADV_DONTNEED and the block stays
//     cached, clean, holding address space and no RAM. Decay runs
//     lazily, oldest first, on the arena's own calls: every large Alloc
//     and Free, every 1024 calls of any kind, and Stats. An arena that
//     stops calling keeps what it cached resident until Close; no
//     goroutine runs behind its owner's back.
//   - Bound: the cache holds at most Options.LargeCache bytes (64 MiB by
//     default); past that, and when Options.Limit or guard's mapping
//     budget needs the room, the oldest clean blocks, then the oldest
//     dirty ones, leave it into guard's quarantine as a freed block used
//     to: fenced, named a use after free by hardened.Catch.
//   - Zero: Alloc clears a reused block that may have been written;
//     a clean one reads zero already. Malloc leaves it as the arena's
//     last owner of it left it.
//   - Realloc: a large block resized to another large size gets a new
//     block (from the cache or fresh), and guard's MoveTo moves its pages
//     there with one mremap, guards staying where they are. The old
//     block's range is not unmapped by the move (MREMAP_DONTUNMAP): it
//     stays the arena's, mapped, reading zero, and is freed like any
//     block, into the cache (clean, nothing to give back) or, with
//     CheckFreed or past the bound, fenced into the quarantine. So no
//     other mapping can land under a pointer kept past the Realloc until
//     the range has been through the quarantine, as with Free.
//
// What the cache costs is safety: a cached block is not fenced. A
// pointer kept past Free reads and writes the cached block, as it would
// a freed small block; the next owner never sees those bytes through
// Alloc (it clears them), and does through Malloc. A double Free, an
// interior Free and a Realloc of a cached block are refused exactly
// (ErrDoubleFree, ErrInvalidFree), since the block is still the arena's.
// CheckFreed turns the cache off, and a freed large block is retired
// into the quarantine at once, as it always was: a use after free faults
// and is named, for some 40 µs a Free.

// largeBlock is an allocation with a mapping of its own, live or cached.
type largeBlock struct {
	r    *guard.Region
	p    unsafe.Pointer // r.Pointer(): the first usable byte, mapped until Close or eviction
	addr uintptr        // r.Addr()
	size uintptr        // usable bytes, whole pages

	cached     bool  // freed, waiting in the cache; false while allocated
	dirty      bool  // may hold bytes written since it was mapped or last released; a clean block reads zero
	discounted bool  // decay released its pages and guard.Committed does not count them; cached blocks only
	at         int64 // when it entered its cache list, ns since lc.epoch

	// Links of the cache: its bucket (newest first) and its age list,
	// the dirty or the clean one (oldest first). nil while allocated.
	bprev, bnext *largeBlock
	prev, next   *largeBlock
}

// largeList is a list of cached blocks, oldest first.
type largeList struct{ oldest, newest *largeBlock }

// largeCache is a FreeList's cache of freed large blocks. Its blocks
// are in flState.large, marked cached, and filed in the page map, so
// that a pointer to one is known for what it is.
type largeCache struct {
	limit   uintptr                    // bytes it may hold; 0: off
	decay   int64                      // ns a block keeps its pages once cached
	bytes   uintptr                    // usable bytes of the blocks cached; <= limit
	n       int                        // blocks cached
	dirty   largeList                  // blocks that may hold pages, by when they were freed
	clean   largeList                  // blocks whose pages were given back, by when
	buckets *[largeBuckets]*largeBlock // by pageBucket of their size; nil until the first Free
	epoch   time.Time                  // the clock's zero
}

// Cache defaults: 64 MiB holds a thousand 64 KiB blocks or a 64 MiB
// buffer, enough for a steady working set to make no system call, and
// bounds what a quiet arena keeps resident; 10 s is jemalloc's decay.
const (
	defaultLargeCache = 64 << 20
	defaultLargeDecay = 10 * time.Second
	largeBuckets      = 8 * 64 // 8 per doubling of a 64-bit page count
	largeFitScan      = 4      // blocks looked at per bucket
)

// pageBucket returns the cache bucket of a block of pages pages, > 0:
// 1..8 pages have one each, then each doubling is cut in eight. O(1).
func pageBucket(pages uintptr) int {
	if pages <= 8 {
		return int(pages) - 1
	}
	k := uint(bits.Len(uint(pages-1))) - 1 // 2^k < pages <= 2^(k+1), k >= 3
	step := uintptr(1) << (k - 3)
	i := (pages - 1<<k + step - 1) / step // 1..8
	return 8 + int(k-3)*8 + int(i) - 1
}

// now returns the cache's clock: monotonic nanoseconds since its epoch.
func (c *largeCache) now() int64 { return int64(time.Since(c.epoch)) }

func (l *largeList) push(b *largeBlock) {
	b.prev, b.next = l.newest, nil
	if l.newest != nil {
		l.newest.next = b
	} else {
		l.oldest = b
	}
	l.newest = b
}

func (l *largeList) remove(b *largeBlock) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		l.oldest = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		l.newest = b.prev
	}
	b.prev, b.next = nil, nil
}

// list returns the age list b is on.
func (c *largeCache) list(b *largeBlock) *largeList {
	if b.dirty {
		return &c.dirty
	}
	return &c.clean
}

// put caches b, freed, at time now. O(1).
func (c *largeCache) put(b *largeBlock, now int64) {
	if c.buckets == nil {
		c.buckets = new([largeBuckets]*largeBlock)
	}
	h := &c.buckets[pageBucket(b.size/uintptr(align.PageSize()))]
	b.bprev, b.bnext = nil, *h
	if *h != nil {
		(*h).bprev = b
	}
	*h = b
	b.cached, b.at = true, now
	c.list(b).push(b)
	c.bytes += b.size
	c.n++
}

// take removes b from the cache. O(1).
func (c *largeCache) take(b *largeBlock) {
	if b.bprev != nil {
		b.bprev.bnext = b.bnext
	} else {
		c.buckets[pageBucket(b.size/uintptr(align.PageSize()))] = b.bnext
	}
	if b.bnext != nil {
		b.bnext.bprev = b.bprev
	}
	b.bprev, b.bnext = nil, nil
	c.list(b).remove(b)
	b.cached = false
	c.bytes -= b.size
	c.n--
}

// fit returns a cached block of at least n bytes aligned to al, or nil:
// the newest of the first largeFitScan of n's bucket that fit, else of
// the next bucket's. O(1).
func (c *largeCache) fit(n, al uintptr) *largeBlock {
	if c.n == 0 {
		return nil
	}
	k := pageBucket(n / uintptr(align.PageSize()))
	for _, h := range c.buckets[k:min(k+2, largeBuckets)] {
		for b, i := h, 0; b != nil && i < largeFitScan; b, i = b.bnext, i+1 {
			if b.size >= n && b.addr&(al-1) == 0 {
				return b
			}
		}
	}
	return nil
}

// allocLarge hands out a large block of size bytes aligned to al: a
// cached one that fits, cleared if zero is set and it may have been
// written, or a fresh mapping. A fresh mapping that would pass the
// limit takes the room of the oldest cached blocks (checkLimit); one
// that guard's mapping budget refuses empties the cache into the
// quarantine and is tried once more.
func (st *flState) allocLarge(size, al uintptr, zero bool) (unsafe.Pointer, error) {
	ps := uintptr(align.PageSize())
	n, ok := align.Up(size, ps)
	if !ok || n > maxChunkBytes {
		return nil, errTooLarge("allocation of %d bytes in %q is larger than the address space", size, st.name)
	}
	st.decayLarge()
	if b := st.lc.fit(n, max(al, ps)); b != nil {
		if b.discounted {
			// Counted again before its pages are touched, so the
			// process-wide cap can refuse them; refused, the block
			// stays cached.
			if err := b.r.Recount(int(b.size)); err != nil {
				return nil, fmt.Errorf("arena: %q: %d-byte block: %w", st.name, size, err)
			}
			b.discounted = false
		}
		st.lc.take(b)
		if zero && b.dirty {
			clearBytes(b.p, b.size)
		}
		b.dirty = true
		st.inUse += b.size
		return b.p, nil
	}
	b, err := st.mapLarge(size, n, al)
	if err != nil && st.lc.n > 0 && errors.Is(err, guard.ErrBudget) {
		// The cached blocks' kernel mappings are what guard lacks:
		// retired, they wait in the quarantine, which the budget
		// empties before refusing anyone.
		st.evictLarge(st.lc.limit)
		b, err = st.mapLarge(size, n, al)
	}
	if err != nil {
		return nil, err
	}
	b.dirty = true
	st.inUse += n
	return b.p, nil
}

// mapLarge maps a fresh block of n bytes (size asked for, rounded up to
// pages) aligned to al, and files it.
func (st *flState) mapLarge(size, n, al uintptr) (*largeBlock, error) {
	if err := st.checkLimit(n); err != nil {
		return nil, err
	}
	ps := uintptr(align.PageSize())
	r, err := guard.Map(int(n), &guard.Options{Name: st.name, NoGuards: st.opts.NoGuards, Align: int(max(al, ps)),
		HugePages: st.opts.HugePages, Populate: st.opts.Prefault})
	if err != nil {
		return nil, fmt.Errorf("arena: %q: %d-byte block: %w", st.name, size, err)
	}
	st.syscalls++ // counted on success only: a refused call changes no stats
	b := &largeBlock{r: r, p: r.Pointer(), addr: r.Addr(), size: n}
	if !st.fileLarge(b) {
		_ = r.Close() // beyond the page map: never handed out, nothing to fence
		return nil, fmt.Errorf("arena: %q: %d-byte block at %#x: %w", st.name, size, b.addr, errTooLarge("above the %d-bit address space", pmAddrBits))
	}
	st.large[b.addr] = b
	st.forgetFreed(b.addr, n)
	st.mapped += n
	st.mappingsChanged()
	return b, nil
}

// freeLarge frees the live large block at p: into the cache, or, when
// the cache is off or the block larger than it, into guard's quarantine.
func (st *flState) freeLarge(p unsafe.Pointer) error {
	b := st.large[uintptr(p)]
	st.inUse -= b.size
	st.frees++
	st.putLarge(b)
	st.tick()
	return nil
}

// putLarge caches b, which is no longer handed out, then evicts the
// oldest blocks while the cache holds more than its bound; with the
// cache off, or b larger than its bound, b is retired at once. O(1)
// beside the evictions' system calls.
func (st *flState) putLarge(b *largeBlock) {
	if b.size > st.lc.limit {
		st.dropLarge(b)
		return
	}
	now := st.lc.now()
	st.lc.put(b, now)
	if st.lc.bytes > st.lc.limit {
		st.evictLarge(st.lc.bytes - st.lc.limit)
	}
	st.decayAt(now)
}

// dropLarge gives a large block's mapping back. Its range waits, fenced,
// in guard's quarantine, so a use after free faults and is named, and a
// second Free is known for a double free: it is remembered among the
// last freedLargeKept blocks dropped.
func (st *flState) dropLarge(b *largeBlock) {
	// The block is freed whatever the kernel says: guard closes the
	// region even when a system call fails, and retries a refused munmap
	// itself (guard.FlushUnmaps). Reporting that as Free's error would
	// say the block is still allocated, and a second Free would then be
	// a double free.
	pcs := dropSite()
	_ = b.r.Retire(hardened.KindUseAfterFree.String(), func() string { return callers.First(pcs) })
	st.syscalls++
	delete(st.large, b.addr)
	st.unfileLarge(b)
	st.rememberFreed(b.addr, b.size)
	st.mapped -= b.size
	if b.dirty {
		st.released += uint64(b.size) // a clean block's pages were counted when decay gave them back
	}
	st.mappingsChanged()
}

// dropSite records the call stack of whatever drops a large block (a
// Free, a Realloc, an allocation that needs the cache's room), deep
// enough to reach past the arena's own frames by any of those paths, so
// that a later use after free is reported with the caller's site. A walk
// of up to 16 frames, beside a system call.
func dropSite() []uintptr {
	pcs := make([]uintptr, 16)
	return pcs[:runtime.Callers(3, pcs)] // runtime.Callers, dropSite, dropLarge
}

// evictLarge drops cached blocks, the oldest clean ones first, then the
// oldest dirty ones, until at least n bytes went or the cache is empty.
func (st *flState) evictLarge(n uintptr) {
	for gone := uintptr(0); gone < n && st.lc.n > 0; {
		b := st.lc.clean.oldest
		if b == nil {
			b = st.lc.dirty.oldest
		}
		st.lc.take(b)
		gone += b.size
		st.dropLarge(b)
	}
}

// decayLarge gives back the pages of the cached blocks that have waited
// longer than the decay, oldest first, and moves them to the clean list.
// Amortised O(1): each cached block is released at most once.
func (st *flState) decayLarge() {
	if st.lc.dirty.oldest != nil {
		st.decayAt(st.lc.now())
	}
}

// decayAt is decayLarge at time now.
func (st *flState) decayAt(now int64) {
	for b := st.lc.dirty.oldest; b != nil && now-b.at >= st.lc.decay; b = st.lc.dirty.oldest {
		st.lc.dirty.remove(b)
		b.at = now
		if b.r.Release(0, int(b.size)) != nil {
			// The kernel kept the pages (out of memory, or a test's
			// injected failure): the block stays dirty, newest, and
			// the next decay tries again.
			st.lc.dirty.push(b)
			return
		}
		st.syscalls++
		b.dirty = false
		b.r.Discount(int(b.size)) // given back: the memory budget and cap stop counting it
		b.discounted = true
		st.released += uint64(b.size)
		st.lc.clean.push(b)
	}
}

// reallocLarge moves the live large block at p, of old bytes, to a
// large block of n bytes without copying where the system can (guard's
// MoveTo: page tables move, not bytes), keeping min(old, n) bytes and
// zeroing the rest, and frees the old block, whose moved pages now read
// zero, into the cache. ok is false when p or n is not large, and the
// caller reallocates by copying. On error the old block is untouched.
func (st *flState) reallocLarge(p unsafe.Pointer, old, n uintptr) (q unsafe.Pointer, ok bool, err error) {
	b := st.large[uintptr(p)]
	if b == nil || b.cached || n <= smallMax {
		return nil, false, nil
	}
	// Cleared if reused dirty; the moved pages then replace the first
	// of the cleared ones, which is what a move costs beside a copy.
	if q, err = st.allocLarge(n, 16, true); err != nil {
		return nil, true, err
	}
	nb := st.large[uintptr(q)]
	keep := min(old, n)
	moved, _ := align.Up(keep, uintptr(align.PageSize())) // ok: keep <= b.size, a page multiple
	if b.r.MoveTo(nb.r, int(moved)) != nil {
		copy(bytesOf(q, int(keep)), bytesOf(p, int(keep)))
		moved = keep
	} else {
		b.dirty = keep < old // pages past keep stay where they were
	}
	clearBytes(add(q, keep), moved-keep) // the old bytes of the last page moved
	st.requested += uint64(n)
	st.allocs++
	st.inUse -= b.size
	st.frees++
	st.putLarge(b)
	st.tick()
	return q, true, nil
}

// rememberFreed records that the large block at addr, of size bytes,
// was freed, forgetting the oldest one remembered if there are
// freedLargeKept already. O(1).
func (st *flState) rememberFreed(addr, size uintptr) {
	if st.freedLarge == nil {
		st.freedLarge = make(map[uintptr]freedBlock)
		st.freedRing = make([]uintptr, freedLargeKept)
	}
	i := st.freedNext % freedLargeKept
	if old := st.freedRing[i]; old != 0 {
		// Forget the oldest, unless its address was handed out and
		// freed again since, which made it one of the newest.
		if b, ok := st.freedLarge[old]; ok && b.seq+freedLargeKept == st.freedNext {
			delete(st.freedLarge, old)
		}
	}
	st.freedRing[i] = addr
	st.freedLarge[addr] = freedBlock{seq: st.freedNext, size: size}
	st.freedNext++
}

// forgetFreed drops the remembered freed blocks whose address lies in
// [addr, addr+n), a block the arena just mapped: a pointer there is the
// new block's start, or inside it, and is answered as such.
// O(remembered), at most freedLargeKept, beside a system call.
func (st *flState) forgetFreed(addr, n uintptr) {
	for a := range st.freedLarge {
		if a-addr < n {
			delete(st.freedLarge, a)
		}
	}
}

// freedBlock is what a FreeList remembers of a large block it gave
// back to guard.
type freedBlock struct {
	seq  uint64  // its place among the large blocks dropped: freedNext when it was
	size uintptr // usable bytes it had
}

// freedLargeKept is how many large blocks given back a FreeList
// remembers: a double free of one of the last 256 is ErrDoubleFree
// whatever was mapped there since, at a cost of about 10 KiB of Go heap
// per arena that drops large blocks. Older ones are forgotten, and
// freeing one again is ErrNotOwned. A block in the cache needs no such
// memory: it is still the arena's, marked freed.
const freedLargeKept = 256
