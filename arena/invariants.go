package arena

import (
	"fmt"
	"sync/atomic"
)

// enter and exit bracket the slow-path methods of a Bump in arenadebug
// builds, and panic when two goroutines are inside at once: a Bump is for
// one goroutine at a time. The fast path is not bracketed (it would cost
// an atomic operation per allocation), so the check is a sample, not a
// proof.
func (st *bumpState) enter() {
	if atomic.AddInt32(&st.inside, 1) != 1 {
		atomic.AddInt32(&st.inside, -1)
		panic(fmt.Sprintf("arena: bump arena %q used by two goroutines at once; use a Shared", st.name))
	}
}

func (st *bumpState) exit() { atomic.AddInt32(&st.inside, -1) }

// validate checks the arena's invariants and panics naming the first one
// broken. It walks every chunk: O(chunks).
func (b *Bump) validate() {
	st := b.st
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("arena: invariant broken in %q: ", st.name) + fmt.Sprintf(format, args...))
	}
	var mapped uintptr
	for _, c := range st.chunks {
		mapped += c.size
		if c.dirty > c.size {
			fail("chunk dirty %d > size %d", c.dirty, c.size)
		}
	}
	for _, q := range st.quar {
		mapped += q.c.size
	}
	if mapped != st.mapped {
		fail("mapped %d, chunks add up to %d", st.mapped, mapped)
	}
	if lim := uintptr(st.opts.Limit); lim > 0 && mapped > lim {
		fail("mapped %d past the limit %d", mapped, lim)
	}
	if st.cur < 0 {
		if b.base != nil || b.off != 0 || b.zeroTo != 0 {
			fail("no current chunk, yet base/off/zeroTo = %p/%d/%d", b.base, b.off, b.zeroTo)
		}
		return
	}
	c := st.chunks[st.cur]
	if b.base != c.base || b.off > b.zeroTo || b.zeroTo > c.size {
		fail("current chunk: off %d, zeroTo %d, size %d", b.off, b.zeroTo, c.size)
	}
	if c.ready > c.size {
		fail("chunk ready %d > size %d", c.ready, c.size)
	}
}

// poisonByte fills memory freed by Reset in arenadebug builds, so that a
// stale pointer reads 0xCC bytes rather than plausible old values.
const poisonByte = 0xCC

// poison fills the used part of every chunk up to the current one.
func (st *bumpState) poison() {
	for _, c := range st.chunks[:st.cur+1] {
		if c.dirty > 0 {
			mem := bytesOf(c.base, int(c.dirty))
			for i := range mem {
				mem[i] = poisonByte
			}
		}
	}
}
