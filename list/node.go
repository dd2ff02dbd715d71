package list

import (
	"slices"
	"unsafe"
)

// An Element is a node of a List, and lives in the list's arena. Value is
// a field, as in container/list, so e.Value = v writes the arena memory
// directly; the other fields are links and are not exported.
//
// A node is in one of three states: uncarved (in a slab, never handed
// out: reads as zero), live (next and prev are its neighbours, nil at
// the ends) and free (removed: next points at the node itself, which no
// live node does, and prev at the next free node). A removed element is
// reused by a later push of the same list, so an *Element kept after
// Remove may come to stand for another value, as a C pointer would; it
// never stands for a node of another list.
//
// An Element is read and written by its List's goroutine only, like the
// List. Copying an Element copies its value but not its place: the copy is
// not in any list.
type Element[T any] struct {
	next, prev *Element[T] // into the arena only; see the states above
	Value      T
}

// Next returns the element after e, or nil if e is the last one or has
// been removed. O(1).
func (e *Element[T]) Next() *Element[T] {
	if n := e.next; n != e {
		return n
	}
	return nil
}

// Prev returns the element before e, or nil if e is the first one or has
// been removed. O(1).
func (e *Element[T]) Prev() *Element[T] {
	if e.next != e {
		return e.prev
	}
	return nil
}

// free reports whether e is on its list's free list.
func (e *Element[T]) free() bool { return e.next == e }

// All pointer arithmetic of the package is here. Slabs are arena memory:
// the GC neither scans nor moves it, so pointers into it may be offset and
// compared as integers while the arena is open.

// nodeSize returns the size of one node, links included; a multiple of
// its alignment, so nodes placed back to back all stay aligned.
func nodeSize[T any]() uintptr { return unsafe.Sizeof(Element[T]{}) }

// nodeAlign returns the alignment a slab needs.
func nodeAlign[T any]() uintptr { return unsafe.Alignof(Element[T]{}) }

// nodeAt returns the node at p. ok: p is a slab's base or the end of a
// node carved from it, and the slab has room for a node there.
func nodeAt[T any](p unsafe.Pointer) *Element[T] { return (*Element[T])(p) }

// after returns the address of the node after e in its slab. ok: the
// caller carves it only while the slab has nodes left.
func after[T any](e *Element[T]) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(e), nodeSize[T]()) }

// addr returns e's address as an integer, to compare with slab bounds.
// ok: the integer is never turned back into a pointer.
func addr[T any](e *Element[T]) uintptr { return uintptr(unsafe.Pointer(e)) }

// A span is a run of nodes laid out back to back: one slab, or slabs the
// arena happened to hand out adjacently.
type span struct {
	lo, hi uintptr // [lo, hi); hi-lo is a multiple of the node size
}

// spanSet is a list's slabs, sorted by address and disjoint, so that an
// element can be recognised as the list's own without reading its
// memory, which may be unmapped if it is not.
type spanSet []span

// add records the slab of n nodes at p, merging it with the span it
// extends. O(1) when slabs arrive in address order, as a bump arena
// hands them out; O(spans) otherwise.
func (s *spanSet) add(p unsafe.Pointer, n int, size uintptr) {
	lo := uintptr(p) // ok: compared, never turned back into a pointer
	hi := lo + uintptr(n)*size
	set := *s
	if k := len(set); k > 0 && set[k-1].hi == lo {
		set[k-1].hi = hi
		return
	}
	i, _ := slices.BinarySearchFunc(set, lo, func(sp span, lo uintptr) int {
		switch {
		case sp.lo < lo:
			return -1
		case sp.lo > lo:
			return 1
		}
		return 0
	})
	*s = slices.Insert(set, i, span{lo, hi})
}

// find returns the start of the span holding address a, and false if
// none does. O(log spans), the newest span first: most lists have one.
func (s spanSet) find(a uintptr) (uintptr, bool) {
	if k := len(s); k > 0 && a >= s[k-1].lo && a < s[k-1].hi {
		return s[k-1].lo, true
	}
	i, found := slices.BinarySearchFunc(s, a, func(sp span, a uintptr) int {
		switch {
		case sp.hi <= a:
			return -1
		case sp.lo > a:
			return 1
		}
		return 0
	})
	if !found {
		return 0, false
	}
	return s[i].lo, true
}

// holds reports whether e is a node of one of the spans: inside one, at a
// whole number of nodes from its start. Generic, so that the division is
// by a constant.
func holds[T any](s spanSet, e *Element[T]) bool {
	a := addr(e)
	lo, ok := s.find(a)
	return ok && (a-lo)%nodeSize[T]() == 0
}
