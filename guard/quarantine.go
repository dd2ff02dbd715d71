package guard

import (
	"sync"
	"time"
)

// The quarantine keeps the address ranges of retired regions reserved
// and fenced, so that a pointer kept past an arena's Close faults and is
// named instead of reaching whatever the kernel would map there next. It
// is one process-wide first-in first-out queue, bounded by the address
// space it holds (SetQuarantine): a region leaves it when newer ones
// push it past the bound (for the reuse cache, cache.go, where it stays
// fenced, or to be unmapped), and is unmapped when the mapping budget
// needs the mappings it holds, at FlushQuarantine, or when it is Closed.
// Retired pages hold no memory (MADV_DONTNEED before PROT_NONE), so the
// bound is one of address space and kernel mappings, not of RAM.
var quarantine struct {
	mu        sync.Mutex
	limit     uintptr  // bytes of address space; 0: off. guarded by mu
	bytes     uintptr  // reservation bytes of the regions in queue; <= limit after each enqueue. guarded by mu
	queue     []qentry // oldest first from head; a nil r is a region Closed while waiting. guarded by mu
	head      int      // queue[:head] has left; guarded by mu
	held      int      // regions in queue[head:] with a non-nil r; guarded by mu
	vmas      int      // kernel mappings those regions hold; guarded by mu
	evictions uint64   // regions pushed out by the bound or the budget, ever; guarded by mu

	// The reuse cache (cache.go), under the same mutex.
	cacheLimit uintptr  // bytes of address space; 0: off. guarded by mu
	cache      []cached // oldest first; guarded by mu
	cacheBytes uintptr  // reservation bytes of cache; <= cacheLimit after each put. guarded by mu
	cacheVmas  int      // kernel mappings cache holds; guarded by mu
	reused     uint64   // reservations Map took from the cache, ever; guarded by mu
}

// qentry is one retired region waiting in the quarantine.
type qentry struct {
	r        *Region
	bytes    uintptr   // the region's reservation, guards included
	vmas     int       // kernel mappings it holds; fixed once retired
	at       time.Time // when it was retired
	reusable bool      // it may go to the reuse cache when it leaves (Region.cacheable)
}

// DefaultQuarantine is the quarantine's default bound: 1 GiB of address
// space, which is sixteen arenas whose chunks reached 64 MiB, or sixteen
// thousand that served one small request each. On a 47-bit address
// space it is a 1/131072 share.
const DefaultQuarantine = 1 << 30

func init() { quarantine.limit = DefaultQuarantine }

// SetQuarantine bounds the address space, in bytes, that retired regions
// may hold in the quarantine, and returns the previous bound. The
// quarantine also never holds more than half of the mapping budget
// (SetBudget); whichever bound is reached first evicts. Regions
// past a lower bound leave at once, oldest first, for the reuse cache
// (SetCache) or Unmapped. n == 0 turns the
// quarantine off (Retire then unmaps at once, as Close does); n < 0
// restores DefaultQuarantine. Safe for concurrent use.
func SetQuarantine(n int64) int64 {
	quarantine.mu.Lock()
	old := quarantine.limit
	switch {
	case n < 0:
		quarantine.limit = DefaultQuarantine
	default:
		quarantine.limit = uintptr(n)
	}
	quarantine.mu.Unlock()
	for evictOver() {
	}
	return int64(old)
}

// QuarantineStats describes the quarantine: what it holds, its bound,
// and how often it had to let a region go early.
type QuarantineStats struct {
	Limit     int64     `json:"limit"`     // the bound, in bytes of address space; 0: off
	Bytes     int64     `json:"bytes"`     // address space held now
	Regions   int       `json:"regions"`   // regions held now
	Mappings  int       `json:"mappings"`  // kernel mappings they hold, charged to the budget
	Evictions uint64    `json:"evictions"` // regions unmapped to keep the bound or the budget, ever
	Oldest    string    `json:"oldest"`    // the oldest region's name; "" when empty
	OldestAt  time.Time `json:"oldest_at"` // when it was retired; zero when empty
	// The reuse cache (SetCache): the reservations that left the
	// quarantine and wait, still fenced, for a Map of their layout.
	Cached      int    `json:"cached"`       // reservations held now
	CachedBytes int64  `json:"cached_bytes"` // their address space
	Reused      uint64 `json:"reused"`       // reservations Map took from it, ever
}

