package arena

import (
	"fmt"
	"unsafe"
)

// Hardened mode of a Bump (Options.Sample). A sampling Bump keeps a twin,
// inner, that serves the allocations not sampled and shares its state
// st. The sampling Bump's own fast path always fails (its base and
// zeroTo stay 0), so that each allocation reaches allocSlow and the
// sampling counter; a Bump without sampling pays nothing for it.
//
// This file holds every branch on inner: the exported methods whose work
// differs in hardened mode are defined here, each handing over to the
// plain method of bump.go or to its sampling counterpart below, so that
// bump.go is the plain allocator alone and nothing else of a Bump knows
// about sampling.

// Reset frees every allocation at once: the memory is reused by later
// allocations, zeroed as it is handed out again. Pointers obtained before
// Reset must not be used after it. O(1) by default; with ResetRelease or
// Quarantine, one or two system calls per chunk. Reset after Close does
// nothing.
func (b *Bump) Reset() {
	if b.inner != nil {
		b.resetSampling()
		return
	}
	b.reset()
}

// Trim gives memory the arena is not using back to the OS: chunks kept
// for reuse are unmapped, and the unused pages of the current chunk are
// released (RSS falls). Allocations are untouched. It returns ErrClosed
// after Close, or the first system-call error.
func (b *Bump) Trim() error {
	if b.inner != nil {
		return b.trimSampling()
	}
	return b.trim()
}

// Freeze makes the arena read-only: every chunk becomes PROT_READ, so a
// structure built in it can still be read, by any number of goroutines,
// but a stray write faults and guard names the page "read-only page,
// frozen". Allocation fails with ErrFrozen until Thaw; Reset thaws first.
// Each chunk costs one or two kernel mappings more while frozen. It
// returns ErrClosed after Close (and after Pool.Put, until Get), or the
// first system-call error, having thawed what it froze.
func (b *Bump) Freeze() error {
	if b.st != nil && b.st.pooled {
		return errPooled // the next Get would hand out a read-only arena
	}
	if b.inner != nil {
		return b.freezeSampling()
	}
	return b.freeze()
}

// Thaw makes a frozen arena writable again, as it was before Freeze. If
// the kernel refuses for a chunk, Thaw returns the error and the arena
// stays frozen; Thaw may be called again.
func (b *Bump) Thaw() error {
	if b.inner != nil {
		return b.thawSampling()
	}
	return b.unfreeze()
}

// Close gives every chunk back. Every allocation becomes invalid; afterwards
// Alloc and the helpers return ErrClosed, Reset does nothing, and Close
// returns nil again. The chunks' pages are dropped, but their address
// ranges stay reserved and fenced in guard's quarantine (see
// guard.SetQuarantine), so a pointer kept past Close faults, and hardened.Catch
// names it a use after close of this arena, with the Close call site,
// instead of reading whatever arena is made next. It returns the first
// system-call error, if any, wrapping its errno; the arena is closed all
// the same, and a range the kernel refused to unmap is kept by guard for
// a retry (guard.FlushUnmaps), never left mapped for good.
//
// An arena must outlive every pointer into it. One dropped without Close
// is reported (SetLeakHandler) and keeps its memory, mapped and intact.
func (b *Bump) Close() error {
	if b.inner != nil {
		b.closeSampling()
	}
	return b.closeChunks()
}

// allocSlow handles everything the fast path does not: bad arguments,
// size 0, zeroing ahead after a Reset, and moving to a new chunk.
func (b *Bump) allocSlow(size, al uintptr) (unsafe.Pointer, error) {
	if b.st != nil && b.st.pooled {
		return nil, errPooled // its fast path is shut: every allocation comes here
	}
	if b.inner != nil {
		return b.allocSampling(size, al)
	}
	return b.allocMore(size, al)
}

// Stats returns the arena's statistics. It makes one mincore call per
// chunk, so it is for monitoring, not for the fast path.
func (b *Bump) Stats() Stats {
	if b.inner != nil {
		return b.statsSampling()
	}
	return b.stats()
}

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
	if st.closed || st.pooled {
		return
	}
	if st.frozen {
		_ = st.smp.pool.Thaw() // the blocks are about to be fenced
	}
	b.inner.reset()
	st.smp.pool.Reset()
	b.gen++
}

// freezeSampling is Freeze with Options.Sample: the inner Bump's chunks
// and the live sampled blocks become read-only, or none of them.
func (b *Bump) freezeSampling() error {
	st := b.st
	switch {
	case st.closed:
		return ErrClosed
	case st.frozen:
		return nil
	}
	if err := b.inner.freeze(); err != nil {
		return err
	}
	if err := st.smp.pool.Freeze(); err != nil {
		_ = st.smp.pool.Thaw()
		_ = b.inner.unfreeze()
		return fmt.Errorf("arena: freeze %q: %w", st.name, err)
	}
	return nil
}

// thawSampling is Thaw with Options.Sample.
func (b *Bump) thawSampling() error {
	switch {
	case b.st.closed:
		return ErrClosed
	case !b.st.frozen:
		return nil
	}
	err := b.st.smp.pool.Thaw()
	if e := b.inner.unfreeze(); e != nil {
		err = e
	}
	return err
}

// trimSampling is Trim with Options.Sample: the inner Bump's chunks give
// back what they do not use; the sampled blocks are live or fenced, with
// nothing to give back.
func (b *Bump) trimSampling() error { return b.inner.trim() }

// closeSampling shuts the inner Bump's fast path at Close; st.close, which
// both share, retires the chunks and closes the pool.
func (b *Bump) closeSampling() { b.inner.base, b.inner.off, b.inner.zeroTo = nil, 0, 0 }

// statsSampling is Stats with Options.Sample: the inner Bump's numbers,
// this Bump's counts of the sampled allocations, and the pool's.
func (b *Bump) statsSampling() Stats {
	s := b.inner.stats()
	s.Allocs += b.allocs
	s.Requested += b.requested
	s.Sample = b.st.smp.stats()
	s.InUse += s.Sample.LiveBytes
	s.Peak = max(s.Peak, s.InUse)
	return s
}
