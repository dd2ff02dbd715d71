// Package list is container/list with its nodes off the Go heap: a
// generic doubly linked list whose elements live in an arena, so a list
// of millions of elements costs the garbage collector nothing on each
// cycle. It is the lecture's mmap-list.c grown up: list_init is New (with
// an optional capacity), list_add is PushFront, list_visit is All, and the
// list_free left as an exercise is Remove, whose nodes are reused.
//
// **No Go pointer may be stored in arena memory**; the GC does not scan
// it. New refuses an element type that holds Go pointers with the error
// arena.New gives (ErrPointers, naming the field). The links between
// nodes are pointers into the arena, which the GC ignores: that is the one
// vetted exception, and no node ever points at the Go heap, not even at
// its List.
//
// When it is worth it: a long-lived list of many small, pointer-free
// values next to a busy heap. When not: a short list, or values that hold
// strings or pointers.
//
// Safety promised: an element is recognised as a list's own by its
// address, which must lie in one of the list's slabs, before its memory is
// read, so a foreign, removed or stale element gets an error (ErrNotInList,
// ErrRemoved), never corruption; a list whose arena was closed reads as
// empty and its pushes return arena.ErrClosed. Where it stops: an
// *Element kept past its arena's Close points at unmapped memory, as any
// arena pointer does. Reset of the arena frees the nodes under the list:
// the list notices at its next call (the arena's State reports a new generation) and is
// then empty, its old elements no longer its own (ErrNotInList); an
// *Element read directly after the Reset reads reused memory.
//
// Across processes: a RefList keeps its head (a RefHead in the arena's
// root) and its nodes in an arena.Memfd, linked by arena.Refs, offsets
// that mean the same at whatever address each process maps the file, so
// processes attached to the arena share one list, each call under the
// arena's lock. It is ordered so that a holder killed mid-operation
// leaves its forward links whole: Repair, after arena.ErrOwnerDead,
// rebuilds the rest and loses nothing that took effect.
// The same list lives in an arena.File (OnFile): built, committed,
// closed and reopened, here or in another process, at any address, it
// is there with nothing to decode. A File has one writer (its flock)
// and no lock of its own; pushes since the last Commit are not kept by
// a reopen, which Check reports and Repair cuts off. A node is three
// words for a one-word value, as a List's is: the list it belongs to
// is a 24-bit tag carried in its prev link (arena.Ref.Tag), checked
// where a node is taken in (Remove, Element, Ref, Prev), not by Next,
// which resolves one Ref: one addition more than following a pointer.
//
// Lifecycle: (1) make an arena (arena.NewBump, arena.NewFreeList); (2) New;
// (3) push, move, remove and visit, removed nodes going to the list's free
// list for the next push; (4) drop the list, then Close the arena.
package list
