package guard

import "golang.org/x/sys/unix"

// The reuse cache keeps the reservations that leave the quarantine for
// the next Map of the same layout, instead of unmapping them: a program
// that makes and closes an arena per request then stops paying for
// mmap, the guard markers and munmap on every request (see
// BenchmarkLifecycle in arena). A reservation enters the cache only when
// the quarantine's bound pushes it out, so the quarantine's promise is kept: a
// closed range goes to nobody while it is quarantined. It is more than
// kept: in the cache a reservation stays fenced and named, exactly as in
// the quarantine (a stray access faults and Lookup says "closed region",
// with the Retire site), and is unfenced only when Map hands it out again,
// as a new Region, reading zero. So the cache lengthens the quarantine
// rather than shortening it.
//
// A reservation qualifies when it is anonymous memory (never a file's,
// whose pages would come back with the file's bytes), one kernel
// mapping, has no holes, was fully committed and not advised huge
// pages: then one madvise (MADV_GUARD_REMOVE on the usable pages, whose
// contents the fence already dropped) or one mprotect makes it exactly
// what Map would have made. Map takes a cached reservation of the same usable size, guard
// size, fence and alignment; a Reserve or HugePages request always maps
// afresh.
//
// The cache is bounded by address space (SetCache; DefaultCache) and by
// an eighth of the mapping budget; beyond either, the oldest entry is
// unmapped. The budget empties it first when it needs mappings: a
// cached reservation guards nothing live. It shares the quarantine's
// mutex, so that a reservation moves from one to the other atomically.
//
// What reuse cannot save is the price of the fence itself: Retire must
// drop every page the arena touched and flush it from every CPU's TLB,
// and the next user must unfence the range and fault its pages in again.
// On the 2-core VM this was measured on, BenchmarkRetireReuse (a 64 KiB
// chunk, one page written) took 7.5 us a cycle with reuse against
// 11.5 us with mmap and munmap (medians of 8 alternated runs,
// bench/issues-13-14-pool.txt).

// cached is a reservation waiting in the cache: a retired Region, still
// fenced and registered, with the layout Map matches against.
type cached struct {
	r                  *Region
	size, guard, total uintptr // the usable size, each guard, and the whole reservation
	addr               uintptr // the first usable byte
	fence              Fence
	vmas               int    // kernel mappings it holds, charged to the budget
	name               string // the Region's name, which the kernel mapping carries
}

// DefaultCache is the cache's default bound: 64 MiB of address space,
// a thousand reservations of one 64 KiB chunk each. Cached reservations
// hold no RAM.
const DefaultCache = 64 << 20

func init() { quarantine.cacheLimit = DefaultCache }

// SetCache bounds the address space, in bytes, that the reuse cache may
// hold, and returns the previous bound; the cache also never holds more
// than an eighth of the mapping budget. Reservations past a lower bound
// are unmapped at once, oldest first. n == 0 turns reuse off (a
// reservation that leaves the quarantine is unmapped, as before); n < 0
// restores DefaultCache. Safe for concurrent use.
func SetCache(n int64) int64 {
	quarantine.mu.Lock()
	old := quarantine.cacheLimit
	if n < 0 {
		n = DefaultCache
	}
	quarantine.cacheLimit = uintptr(n)
	drop := trimCacheLocked()
	quarantine.mu.Unlock()
	unmapAll(drop)
	return int64(old)
}

// cacheable reports whether r, being retired, could be handed out again
// whole: the qualifications above. r.mu must be held.
func (r *Region) cacheable() bool {
	if r.file || r.committed != r.size || r.huge || r.vmas != 1 {
		return false
	}
	for _, sp := range r.spans {
		if sp.prot == protHole {
			return false
		}
	}
	return true
}

// cachePutLocked adds the region of e, which has just left the
// quarantine, to the cache, and returns the regions the bound then
// pushes out, for the caller to unmap once the mutex is released; or,
// when e does not qualify or the cache is off, e's region itself.
// quarantine.mu must be held.
func cachePutLocked(e qentry) []*Region {
	if !e.reusable || quarantine.cacheLimit == 0 {
		return []*Region{e.r}
	}
	r := e.r
	quarantine.cache = append(quarantine.cache, cached{
		r: r, size: r.size, guard: r.guard, total: r.total, addr: r.addr + r.guard,
		fence: r.fence, vmas: e.vmas, name: r.name,
	})
	quarantine.cacheBytes += r.total
	quarantine.cacheVmas += e.vmas
	return trimCacheLocked()
}

