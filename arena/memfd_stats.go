package arena

import (
	"sync/atomic"
	"time"
)

// Memfd statistics. A Memfd is in the process-wide registry like every
// arena, so TakeSnapshot, the expvar handler and arenastat watch list it
// (kind "memfd"), once in each process that made or attached it. Its
// numbers are the file's, shared by every process: InUse is what all of
// them have allocated, root included; Committed the file's size. Nothing
// is counted on the fast path: the header already holds the cursor and
// the size, and a Memfd publishes them when a snapshot has asked since
// its last answer, at its next Unlock (one atomic load when nobody
// asked) or Stats, as a Bump answers at its next event.

// Stats returns the arena's statistics: Name, Kind "memfd", InUse and
// Peak (the bytes every process has allocated from the file, root
// included; nothing is freed, so they are equal), Committed (the file's
// size), Reserved (the address space this process holds for it, guard
// pages included), Resident (of this process's mapping), Chunks 1 and
// Mappings. Requested and Allocs are not counted (0): the processes
// share one cursor and no counter. After Close it returns the name, the
// kind and Closed. Like Alloc it needs the lock held by this process
// (Lock maps what another process grew, which Stats reads); it changes
// nothing in the arena. TakeSnapshot needs no lock: it reads what the
// arena last published.
func (a *Memfd) Stats() Stats {
	if a == nil {
		return Stats{Kind: kindMemfd, Closed: true}
	}
	if a.closed {
		return Stats{Name: a.name, Kind: kindMemfd, Closed: true}
	}
	inUse, committed := a.header()
	out := Stats{
		Name: a.name, Kind: kindMemfd, InUse: inUse, Peak: inUse, Committed: committed,
		Reserved: uint64(a.r.Size()) + 2*uint64(a.r.GuardSize()),
		Chunks:   1, Mappings: a.r.Mappings(),
	}
	if n, err := a.r.Resident(); err == nil {
		out.Resident = uint64(n)
	}
	a.store(inUse, committed)
	return out
}

// header reads the shared cursor and size. Under the lock no other
// process moves them; publish's callers hold it. They are loaded
// atomically all the same, so that a reader that does not hold it, by
// mistake, still gets whole values, never torn ones: both only grow.
func (a *Memfd) header() (inUse, committed uint64) {
	return atomic.LoadUint64(&a.hdr.cursor) - memfdHeaderSize, atomic.LoadUint64(&a.hdr.committed)
}

// register puts a in the registry, naming pc as where it was made or
// attached.
func (a *Memfd) register(pc uintptr) {
	registerAt(Summary{Name: a.name, Kind: kindMemfd, Chunks: 1}, pc, nil, &a.id, &a.slot)
	a.publish()
}

// publish stores a's numbers for the registry if a snapshot asked since
// the last time; one atomic load otherwise.
func (a *Memfd) publish() {
	if asks.Load() != a.answered {
		a.store(a.header())
	}
}

// store publishes inUse and committed, with the mapping's range and the
// time.
func (a *Memfd) store(inUse, committed uint64) {
	if a.slot == nil {
		return
	}
	a.answered = asks.Load()
	s := *a.slot.Load()
	s.InUse, s.Committed, s.Updated = inUse, committed, time.Now()
	s.Ranges = []Range{{uint64(a.r.Addr()), uint64(a.r.Addr()) + a.n}}
	a.slot.Store(&s)
}
