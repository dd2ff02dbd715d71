package list

import (
	"fmt"

	"github.com/mmarena/mmarena/arena"
)

// Check walks l and returns an error matching ErrBroken that names the
// first invariant that does not hold: every node reached from the front
// is a live node of l, in a block its arena handed out (on a File: one
// the last Commit kept, or Alloc made since this open), whose prev is
// the node before it, the walk ends at
// back after len nodes, the free list holds nfree free nodes of l, no
// operation is left half done, and len plus nfree is the number of
// nodes. Call it after arena.ErrOwnerDead to see whether the dead
// process left the list half changed (Repair mends it). It writes
// nothing, and stops after nodes steps, so a cycle is reported, not
// followed. It returns the lock's errors without the lock. O(nodes).
func (l *RefList[T]) Check() error {
	if err := l.held(); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	h := l.h
	broken := func(format string, args ...any) error {
		return fmt.Errorf("list: "+format+": %w", append(args, ErrBroken)...)
	}
	var none arena.Ref[RefElement[T]]
	if h.pending != none {
		return broken("an operation was left half done")
	}
	var prev arena.Ref[RefElement[T]]
	n := uint64(0)
	for r := h.front; r != none; {
		if n++; n > h.nodes {
			return broken("more than its %d nodes reached from the front: a cycle", h.nodes)
		}
		e := r.At(l.s)
		if e == nil || !l.mine(e) || !l.handedOut(e) || e.next == r || e.next == none && r != h.back {
			return broken("element %d from the front is not a live node of this list", n-1)
		}
		if l.prevOf(e) != prev {
			return broken("element %d from the front does not link back to the one before it", n-1)
		}
		prev, r = r, e.next
	}
	switch {
	case prev != h.back:
		return broken("the walk from the front does not end at back")
	case n != h.len:
		return broken("%d elements reached from the front, len is %d", n, h.len)
	}
	f := uint64(0)
	for r := h.free; r != none; {
		if f++; f > h.nodes {
			return broken("more than its %d nodes on the free list: a cycle", h.nodes)
		}
		e := r.At(l.s)
		if e == nil || !l.mine(e) || !l.handedOut(e) || !l.free(e, r) {
			return broken("free node %d is not a free node of this list", f-1)
		}
		r = l.prevOf(e)
	}
	switch {
	case f != h.nfree:
		return broken("%d free nodes reached, nfree is %d", f, h.nfree)
	case h.len+h.nfree != h.nodes:
		return broken("len %d and nfree %d do not add up to its %d nodes", h.len, h.nfree, h.nodes)
	}
	return nil
}

// Repair rebuilds l from its forward links after a process died holding
// the arena's lock (arena.ErrOwnerDead): every element reached from the
// front stays, in order, and what hangs off them is set to agree (the
// prev links, back, len); the free list is kept up to the first node
// that is not a free node of l; the node an operation was moving when
// its process died goes back to the free list. So every push and remove
// that took effect before the death is kept, and the one in progress is
// either whole or absent. Nodes reached twice (a cycle, which no
// operation makes) are cut off. Afterwards Check returns nil; the caller
// then calls the arena's MarkConsistent. It returns the lock's errors
// without the lock. O(nodes): two passes over each chain.
func (l *RefList[T]) Repair() error {
	if err := l.canWrite(); err != nil {
		return err
	}
	h := l.h
	var none arena.Ref[RefElement[T]]
	// While a chain is walked, each node reached is marked by tagMark
	// flipped into its prev's tag, which makes it look like another
	// list's: a node met again, or one that is not l's, ends the chain
	// there. A second pass flips the marks back.
	marked := func(e *RefElement[T]) bool {
		p := e.prev.Tag(l.tag ^ tagMark)
		return p == none || p.At(l.s) != nil
	}
	unmark := func(from arena.Ref[RefElement[T]], next func(*RefElement[T]) arena.Ref[RefElement[T]]) {
		for r := from; r != none; {
			e := r.At(l.s)
			if e == nil || !marked(e) {
				return
			}
			e.prev = e.prev.Tag(tagMark)
			r = next(e)
		}
	}
	sawPending := false

	// The forward chain: the live elements.
	var prev arena.Ref[RefElement[T]]
	var last *RefElement[T]
	n := uint64(0)
	for r := h.front; r != none; {
		e := r.At(l.s)
		if e == nil || !l.mine(e) || !l.handedOut(e) || e.next == r {
			if last != nil {
				last.next = none
			} else {
				h.front = none
			}
			break
		}
		sawPending = sawPending || r == h.pending
		e.prev = l.link(prev).Tag(tagMark)
		prev, last, r = r, e, e.next
		n++
	}
	unmark(h.front, func(e *RefElement[T]) arena.Ref[RefElement[T]] { return e.next })
	h.back, h.len = prev, n

	// The free list, linked through prev.
	var lastFree *RefElement[T]
	f := uint64(0)
	for r := h.free; r != none; {
		e := r.At(l.s)
		if e == nil || !l.mine(e) || !l.handedOut(e) || e.next != none || r == h.back {
			if lastFree != nil {
				lastFree.prev = l.link(none).Tag(tagMark)
			} else {
				h.free = none
			}
			break
		}
		sawPending = sawPending || r == h.pending
		next := l.prevOf(e)
		e.prev = e.prev.Tag(tagMark)
		lastFree, r = e, next
		f++
	}
	unmark(h.free, l.prevOf)

	// The node in flight, if it is on neither chain: a new node from
	// the arena (its prev may still be zero, untagged) or one taken from
	// or going to the free list.
	if p := h.pending; p != none && !sawPending {
		if e := p.At(l.s); e != nil && l.handedOut(e) && (l.mine(e) || e.prev == none) {
			e.next, e.prev = none, l.link(h.free)
			h.free = p
			f++
		}
	}
	h.nfree, h.nodes = f, n+f
	h.pending = none
	return nil
}

// handedOut reports whether e lies in memory l's arena handed out: on
// a Memfd every node that resolves does; on a File, a node pushed after
// the last Commit and before a Close or a crash lies past the blocks
// the reopen kept (its links were written in place, the block not
// committed), and the next Alloc would hand its bytes out again.
func (l *RefList[T]) handedOut(e *RefElement[T]) bool {
	_, err := l.refOf(e)
	return err == nil
}