// trimCacheLocked removes the oldest cached reservations until the
// cache is within its bounds, and returns them for the caller to unmap.
// quarantine.mu must be held.
func trimCacheLocked() []*Region {
	limit, _ := Budget()
	var drop []*Region
	for len(quarantine.cache) > 0 && (quarantine.cacheBytes > quarantine.cacheLimit || quarantine.cacheVmas > limit/8) {
		drop = append(drop, cacheRemoveLocked(0))
	}
	return drop
}

// cacheRemoveLocked takes entry i out of the cache and returns its
// region. quarantine.mu must be held.
func cacheRemoveLocked(i int) *Region {
	c := quarantine.cache[i]
	copy(quarantine.cache[i:], quarantine.cache[i+1:])
	quarantine.cache[len(quarantine.cache)-1] = cached{}
	quarantine.cache = quarantine.cache[:len(quarantine.cache)-1]
	quarantine.cacheBytes -= c.total
	quarantine.cacheVmas -= c.vmas
	return c.r
}

// uncache takes r out of the cache and reports whether it was there.
func uncache(r *Region) bool {
	quarantine.mu.Lock()
	defer quarantine.mu.Unlock()
	for i := range quarantine.cache {
		if quarantine.cache[i].r == r {
			cacheRemoveLocked(i)
			return true
		}
	}
	return false
}

// dropCached unmaps the oldest cached reservation, and reports whether
// there was one. The budget calls it when it needs mappings.
func dropCached() bool {
	quarantine.mu.Lock()
	if len(quarantine.cache) == 0 {
		quarantine.mu.Unlock()
		return false
	}
	r := cacheRemoveLocked(0)
	quarantine.mu.Unlock()
	_ = r.unmapRetired()
	return true
}

// unmapAll unmaps regions that left the quarantine or the cache.
func unmapAll(rs []*Region) {
	for _, r := range rs {
		_ = r.unmapRetired() // a refused munmap is deferred and retried (deferred.go), never lost
	}
}

// reuse hands out a cached reservation as a new Region named name with
// the layout Map planned (usable size, guards, fence, alignment, spans
// and their vmas), or returns nil when none fits or it cannot be
// unfenced (it is then unmapped). The new Region's usable pages are
// Ready and read zero: the fence dropped their contents.
func reuse(name string, size, guard, alignTo uintptr, fence Fence, sp spans, vmas int) *Region {
	quarantine.mu.Lock()
	var old *Region
	for i := len(quarantine.cache) - 1; i >= 0; i-- {
		c := &quarantine.cache[i]
		if c.size == size && c.guard == guard && c.fence == fence && c.addr%alignTo == 0 {
			old = cacheRemoveLocked(i)
			quarantine.reused++
			break
		}
	}
	quarantine.mu.Unlock()
	if old == nil {
		return nil
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	// Nothing else can reach old now: it has left both queues, and its
	// Close finds it in neither and leaves it to whoever took it.
	base, oldName := old.base, old.name
	usable := add(base, guard) // ok: inside the reservation old holds
	err := charge(vmas-old.vmas, "reuse", name)
	if err == nil {
		why := reason{"reuse", name}
		if fence == FenceMarkers {
			err = sysFenceRemove(usable, size, why)
		} else {
			err = sysProtect(usable, size, unix.PROT_READ|unix.PROT_WRITE, why)
		}
		if err != nil {
			_ = charge(old.vmas-vmas, "", "")
		}
	}
	if err != nil {
		old.retired = false
		_ = old.unmap("reuse failed")
		return nil
	}
	// old's range is r's now: Lookup forgets it as live and names its
	// addresses by r.
	old.retired, old.base, old.vmas = false, nil, 0
	retire(old.in)
	r := &Region{
		id: nextID.Add(1), name: name, addr: uintptr(base), total: old.total, guard: guard, size: size,
		fence: fence, base: base, committed: size,
	}
	r.spans, r.vmas = sp, vmas
	if oldName != name {
		sysName(base, r.total, "mmarena:"+name)
	}
	r.in = r.info()
	publish(r.in)
	return r
}
