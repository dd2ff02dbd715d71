package list

import (
	"errors"
	"fmt"
	"iter"

	"github.com/mmarena/mmarena/arena"
)

// The list across processes. A List links its nodes with addresses and
// keeps its head on the Go heap, which is right for one process and
// useless for two: a second process maps a memfd arena at another
// address and cannot see the first one's heap. A RefList keeps every
// byte of its state in the arena instead: its head (a RefHead, which
// the user places in the Memfd's root) and its nodes (RefElement), all
// linked with arena.Refs, offsets that mean the same in every process
// attached to the arena. It is called RefList after what its links are,
// not "shared": arena.Shared already means an arena that goroutines of
// one process share, and what lets two processes see one list is the
// Memfd under it, not the list.
//
// Crash safety. A process may die (kill -9) between any two stores of
// an operation while it holds the arena's lock; the next locker gets
// arena.ErrOwnerDead and calls Repair. Each operation is ordered so
// that the forward links, from front through next, are always a whole
// list: a push or a remove takes effect in one store (the one that
// makes the node reachable from the front, or unreachable), and the
// backward links, back, len and the counts are derived from the
// forward chain and rebuilt by Repair. The one node an operation moves
// between the list and the free list is named in pending before it is
// unhooked from either, so a node in flight when its process died goes
// back to the free list instead of being lost. What a dead process
// committed (its pushes that reached the forward chain) is kept; what
// it had not, is not.

// A RefHead is the part of a RefList that lives in arena memory: the
// ends, the counts and the free list, all Refs and integers, so it may
// sit in a Memfd's root and both processes see one list. The zero
// RefHead is an empty list, and a memfd's memory starts zero, so a root
// made by arena.CreateMemfd holds an empty list already. Its fields
// are the list's; touch it only through a RefList (OnMemfd).
//
// A RefHead is guarded by its arena's lock, like all the arena's
// memory. It must not be copied: a copy is a second head over the same
// nodes.
type RefHead[T any] struct {
	front, back arena.Ref[RefElement[T]] // the ends; both zero exactly when len == 0
	free        arena.Ref[RefElement[T]] // removed nodes, linked through prev; nfree of them
	pending     arena.Ref[RefElement[T]] // the node an operation moves; zero between operations
	len         uint64                   // live elements
	nfree       uint64                   // nodes on the free list
	nodes       uint64                   // nodes allocated for this list: len + nfree, one more while pending
}

// A RefElement is a node of a RefList, in the list's arena. Value is a
// field, so e.Value = v writes the shared memory directly (under the
// lock); the links are Refs and are not exported.
//
// A node is live (next and prev are its neighbours, zero at the ends)
// or free (removed: next is zero, so Next of a removed element is nil,
// and prev is the next free node; the list's back, the one live node
// whose next is zero too, is told apart by being back). prev carries,
// in the bits that name the arena (arena.Ref.Tag), a 24-bit tag of the
// list the node belongs to, drawn from its RefHead's offset, so a node
// of another list in the same arena is told apart without a field of
// its own: a node is three words for a one-word T, as a List's is, and
// Next, which follows next only, never pays for the tag. Two heads less
// than 32 MiB apart in one arena always have different tags. A removed
// element is reused by a later push of the same list.
//
// An *RefElement is an address in this process, valid until the
// arena's Close here; give another process its Ref (RefList.Ref) and
// turn it back with RefList.Element. It is read and written under the
// arena's lock only.
type RefElement[T any] struct {
	next  arena.Ref[RefElement[T]]
	prev  arena.Ref[RefElement[T]] // tagged with the list's tag: read it through RefList.prevOf
	Value T
}

