package arena

import "time"

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
		b.publish()
	}
	return s
}

// publish refreshes a Bump's summary. Called by the goroutine using it.
func (b *Bump) publish() {
	st := b.st
	if st.slot == nil {
		return
	}
	s := &Summary{
		ID: st.id, Name: st.name, Kind: st.kind, Site: site(st.site),
		InUse: uint64(st.done + b.off), Committed: uint64(st.mapped),
		Chunks: len(st.chunks) + len(st.quar), Allocs: b.allocs, Resets: st.resets,
		Ranges: st.chunkRanges(), Updated: time.Now(),
	}
	if st.smp != nil { // b is the inner Bump: add what was sampled
		s.Sample = st.smp.stats()
		s.Allocs += s.Sample.Sampled
		s.InUse += s.Sample.LiveBytes
	}
	st.slot.Store(s)
}
