package list

import (
	"errors"
	"fmt"
	"iter"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
)

// Options configure a List. A nil *Options means every default.
type Options struct {
	// Capacity bounds the number of elements the list holds at once, like
	// the lecture's list_init(len): a push past it fails with ErrFull,
	// which matches unix.ENOMEM. Removed nodes are reused, so a list never
	// takes more than Capacity nodes from its arena. A bounded list that
	// fits in one slab (32 KiB) takes all its nodes at the first push,
	// back to back. Default: 0, no bound but the arena's.
	Capacity int
}

// Slab sizes. Nodes are carved from slabs, so a push costs no call into
// the arena, a list's nodes sit back to back, and the list knows where
// its own nodes are. Slabs start at a page and double to 32 KiB: a short
// list wastes less than a page, and 32 KiB is the largest block a
// FreeList arena serves from its size classes (larger ones get a mapping
// each); every size in between is a power of two, which the FreeList has
// a class of exactly.
const (
	firstSlabBytes = 4 << 10
	maxSlabBytes   = 32 << 10
)

// A List is a doubly linked list of T values whose nodes live in an arena;
// the List itself is a small header on the Go heap. The zero List is empty
// and has no arena: it reads as empty and its pushes return ErrNoArena.
//
// Methods that take an element check first that it is one of l's live
// elements, and return ErrNotInList or ErrRemoved, changing nothing, if it
// is not. After l's arena is closed, l reads as empty (Len 0, Front nil,
// All yields nothing) and every method that would add or take an element
// returns an error matching arena.ErrClosed. While the arena is frozen
// read-only, l reads as usual and every change returns the arena's
// refusal (arena.ErrFrozen), since writing a link would fault.
//
// A List must not be used by two goroutines at once, even on a Shared
// arena, nor copied after first use (two headers would share the nodes).
type List[T any] struct {
	_ noCopy

	a   align.Allocator // where slabs come from; nil for the zero List. Never changes.
	b   *arena.Bump     // a, when it is a *Bump: asked without an interface call
	s   stater          // a, when it can say cheaply that it is unchanged (every arena kind); nil otherwise
	gen uint64          // s's generation when l last found the arena open and its nodes valid

	front, back *Element[T] // the ends; both nil exactly when len == 0
	len         int         // live elements; len <= capacity when capacity > 0

	free  *Element[T] // removed nodes, linked through prev; nfree of them
	nfree int

	carve unsafe.Pointer // next uncarved node of the current slab; left of them remain
	left  int

	nodes     int     // nodes in all slabs: len + nfree + left; <= capacity when capacity > 0
	capacity  int     // 0: unbounded
	slabNodes int     // nodes of the next slab; 1 <= slabNodes <= max(1, maxSlabBytes/size)
	spans     spanSet // where the slabs are
	closed    bool    // the arena was found closed; everything above is dropped
}