// A RefList is this process's handle on a list whose head and nodes
// live in a Memfd or a File: OnMemfd makes one over a RefHead in a
// Memfd, in every process that attaches it, and all of them see one
// list; OnFile over a RefHead in a File, in every open of the file,
// wherever it is mapped. On a Memfd every method needs the arena's lock
// held by this process (Memfd.Lock); on a File, the File open (see
// OnFile for its lock rules). Those that change the list return an
// error matching unix.ENOLCK without the lock, arena.ErrFrozen on a File
// opened read-only and arena.ErrClosed after the arena's Close, and
// change nothing; those that only read return the zero value (Len 0, nil
// elements, nothing visited) then, except Next, which trusts the element
// it is given to have been read under the lock.
//
// Bad input is refused before the shared memory is written: an element
// or Ref of another arena or another list, a Ref out of the range this
// process maps, or a zero one (ErrNotInList), a removed element
// (ErrRemoved), a head the links of which are broken (ErrBroken, until
// Repair).
//
// A RefList is for one goroutine at a time, the one that holds the
// lock (a Memfd's lock is taken per process, so two goroutines of one
// process must order themselves, Lock does that; a File is for one
// goroutine at a time); it must not be copied after first use.
type RefList[T any] struct {
	_   noCopy
	s   *arena.RefSpace // the arena's: what every Ref of the list resolves against
	m   *arena.Memfd    // the list's arena, a Memfd (OnMemfd) ...
	f   *arena.File     // ... or a File (OnFile); the other is nil
	h   *RefHead[T]     // in the arena's memory, at the same offset in every process and open
	tag uint32          // the list's tag, from h's offset: every node's prev carries it (listTag)
}

// Tags. A node's prev is stored as prev.Tag(tag): untagged with the same
// tag it is the neighbour's Ref (or zero at the front); untagged with
// another list's, it resolves nowhere and is not zero. tagMark is
// flipped in while Repair walks a chain, so a node it has reached looks
// foreign until the walk is done.
const (
	tagBits = 22      // bits of the head's offset (over 8) a tag holds
	tagSet  = 1 << 23 // set in every tag, so a node's prev is never zero once a list owns it
	tagMark = 1 << 22 // Repair's visited mark
)

// listTag returns the tag of the list whose head's Ref is self: heads
// are 8-aligned, so heads less than 2^(tagBits+3) bytes apart differ.
func listTag[T any](self arena.Ref[RefHead[T]]) uint32 {
	return tagSet | uint32(self.Offset()>>3)&(1<<tagBits-1)
}

// prevOf returns e's prev link, untagged.
func (l *RefList[T]) prevOf(e *RefElement[T]) arena.Ref[RefElement[T]] { return e.prev.Tag(l.tag) }

// link returns r as a node of l stores it in prev.
func (l *RefList[T]) link(r arena.Ref[RefElement[T]]) arena.Ref[RefElement[T]] { return r.Tag(l.tag) }

// mine reports whether e, wholly in the arena, is a node of l: its prev,
// untagged with l's tag, is zero or a node's Ref. A node of another list
// (or one Repair has marked) gives a Ref that resolves nowhere.
func (l *RefList[T]) mine(e *RefElement[T]) bool {
	p := l.prevOf(e)
	return p == (arena.Ref[RefElement[T]]{}) || p.At(l.s) != nil
}

// ErrBroken reports a RefList whose links do not hold together: a
// process died in the middle of an operation (after arena.ErrOwnerDead,
// before Repair), or something wrote over the list's memory. Repair
// rebuilds the list from its forward links.
var ErrBroken = errors.New("list: links are broken; Repair the list")

