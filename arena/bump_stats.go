package arena

import (
	"sync/atomic"
	"time"

	"github.com/mmarena/mmarena/arena/hardened"
)

// stats is Stats for a Bump without sampling, and for a sampling Bump's
// twin.
func (b *Bump) stats() Stats {
	if b.st == nil {
		return Stats{} // the zero Bump
	}
	st := b.st
	inUse := uint64(st.done + b.off)
	s := Stats{
		Name: st.name, Kind: st.kind,
		Requested: b.requested, InUse: inUse, Peak: max(uint64(st.peak), inUse),
		Committed: uint64(st.mapped),
		Allocs:    b.allocs, Resets: st.resets, Closed: st.closed,
	}
	st.addChunkStats(&s)
	if !st.closed {
		b.store()
	}
	return s
}

// How a Bump's and a Shared's numbers reach the registry (see Summary):
// the arena stores them in pub, a handful of atomics, and TakeSnapshot
// reads them from any goroutine without waiting for the arena. Nothing
// is formatted, sorted or allocated on the way, but the list of ranges
// when the chunks have changed, and a Bump reads the clock only when it
// answers an ask or its chunks changed. A Reset nobody asked about costs
// one atomic load and two compares (Bump.publish).

// bumpPub holds what TakeSnapshot may read of a Bump or a Shared from
// another goroutine. Written by the arena's goroutine (a Shared's under
// its mutex).
type bumpPub struct {
	inUse, committed, allocs, resets atomic.Uint64
	chunks                           atomic.Int64                   // chunks, quarantined ones included
	updated                          atomic.Int64                   // when a Bump last answered, Unix nanoseconds; 0 before
	ranges                           atomic.Pointer[[]Range]        // never changed once stored
	sample                           atomic.Pointer[hardened.Stats] // nil when sampling is off
	answered                         uint64                         // asks when last published; the arena's own
}

// publish stores b's numbers for the registry if its chunks changed or
// a snapshot has asked since b last did; otherwise it costs one atomic
// load and two compares. Called by the goroutine using b, at a new chunk,
// Reset, Trim and the pool's Put.
func (b *Bump) publish() {
	if b.st.ranges == nil || asks.Load() != b.st.pub.answered {
		b.store()
	}
}

// store publishes b's numbers for the registry, with the time. It
// allocates only when the chunks changed since the last time.
func (b *Bump) store() {
	st := b.st
	if st.slot == nil {
		return
	}
	inUse, allocs := uint64(st.done+b.off), b.allocs
	if st.smp != nil { // b is the inner Bump: add what was sampled
		s := st.smp.stats()
		st.pub.sample.Store(s)
		allocs += s.Sampled
		inUse += s.LiveBytes
	}
	st.publish(inUse, allocs)
	st.pub.updated.Store(time.Now().UnixNano())
}

// publish stores the numbers the state keeps, with inUse and allocs as
// the arena counts them. Called by the arena's goroutine, or under a
// Shared's mutex.
func (st *bumpState) publish(inUse, allocs uint64) {
	p := &st.pub
	p.answered = asks.Load()
	p.inUse.Store(inUse)
	p.allocs.Store(allocs)
	p.committed.Store(uint64(st.mapped))
	p.resets.Store(st.resets)
	p.chunks.Store(int64(len(st.chunks) + len(st.quar)))
	if st.ranges == nil {
		rs := st.chunkRanges()
		p.ranges.Store(&rs)
	}
}

// published assembles the arena's Summary from what it last published.
// Safe for concurrent use with the arena's goroutine: it reads atomics
// and the registry's slot only. A Shared's Updated is set by its caller;
// a Bump's is when it last published, or when it was registered (or
// found leaked) if it never did.
func (st *bumpState) published() Summary {
	p := &st.pub
	s := *st.slot.Load() // what does not change: id, name, kind, leaked
	s.InUse, s.Committed, s.Allocs, s.Resets = p.inUse.Load(), p.committed.Load(), p.allocs.Load(), p.resets.Load()
	s.Chunks = int(p.chunks.Load())
	if rs := p.ranges.Load(); rs != nil {
		s.Ranges = *rs
	}
	if u := p.updated.Load(); u != 0 {
		s.Updated = time.Unix(0, u)
	}
	s.Sample = p.sample.Load()
	return s
}
