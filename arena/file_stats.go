package arena

import "time"

// File statistics. A File is in the process-wide registry like every
// arena, so TakeSnapshot, the expvar handler and arenastat watch list it
// (kind "file"), once per open. Nothing is counted on the fast path: the
// cursor and the mapped size are the numbers, and a File publishes them
// when a snapshot has asked since its last answer, at its next Alloc
// (one atomic load when nobody asked), Commit or Stats.

// Stats returns the arena's statistics: Name, Kind "file", InUse and
// Peak (the bytes handed out since the header, committed or not, root
// included; nothing is freed, so they are equal), Committed (the bytes
// of the file mapped here, which its size matches), Reserved (the
// address space held for it, guard pages included), Resident (of the
// mapping), Chunks 1 and Mappings. Requested and Allocs are not counted
// (0). After Close it returns the name, the kind and Closed. It changes
// nothing in the arena and makes no system call but the residency count.
func (a *File) Stats() Stats {
	if a == nil {
		return Stats{Kind: kindFile, Closed: true}
	}
	if a.base == nil {
		return Stats{Name: a.name, Kind: kindFile, Closed: true}
	}
	inUse := a.cursor - fileDataStart
	out := Stats{
		Name: a.name, Kind: kindFile, InUse: inUse, Peak: inUse, Committed: a.n,
		Reserved: uint64(a.r.Size()) + 2*uint64(a.r.GuardSize()),
		Chunks:   1, Mappings: a.r.Mappings(),
	}
	if n, err := a.r.Resident(); err == nil {
		out.Resident = uint64(n)
	}
	a.store()
	return out
}

// register puts a in the registry, naming pc as where it was made or
// opened.
func (a *File) register(pc uintptr) {
	registerAt(Summary{Name: a.name, Kind: kindFile, Chunks: 1}, pc, nil, &a.id, &a.entry)
	a.store()
}

// publish stores a's numbers for the registry if a snapshot asked since
// the last time; one atomic load otherwise.
func (a *File) publish() {
	if asks.Load() != a.answered {
		a.store()
	}
}

// store publishes the bytes in use and mapped, with the mapping's range
// and the time.
func (a *File) store() {
	if a.entry == nil {
		return
	}
	a.answered = asks.Load()
	s := *a.entry.Load()
	s.InUse, s.Committed, s.Updated = a.cursor-fileDataStart, a.n, time.Now()
	s.Ranges = []Range{{uint64(a.r.Addr()), uint64(a.r.Addr()) + a.n}}
	a.entry.Store(&s)
}