// OnMemfd returns a handle on the list whose head is h, which must lie
// in a's memory (a field of the root CreateMemfd or AttachMemfd
// returned, say); the zero RefHead is an empty list. It reads and
// writes nothing in the arena. It returns a *arena.PointerError if T
// holds Go pointers, an error matching arena.ErrNotOwned if h is not in
// a, and needs a's lock held, as every RefList method does (unix.ENOLCK,
// arena.ErrClosed). Linux only, as Memfd is: elsewhere there is no
// Memfd to give it.
func OnMemfd[T any](a *arena.Memfd, h *RefHead[T]) (*RefList[T], error) {
	if err := arena.CheckType[T](); err != nil {
		return nil, err
	}
	if err := a.CheckHeld(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if h == nil {
		return nil, fmt.Errorf("list: nil RefHead: %w", arena.ErrNotOwned)
	}
	self, err := arena.MemfdRef(a, h)
	if err != nil {
		return nil, fmt.Errorf("list: RefHead: %w", err)
	}
	return &RefList[T]{s: a.RefSpace(), m: a, h: h, tag: listTag(self)}, nil
}

// held returns nil if l may read its arena now: a Memfd's lock is held
// by this process, a File is open; else why not.
func (l *RefList[T]) held() error {
	if l.m != nil {
		return l.m.CheckHeld()
	}
	if l.f.Used() == 0 { // 0 only for a closed File: an open one holds its header
		return arena.ErrClosed
	}
	return nil
}

// canWrite returns nil if l's arena may be written now, else why not:
// a Memfd's lock not held here, either arena closed, a File opened
// read-only (arena.ErrFrozen), whose pages a write would fault on.
func (l *RefList[T]) canWrite() error {
	if err := l.held(); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if l.f != nil {
		// Alloc of nothing makes no block and changes nothing; it
		// refuses a read-only File.
		if _, err := l.f.Alloc(0, 1); err != nil {
			return fmt.Errorf("list: %w", err)
		}
	}
	return nil
}

// OnFile returns a handle on the list whose head is h, which must lie
// in the file arena a (a field of its root, FileRoot, say); the zero
// RefHead is an empty list, and what a committed file holds is the list
// as it was at that Commit, whatever address this open maps it at. It
// reads and writes nothing in the arena. It returns a *arena.PointerError
// if T holds Go pointers, arena.ErrClosed for a closed or nil a, and an
// error matching arena.ErrNotOwned if h is not in the blocks a handed
// out. On a File opened read-only every reader works and every method
// that would change the list returns an error matching arena.ErrFrozen.
//
// Lock rules on a File: a File has one writer, across processes (the
// flock its read-write open holds; read-only opens share theirs, and
// never run beside a writer), and no cross-process mutex, so a RefList
// on a File takes no lock: its methods need only the File open, and the
// list, like the File, is for one goroutine at a time. Changes reach
// the file as they are made and are durable at the File's Commit; the
// file's commit protocol covers blocks, not writes into blocks committed
// before, so a crash between two Commits may leave links to nodes the
// next open hands out again: a list that must survive crashes is
// changed by a process that commits after each batch, and Check run
// after a reopen tells whether it holds together.
func OnFile[T any](a *arena.File, h *RefHead[T]) (*RefList[T], error) {
	if err := arena.CheckType[T](); err != nil {
		return nil, err
	}
	if a == nil || a.Used() == 0 {
		return nil, fmt.Errorf("list: file arena: %w", arena.ErrClosed)
	}
	if h == nil {
		return nil, fmt.Errorf("list: nil RefHead: %w", arena.ErrNotOwned)
	}
	self, err := arena.FileRef(a, h)
	if err != nil {
		return nil, fmt.Errorf("list: RefHead: %w", err)
	}
	return &RefList[T]{s: a.RefSpace(), f: a, h: h, tag: listTag(self)}, nil
}

// refOf returns e's Ref in l's arena, or ErrNotOwned if e is not wholly
// in the memory it handed out.
func (l *RefList[T]) refOf(e *RefElement[T]) (arena.Ref[RefElement[T]], error) {
	if l.m != nil {
		return arena.MemfdRef(l.m, e)
	}
	return arena.FileRef(l.f, e)
}

// newNode allocates a zero node in l's arena.
func (l *RefList[T]) newNode() (*RefElement[T], error) {
	if l.m != nil {
		return arena.New[RefElement[T]](l.m)
	}
	return arena.New[RefElement[T]](l.f)
}

// readable reports whether l may read the arena now: the lock is held
// here and the arena open.
func (l *RefList[T]) readable() bool { return l.held() == nil }

// writable returns nil if l may change the list, else why not: the
// lock, the arena's Close, or an operation a dead process left half
// done (ErrBroken, until Repair).
func (l *RefList[T]) writable() error {
	if err := l.held(); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if err := l.canWrite(); err != nil {
		return err
	}
	if l.h.pending != (arena.Ref[RefElement[T]]{}) {
		return fmt.Errorf("list: an operation was left half done: %w", ErrBroken)
	}
	return nil
}

// Len returns the number of elements, or 0 without the lock. O(1).
func (l *RefList[T]) Len() int {
	if !l.readable() {
		return 0
	}
	return int(l.h.len)
}

// Front returns the first element, or nil if the list is empty or the
// lock is not held. O(1).
func (l *RefList[T]) Front() *RefElement[T] {
	if !l.readable() {
		return nil
	}
	return l.h.front.At(l.s)
}

// Back returns the last element, or nil as Front. O(1).
func (l *RefList[T]) Back() *RefElement[T] {
	if !l.readable() {
		return nil
	}
	return l.h.back.At(l.s)
}

// Next returns the element after e, or nil if e is the last element,
// has been removed, or its next link does not resolve in this process;
// never a wild pointer. e must be a non-nil element of l that this
// process got under the lock it still holds (from Front, Next, Element
// or a push): Next does not check the lock again, since e's own memory
// was read under it, so a traversal pays only for resolving each Ref.
// O(1); no system call; inlined.
func (l *RefList[T]) Next(e *RefElement[T]) *RefElement[T] {
	return e.next.At(l.s) // zero, so nil, for the last element and a removed one
}

// Prev returns the element before e, with Next's rules. O(1).
func (l *RefList[T]) Prev(e *RefElement[T]) *RefElement[T] {
	if e == nil || !l.readable() {
		return nil
	}
	if r, err := l.refOf(e); err != nil || !l.mine(e) || l.free(e, r) {
		return nil
	}
	return l.prevOf(e).At(l.s)
}

// All returns an iterator over l's elements from front to back, with
// List.All's rules: an element may be changed or removed while it is
// visited, and the iteration stops early if the one after it is removed
// meanwhile. It visits nothing without the lock, and at most as many
// elements as the list has nodes, so a broken list is not followed
// around a cycle.
func (l *RefList[T]) All() iter.Seq[*RefElement[T]] {
	return func(yield func(*RefElement[T]) bool) {
		if !l.readable() {
			return
		}
		steps := l.h.nodes
		for e := l.h.front.At(l.s); e != nil && steps > 0; steps-- {
			r := e.next
			next := r.At(l.s)
			if !yield(e) {
				return
			}
			if next != nil && l.free(next, r) {
				return // removed during the visit
			}
			e = next
		}
	}
}

// Ref returns e's Ref, which means e in every process attached to the
// arena (Element turns it back). It returns ErrNotInList or ErrRemoved
// if e is not one of l's live elements, and the lock's errors.
func (l *RefList[T]) Ref(e *RefElement[T]) (arena.Ref[RefElement[T]], error) {
	if err := l.held(); err != nil {
		return arena.Ref[RefElement[T]]{}, fmt.Errorf("list: %w", err)
	}
	return l.member(e)
}

// Element returns the live element of l that r refers to. It returns
// ErrNotInList for the zero Ref, a Ref of another arena, one past what
// this process maps or not at a node of l, ErrRemoved for a removed
// node, and the lock's errors. O(1).
func (l *RefList[T]) Element(r arena.Ref[RefElement[T]]) (*RefElement[T], error) {
	if err := l.held(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	e := r.At(l.s)
	if e == nil {
		return nil, fmt.Errorf("list: Ref does not resolve in this arena (zero, another arena's, or out of range): %w", ErrNotInList)
	}
	if _, err := l.member(e); err != nil {
		return nil, err
	}
	return e, nil
}

// member returns e's Ref if e is a live element of l. It reads e only
// once refOf has found it wholly inside the arena's blocks.
func (l *RefList[T]) member(e *RefElement[T]) (arena.Ref[RefElement[T]], error) {
	var zero arena.Ref[RefElement[T]]
	if e == nil {
		return zero, ErrNotInList
	}
	r, err := l.refOf(e)
	switch {
	case err != nil:
		return zero, fmt.Errorf("%w: %w", ErrNotInList, err)
	case r.At(l.s) != e:
		return zero, fmt.Errorf("list: misaligned element: %w", ErrNotInList)
	case !l.mine(e):
		return zero, ErrNotInList
	case l.free(e, r):
		return zero, ErrRemoved
	}
	return r, nil
}

// free reports whether e, a node of l whose Ref is r, is on the free
// list: its next is zero and it is not the back, the one live node
// whose next is zero.
func (l *RefList[T]) free(e *RefElement[T], r arena.Ref[RefElement[T]]) bool {
	return e.next == arena.Ref[RefElement[T]]{} && r != l.h.back
}

// take returns a node for a push, named in pending: a removed one if
// there is one, else a new one from the arena. The node is reachable
// from neither the list nor the free list until the push links it; a
// process that dies before that leaves it in pending, and Repair gives
// it back.
func (l *RefList[T]) take() (*RefElement[T], arena.Ref[RefElement[T]], error) {
	h := l.h
	if r := h.free; r != (arena.Ref[RefElement[T]]{}) {
		e := r.At(l.s)
		if e == nil || !l.mine(e) || !l.free(e, r) {
			return nil, r, fmt.Errorf("list: free list holds a node that is not a free node of this list: %w", ErrBroken)
		}
		h.pending = r
		h.free, h.nfree = l.prevOf(e), h.nfree-1
		return e, r, nil
	}
	e, err := l.newNode()
	if err != nil {
		return nil, arena.Ref[RefElement[T]]{}, fmt.Errorf("list: new node: %w", err)
	}
	r, err := l.refOf(e)
	if err != nil {
		return nil, r, fmt.Errorf("list: new node: %w", err) // not reached: New hands out the arena's own memory
	}
	// A process killed between New and here has moved the arena's
	// cursor past a node nobody names: that node's bytes, no more, are
	// lost.
	h.pending = r
	h.nodes++
	e.prev = l.link(arena.Ref[RefElement[T]]{}) // l's from here; a node still zero is one Repair may find pending
	return e, r, nil
}

// PushBack inserts a new element with value v at the back of l and
// returns it. It returns the arena's error if it cannot allocate
// (arena.ErrLimit), the lock's errors, and ErrBroken if the list needs
// Repair; then it changes nothing the list can see. O(1); a call into
// the arena when no removed node is left.
func (l *RefList[T]) PushBack(v T) (*RefElement[T], error) {
	if err := l.writable(); err != nil {
		return nil, err
	}
	e, r, err := l.take()
	if err != nil {
		return nil, err
	}
	h := l.h
	e.Value, e.next, e.prev = v, arena.Ref[RefElement[T]]{}, l.link(h.back)
	if b := h.back.At(l.s); b != nil {
		b.next = r // the push takes effect here
	} else {
		h.front = r // or here, on an empty list
	}
	h.back = r
	h.len++
	h.pending = arena.Ref[RefElement[T]]{}
	return e, nil
}

// PushFront inserts a new element with value v at the front of l and
// returns it, with PushBack's errors. O(1).
func (l *RefList[T]) PushFront(v T) (*RefElement[T], error) {
	if err := l.writable(); err != nil {
		return nil, err
	}
	e, r, err := l.take()
	if err != nil {
		return nil, err
	}
	h := l.h
	old := h.front
	e.Value, e.next, e.prev = v, old, l.link(arena.Ref[RefElement[T]]{})
	h.front = r // the push takes effect here
	if f := old.At(l.s); f != nil {
		f.prev = l.link(r)
	} else {
		h.back = r
	}
	h.len++
	h.pending = arena.Ref[RefElement[T]]{}
	return e, nil
}

// Remove removes e from l and returns its value; e's node goes to the
// free list and is reused by a later push, in any process. It returns
// ErrNotInList or ErrRemoved if e is not one of l's live elements, the
// lock's errors, and ErrBroken if the list needs Repair; then it changes
// nothing and returns the zero T. O(1).
func (l *RefList[T]) Remove(e *RefElement[T]) (T, error) {
	var zero T
	if err := l.writable(); err != nil {
		return zero, err
	}
	r, err := l.member(e)
	if err != nil {
		return zero, err
	}
	h := l.h
	h.pending = r
	prev, next := l.prevOf(e).At(l.s), e.next.At(l.s)
	if prev != nil {
		prev.next = e.next // the remove takes effect here
	} else {
		h.front = e.next // or here, at the front
	}
	if next != nil {
		next.prev = e.prev // tagged as it is, both being l's
	} else {
		h.back = l.prevOf(e)
	}
	h.len--
	v := e.Value
	e.next, e.prev = arena.Ref[RefElement[T]]{}, l.link(h.free)
	h.free, h.nfree = r, h.nfree+1
	h.pending = arena.Ref[RefElement[T]]{}
	return v, nil
}
