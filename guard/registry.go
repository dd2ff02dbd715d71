package guard

import "sync"

// info is what Lookup knows of a region. The region changes it only
// under the registry's lock (sync) and Lookup reads it only under the
// registry's read lock, without the region's lock, so a fault inside a
// region method cannot deadlock. After Close it never changes.
type info struct {
	id        uint64
	name      string
	addr      uintptr // start of the reservation
	total     uintptr
	guard     uintptr
	size      uintptr
	committed uintptr
	spans     spans         // offsets from addr; the region's own, swapped for the next by sync
	why       string        // set by Retire: what a later access is, "use after close"
	site      func() string // set by Retire: where the region was retired; may be nil
	file      *fileInfo     // the file MapFileShared mapped at the usable start; nil for other regions
}

// info snapshots r. r.mu must be held.
func (r *Region) info() *info {
	return &info{id: r.id, name: r.name, addr: r.addr, total: r.total, guard: r.guard, size: r.size, committed: r.committed, spans: r.spans}
}

// locate builds the Location of addr, which lies in the reservation.
func (in *info) locate(addr uintptr, part Part) Location {
	return Location{
		Addr:      addr,
		Region:    in.name,
		Part:      part,
		Offset:    int64(addr) - int64(in.addr+in.guard),
		Size:      int(in.size),
		Committed: int(in.committed),
	}
}

// closedAt is the Location of addr in a closed region, with what Retire
// was told.
func (in *info) closedAt(addr uintptr) Location {
	loc := in.locate(addr, PartClosed)
	loc.Reason = in.why
	if in.site != nil {
		loc.Site = in.site()
	}
	return loc
}

// closedKept is how many closed regions Lookup still recognises. Beyond
// that, an old address is "outside every region".
const closedKept = 64

// registry holds the latest snapshot of every live region and the last
// closedKept closed ones.
var registry struct {
	mu     sync.RWMutex
	live   map[uint64]*info  // guarded by mu
	closed [closedKept]*info // ring, guarded by mu
	next   int               // next slot of closed; guarded by mu
}

// sync shows Lookup the region's current committed size and page states.
// r.mu must be held.
func (r *Region) sync() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	r.in.committed, r.in.spans = r.committed, r.spans
}

// publish records a new live region.
func publish(in *info) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.live == nil {
		registry.live = make(map[uint64]*info)
	}
	registry.live[in.id] = in
}

// retire moves a region from the live set to the closed ring.
func retire(in *info) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.live, in.id)
	registry.closed[registry.next] = in
	registry.next = (registry.next + 1) % closedKept
}

// Lookup names addr: the region it belongs to, the part (guard, usable,
// protected, punched, reserved, closed) and its offset from the usable
// start. It returns PartUnknown for an address outside every live region
// and the last 64 closed ones. Safe for concurrent use; O(regions).
func Lookup(addr uintptr) Location {
	registry.mu.RLock()
	defer registry.mu.RUnlock() // the infos' spans may change once it is released
	live := make([]*info, 0, len(registry.live))
	for _, in := range registry.live {
		live = append(live, in)
	}
	closed := make([]*info, 0, closedKept)
	for i := 1; i <= closedKept; i++ {
		if in := registry.closed[(registry.next-i+closedKept)%closedKept]; in != nil {
			closed = append(closed, in)
		}
	}
	return attribute(addr, live, closed)
}