// New returns an empty list whose nodes will come from a; nothing is
// allocated until the first push. It returns a *arena.PointerError
// (arena.ErrPointers) if T holds Go pointers, exactly as arena.New[T]
// does; ErrNoArena for a nil a; ErrCapacity for a negative capacity; and
// arena.ErrClosed, wrapped, if a is closed already.
func New[T any](a align.Allocator, opts *Options) (*List[T], error) {
	if err := arena.CheckType[T](); err != nil {
		return nil, err
	}
	if a == nil {
		return nil, ErrNoArena
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Capacity < 0 {
		return nil, errCapacity(o.Capacity)
	}
	l := &List[T]{a: a, capacity: o.Capacity}
	l.b, _ = a.(*arena.Bump)
	if s, ok := a.(stater); ok {
		// No generation seen yet: the first check asks the arena itself,
		// so a closed arena is refused here and now.
		l.s, l.gen = s, ^uint64(0)
	}
	size := nodeSize[T]()
	l.slabNodes = max(1, int(firstSlabBytes/size))
	if c := o.Capacity; c > 0 && uintptr(c) <= maxSlabBytes/size {
		l.slabNodes = c // the lecture's list_init: all of it at once
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return l, nil
}

// stater is what every arena kind says of itself (arena.Bump.State): its
// generation, and whether it may be written.
type stater interface {
	State() (generation uint64, err error)
}

// check returns nil if l can write its nodes, and otherwise the reason:
// ErrNoArena for the zero List, or the arena's State error:
// arena.ErrClosed after Close, arena.ErrFrozen while it is frozen
// read-only. A list that finds its arena closed drops every pointer into
// it, so that nothing reads the unmapped memory again; one that finds its
// arena was Reset drops its nodes, which the Reset freed, and is empty.
// An allocator that has no State is trusted: its own errors come back
// from the pushes. O(1): on a Bump whose generation has not moved, three
// loads and no call.
func (l *List[T]) check() error {
	if l.b != nil {
		if g, err := l.b.State(); err == nil && g == l.gen {
			return nil
		}
	}
	return l.checkSlow()
}

func (l *List[T]) checkSlow() error {
	switch {
	case l.a == nil:
		return ErrNoArena
	case l.closed:
		return errClosed
	case l.s == nil:
		return nil
	}
	g, err := l.s.State()
	if err != nil {
		if errors.Is(err, arena.ErrClosed) {
			l.drop()
		}
		return fmt.Errorf("list: %w", err) // a frozen arena, say: the nodes are kept
	}
	if g != l.gen {
		l.reset(g) // the arena was Reset: its memory, our nodes, is free
	}
	return nil
}

// readable reports whether l's nodes may be read: the arena is open,
// though it may refuse writes for now (a frozen arena).
func (l *List[T]) readable() bool {
	return l.check() == nil || l.a != nil && !l.closed
}

var errClosed = fmt.Errorf("list: %w", arena.ErrClosed)

// drop forgets every node, for an arena that is gone.
func (l *List[T]) drop() {
	*l = List[T]{a: l.a, b: l.b, s: l.s, gen: l.gen, capacity: l.capacity, closed: true}
}

// reset forgets every node, for an arena that was Reset under the list:
// the list is empty and usable, and its old elements are not its own.
func (l *List[T]) reset(gen uint64) {
	*l = List[T]{a: l.a, b: l.b, s: l.s, gen: gen, capacity: l.capacity, slabNodes: l.slabNodes}
}

// member returns nil if e is one of l's live elements. It reads e's
// memory only once e's address is known to be a node of l's slabs, which
// stay mapped while the arena is open; l.check must have succeeded.
func (l *List[T]) member(e *Element[T]) error {
	size := nodeSize[T]()
	a := addr(e)
	switch {
	case e == nil || !holds(l.spans, e):
		return ErrNotInList
	case l.left > 0 && a >= uintptr(l.carve) && a < uintptr(l.carve)+uintptr(l.left)*size: // ok: compared only
		return ErrNotInList // in the current slab but never handed out
	case e.free():
		return ErrRemoved
	}
	return nil
}

// take returns a node for a push: a removed one if there is one, else
// the next of the current slab, else one of a new slab. l.check must have
// succeeded.
func (l *List[T]) take() (*Element[T], error) {
	if e := l.free; e != nil {
		l.free, l.nfree = e.prev, l.nfree-1
		return e, nil
	}
	if l.left == 0 {
		if err := l.grow(); err != nil {
			return nil, err
		}
	}
	e := nodeAt[T](l.carve)
	l.left--
	if l.left > 0 {
		l.carve = after(e)
	} else {
		l.carve = nil
	}
	return e, nil
}

// grow takes a new slab from the arena, of the next size or what the
// capacity leaves, whichever is smaller. Nodes left in the current slab
// go to the free list first, so none is lost. It returns ErrFull at the
// capacity, and the arena's error if the arena refuses.
func (l *List[T]) grow() error {
	n := l.slabNodes
	if l.capacity > 0 {
		n = min(n, l.capacity-l.nodes)
		if n == 0 {
			return errFull(l.capacity)
		}
	}
	size := nodeSize[T]()
	p, err := l.a.Alloc(uintptr(n)*size, nodeAlign[T]()) // ok: n*size <= max(maxSlabBytes, size)
	if err != nil {
		if errors.Is(err, arena.ErrClosed) {
			l.drop()
		}
		return fmt.Errorf("list: new slab of %d nodes: %w", n, err)
	}
	for l.left > 0 {
		e := nodeAt[T](l.carve)
		l.left--
		l.carve = after(e)
		l.release(e)
	}
	l.spans.add(p, n, size)
	l.carve, l.left = p, n
	l.nodes += n
	l.slabNodes = min(2*l.slabNodes, max(1, int(maxSlabBytes/size)))
	return nil
}

// reserve makes sure n more elements can be pushed without an error, so
// that PushBackList and PushFrontList either add everything or nothing.
// l.check must have succeeded.
func (l *List[T]) reserve(n int) error {
	if l.capacity > 0 && n > l.capacity-l.len {
		return errFull(l.capacity)
	}
	for l.nfree+l.left < n {
		if err := l.grow(); err != nil {
			return err
		}
	}
	return nil
}

// release puts e, already unlinked, on the free list.
func (l *List[T]) release(e *Element[T]) {
	e.next, e.prev = e, l.free
	l.free = e
	l.nfree++
}

// Len returns the number of elements: 0 for the zero List and after the
// arena is closed. O(1).
func (l *List[T]) Len() int {
	if !l.readable() {
		return 0
	}
	return l.len
}

// Front returns the first element, or nil if the list is empty or its
// arena closed. O(1).
func (l *List[T]) Front() *Element[T] {
	if !l.readable() {
		return nil
	}
	return l.front
}

// Back returns the last element, or nil if the list is empty or its arena
// closed. O(1).
func (l *List[T]) Back() *Element[T] {
	if !l.readable() {
		return nil
	}
	return l.back
}

// Init empties l and returns it. Its nodes go to the free list for later
// pushes, and elements taken before Init are refused afterwards with
// ErrRemoved. On the zero List, or after the arena is closed, it changes
// nothing. O(Len), since each node is marked free.
func (l *List[T]) Init() *List[T] {
	if l.check() != nil {
		return l
	}
	for e := l.front; e != nil; {
		next := e.next
		l.release(e)
		e = next
	}
	l.front, l.back, l.len = nil, nil, 0
	l.validate()
	return l
}

// PushFront inserts a new element with value v at the front of l and
// returns it. It returns ErrFull (unix.ENOMEM) at the capacity, the
// arena's error if it cannot allocate, and ErrNoArena on the zero List;
// then it changes nothing. O(1); a call into the arena once per slab.
func (l *List[T]) PushFront(v T) (*Element[T], error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	e, err := l.take()
	if err != nil {
		return nil, err
	}
	e.Value = v
	l.linkFront(e)
	l.validate()
	return e, nil
}

// PushBack inserts a new element with value v at the back of l and
// returns it, with PushFront's errors. O(1).
func (l *List[T]) PushBack(v T) (*Element[T], error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	e, err := l.take()
	if err != nil {
		return nil, err
	}
	e.Value = v
	l.linkBack(e)
	l.validate()
	return e, nil
}

// InsertBefore inserts a new element with value v just before mark and
// returns it. It returns ErrNotInList or ErrRemoved if mark is not one of
// l's elements, and PushFront's errors; then it changes nothing. O(1).
func (l *List[T]) InsertBefore(v T, mark *Element[T]) (*Element[T], error) {
	if err := l.checkMember(mark); err != nil {
		return nil, err
	}
	e, err := l.take()
	if err != nil {
		return nil, err
	}
	e.Value = v
	l.linkBefore(e, mark)
	l.validate()
	return e, nil
}

// InsertAfter inserts a new element with value v just after mark and
// returns it, with InsertBefore's errors. O(1).
func (l *List[T]) InsertAfter(v T, mark *Element[T]) (*Element[T], error) {
	if err := l.checkMember(mark); err != nil {
		return nil, err
	}
	e, err := l.take()
	if err != nil {
		return nil, err
	}
	e.Value = v
	l.linkAfter(e, mark)
	l.validate()
	return e, nil
}

// Remove removes e from l and returns its value; e's node goes to the
// free list and is reused by a later push. It returns ErrRemoved if e was
// removed already, ErrNotInList if e is not l's, and arena.ErrClosed
// after Close; then it changes nothing and returns the zero T. O(1).
func (l *List[T]) Remove(e *Element[T]) (T, error) {
	if err := l.checkMember(e); err != nil {
		var zero T
		return zero, err
	}
	v := e.Value
	l.unlink(e)
	l.release(e)
	l.validate()
	return v, nil
}

// MoveToFront moves e to the front of l, with Remove's errors; a move to
// where e already is changes nothing. O(1).
func (l *List[T]) MoveToFront(e *Element[T]) error {
	if err := l.checkMember(e); err != nil {
		return err
	}
	if l.front != e {
		l.unlink(e)
		l.linkFront(e)
		l.validate()
	}
	return nil
}

// MoveToBack moves e to the back of l, with Remove's errors. O(1).
func (l *List[T]) MoveToBack(e *Element[T]) error {
	if err := l.checkMember(e); err != nil {
		return err
	}
	if l.back != e {
		l.unlink(e)
		l.linkBack(e)
		l.validate()
	}
	return nil
}

// MoveBefore moves e to just before mark, with Remove's errors for
// either; if e == mark it changes nothing, as container/list does. O(1).
func (l *List[T]) MoveBefore(e, mark *Element[T]) error {
	if err := l.checkPair(e, mark); err != nil || e == mark {
		return err
	}
	l.unlink(e)
	l.linkBefore(e, mark)
	l.validate()
	return nil
}

// MoveAfter moves e to just after mark, with MoveBefore's rules. O(1).
func (l *List[T]) MoveAfter(e, mark *Element[T]) error {
	if err := l.checkPair(e, mark); err != nil || e == mark {
		return err
	}
	l.unlink(e)
	l.linkAfter(e, mark)
	l.validate()
	return nil
}

// PushBackList inserts a copy of other's values at the back of l, in
// order. l and other may be the same list. Either every value is added or,
// with an error (ErrFull, the arena's, or other's arena.ErrClosed),
// none; a nil other adds nothing. O(other.Len()).
func (l *List[T]) PushBackList(other *List[T]) error {
	n, err := l.copyable(other)
	if err != nil || n == 0 {
		return err
	}
	for i, e := n, other.front; i > 0; i, e = i-1, e.next {
		f, _ := l.take() // cannot fail: reserved by copyable
		f.Value = e.Value
		l.linkBack(f)
	}
	l.validate()
	return nil
}

// PushFrontList inserts a copy of other's values at the front of l, in
// order, with PushBackList's rules. O(other.Len()).
func (l *List[T]) PushFrontList(other *List[T]) error {
	n, err := l.copyable(other)
	if err != nil || n == 0 {
		return err
	}
	for i, e := n, other.back; i > 0; i, e = i-1, e.prev {
		f, _ := l.take() // cannot fail: reserved by copyable
		f.Value = e.Value
		l.linkFront(f)
	}
	l.validate()
	return nil
}

// copyable checks both lists for PushBackList and PushFrontList and
// reserves room for other's elements in l, returning how many there are.
func (l *List[T]) copyable(other *List[T]) (int, error) {
	if err := l.check(); err != nil {
		return 0, err
	}
	if other == nil {
		return 0, nil
	}
	if other != l {
		if err := other.check(); err != nil {
			return 0, err
		}
	}
	n := other.len
	return n, l.reserve(n)
}

// All returns an iterator over l's elements from front to back. An
// element may be changed through Value or removed while it is visited;
// the iteration stops early if the element after it is removed meanwhile
// (it can no longer say where the list goes on). Elements pushed during
// the iteration may or may not be visited. Closing the arena during the
// iteration is a use after free, as for any arena pointer.
func (l *List[T]) All() iter.Seq[*Element[T]] {
	return func(yield func(*Element[T]) bool) {
		if !l.readable() {
			return
		}
		for e := l.front; e != nil; {
			next := e.next
			if !yield(e) || next != nil && next.free() {
				return
			}
			e = next
		}
	}
}

// Backward returns an iterator over l's elements from back to front, with
// All's rules.
func (l *List[T]) Backward() iter.Seq[*Element[T]] {
	return func(yield func(*Element[T]) bool) {
		if !l.readable() {
			return
		}
		for e := l.back; e != nil; {
			prev := e.prev
			if !yield(e) || prev != nil && prev.free() {
				return
			}
			e = prev
		}
	}
}

// checkMember checks the arena, then e.
func (l *List[T]) checkMember(e *Element[T]) error {
	if err := l.check(); err != nil {
		return err
	}
	return l.member(e)
}

// checkPair checks the arena, then e and mark.
func (l *List[T]) checkPair(e, mark *Element[T]) error {
	if err := l.checkMember(e); err != nil {
		return err
	}
	return l.member(mark)
}

// The link helpers below keep front, back and len in step with the
// links; their arguments are live elements of l, or a node just taken.

func (l *List[T]) linkFront(e *Element[T]) {
	e.prev, e.next = nil, l.front
	if l.front != nil {
		l.front.prev = e
	} else {
		l.back = e
	}
	l.front = e
	l.len++
}

func (l *List[T]) linkBack(e *Element[T]) {
	e.next, e.prev = nil, l.back
	if l.back != nil {
		l.back.next = e
	} else {
		l.front = e
	}
	l.back = e
	l.len++
}

func (l *List[T]) linkBefore(e, mark *Element[T]) {
	if mark.prev == nil {
		l.linkFront(e)
		return
	}
	l.linkAfter(e, mark.prev)
}

func (l *List[T]) linkAfter(e, mark *Element[T]) {
	if mark.next == nil {
		l.linkBack(e)
		return
	}
	e.prev, e.next = mark, mark.next
	mark.next.prev = e
	mark.next = e
	l.len++
}

func (l *List[T]) unlink(e *Element[T]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.front = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.back = e.prev
	}
	e.next, e.prev = nil, nil
	l.len--
}

// noCopy lets go vet's copylocks check catch a List copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
