package arena

import (
	"fmt"
	"unsafe"
)

// Hardened mode of a Bump (Options.Sample). A sampling Bump keeps a twin,
// inner, that serves the allocations not sampled and shares its state
// st. The sampling Bump's own fast path always fails (its base and
// zeroTo stay 0), so that each allocation reaches allocSlow and the
// sampling counter; a Bump without sampling pays nothing for it. The
// methods of bump.go hand over to those below as their first step when
// inner is set, and nothing else of a Bump knows about sampling.

// startSampling makes b a sampling Bump: a sampler and its twin.
func (b *Bump) startSampling() error {
	smp, err := newSampler(b.st.name, b.st.opts.Sample)
	if err != nil {
		return err
	}
	b.st.smp = smp
	b.inner = &Bump{st: b.st}
	return nil
}

// allocSampling is Alloc with Options.Sample: one allocation in Every
// goes to the pool; the others, and those it cannot place, to the inner
// Bump.
func (b *Bump) allocSampling(size, al uintptr) (unsafe.Pointer, error) {
	st := b.st
	if size > 0 && !st.closed && !st.frozen && st.smp.tick() {
		if p := st.smp.alloc(size, al); p != nil {
			b.allocs++
			b.requested += uint64(size)
			return p, nil
		}
	}
	return b.inner.Alloc(size, al)
}

// resetSampling is Reset with Options.Sample: the inner Bump is reset and
// every live sampled block fenced, as freed by this Reset.
func (b *Bump) resetSampling() {
	st := b.st
	if st.frozen {
		_ = st.smp.pool.Thaw() // the blocks are about to be fenced
	}
	b.inner.Reset()
	st.smp.pool.Reset()
	b.gen++
}

// freezeSampling is Freeze with Options.Sample: the inner Bump's chunks
// and the live sampled blocks become read-only, or none of them.
func (b *Bump) freezeSampling() error {
	st := b.st
	if err := b.inner.Freeze(); err != nil {
		return err
	}
	if err := st.smp.pool.Freeze(); err != nil {
		_ = st.smp.pool.Thaw()
		_ = b.inner.Thaw()
		return fmt.Errorf("arena: freeze %q: %w", st.name, err)
	}
	return nil
}

// thawSampling is Thaw with Options.Sample.
func (b *Bump) thawSampling() error {
	err := b.st.smp.pool.Thaw()
	if e := b.inner.Thaw(); e != nil {
		err = e
	}
	return err
}

// trimSampling is Trim with Options.Sample: the inner Bump's chunks give
// back what they do not use; the sampled blocks are live or fenced, with
// nothing to give back.
func (b *Bump) trimSampling() error { return b.inner.Trim() }

// closeSampling shuts the inner Bump's fast path at Close; st.close, which
// both share, retires the chunks and closes the pool.
func (b *Bump) closeSampling() { b.inner.base, b.inner.off, b.inner.zeroTo = nil, 0, 0 }

// statsSampling is Stats with Options.Sample: the inner Bump's numbers,
// this Bump's counts of the sampled allocations, and the pool's.
func (b *Bump) statsSampling() Stats {
	s := b.inner.Stats()
	s.Allocs += b.allocs
	s.Requested += b.requested
	s.Sample = b.st.smp.stats()
	s.InUse += s.Sample.LiveBytes
	s.Peak = max(s.Peak, s.InUse)
	return s
}