// Quarantined returns the quarantine's statistics now. Safe for
// concurrent use; O(regions held).
func Quarantined() QuarantineStats {
	quarantine.mu.Lock()
	defer quarantine.mu.Unlock()
	s := QuarantineStats{
		Limit:     int64(quarantine.limit),
		Bytes:     int64(quarantine.bytes),
		Regions:   quarantine.held,
		Evictions: quarantine.evictions,

		Cached:      len(quarantine.cache),
		CachedBytes: int64(quarantine.cacheBytes),
		Reused:      quarantine.reused,
	}
	for _, e := range quarantine.queue[quarantine.head:] {
		if e.r == nil {
			continue
		}
		s.Mappings += e.vmas
		if s.Oldest == "" {
			s.Oldest, s.OldestAt = e.r.name, e.at
		}
	}
	return s
}

// FlushQuarantine unmaps every region in the quarantine, oldest first,
// and every reservation in the reuse cache, then retries every munmap
// the kernel refused earlier (FlushUnmaps), and returns the first error.
// Their addresses may then be mapped again by anyone. Tests use it to
// check that nothing else is left mapped. Safe for concurrent use.
func FlushQuarantine() error {
	var first error
	for dropCached() {
	}
	for {
		r := dequeue(nil)
		if r == nil {
			if err := retryUnmaps(); err != nil && first == nil {
				first = err
			}
			return first
		}
		if err := r.unmapRetired(); err != nil && first == nil {
			first = err
		}
	}
}

// enqueue adds a retired region, then moves the oldest regions to the
// reuse cache, or unmaps them, while the quarantine holds more than its
// bound. reusable says whether r may go to the cache (Region.cacheable).
func enqueue(r *Region, bytes uintptr, vmas int, reusable bool) {
	quarantine.mu.Lock()
	if quarantine.head > 0 && quarantine.head >= len(quarantine.queue)/2 {
		// Slide the waiting entries down rather than grow for ever: each
		// entry moves O(1) times on average.
		n := copy(quarantine.queue, quarantine.queue[quarantine.head:])
		clear(quarantine.queue[n:])
		quarantine.queue, quarantine.head = quarantine.queue[:n], 0
	}
	quarantine.queue = append(quarantine.queue, qentry{r: r, bytes: bytes, vmas: vmas, at: time.Now(), reusable: reusable})
	quarantine.bytes += bytes
	quarantine.held++
	quarantine.vmas += vmas
	quarantine.mu.Unlock()
	for evictOver() {
	}
}

// evictOver moves the oldest region to the reuse cache (or unmaps it,
// if it does not qualify or the cache is full) if the quarantine holds
// more than its bound, or more than half of the mapping budget, and
// reports whether it did. Small arenas cost a mapping each: 1 GiB of
// them would be some fifteen thousand, most of the budget, and every new
// mapping would then wait for an eviction.
func evictOver() bool {
	limit, _ := Budget()
	quarantine.mu.Lock()
	over := quarantine.held > 0 && (quarantine.bytes > quarantine.limit || quarantine.vmas > limit/2)
	if !over {
		quarantine.mu.Unlock()
		return false
	}
	e, _ := dequeueLocked(nil)
	quarantine.evictions++
	drop := cachePutLocked(e)
	quarantine.mu.Unlock()
	unmapAll(drop)
	return true
}

// evictOldest unmaps the oldest cached reservation, or else the oldest
// region in the quarantine, and reports whether there was one. The
// budget calls it when it needs mappings.
func evictOldest() bool {
	if dropCached() {
		return true
	}
	r := dequeue(nil)
	if r == nil {
		return false
	}
	quarantine.mu.Lock()
	quarantine.evictions++
	quarantine.mu.Unlock()
	_ = r.unmapRetired() // a refused munmap is deferred and retried (deferred.go), never lost
	return true
}

// dequeue removes r from the queue, or the oldest region if r is nil, and
// returns it; nil if it was not there. O(1) for the oldest, O(regions)
// for a given one.
func dequeue(r *Region) *Region {
	quarantine.mu.Lock()
	defer quarantine.mu.Unlock()
	e, _ := dequeueLocked(r)
	return e.r
}

// dequeueLocked is dequeue returning the whole entry, and whether there
// was one. quarantine.mu must be held.
func dequeueLocked(r *Region) (qentry, bool) {
	q := quarantine.queue
	for i := quarantine.head; i < len(q); i++ {
		e := q[i]
		if e.r == nil {
			if i == quarantine.head {
				quarantine.head++ // a tombstone at the front
			}
			continue
		}
		if r != nil && e.r != r {
			continue
		}
		q[i] = qentry{}
		if i == quarantine.head {
			quarantine.head++
		}
		quarantine.bytes -= e.bytes
		quarantine.held--
		quarantine.vmas -= e.vmas
		return e, true
	}
	return qentry{}, false
}
