package list_test

import (
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/internal/arenatest"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// newBump returns a Bump closed when t ends.
var newBump = arenatest.NewBump

// newList returns a list of int64 in a, failing t on error.
func newList(t testing.TB, a align.Allocator, capacity int) *list.List[int64] {
	t.Helper()
	l, err := list.New[int64](a, &list.Options{Capacity: capacity})
	require.NoError(t, err)
	return l
}

// checkList is the structural checker: it runs the list's own walk of
// its links, counts and slabs (Verify), then compares the public view
// (Len, Front/Next, Back/Prev, All, Backward) with want.
func checkList(t testing.TB, l *list.List[int64], want []int64) {
	t.Helper()
	require.NoError(t, list.Verify(l))
	require.Equal(t, len(want), l.Len(), "Len")
	walk := func(first *list.Element[int64], step func(*list.Element[int64]) *list.Element[int64]) []int64 {
		got := []int64{}
		for e := first; e != nil && len(got) <= len(want); e = step(e) {
			got = append(got, e.Value)
		}
		return got
	}
	want = append([]int64{}, want...)
	rev := slices.Clone(want)
	slices.Reverse(rev)
	require.Equal(t, want, walk(l.Front(), (*list.Element[int64]).Next), "Front/Next")
	require.Equal(t, rev, walk(l.Back(), (*list.Element[int64]).Prev), "Back/Prev")
	all, back := []int64{}, []int64{}
	for e := range l.All() {
		all = append(all, e.Value)
	}
	for e := range l.Backward() {
		back = append(back, e.Value)
	}
	require.Equal(t, want, all, "All")
	require.Equal(t, rev, back, "Backward")
	if len(want) > 0 {
		require.Nil(t, l.Front().Prev(), "Front().Prev()")
		require.Nil(t, l.Back().Next(), "Back().Next()")
	}
}

func must[E any](t testing.TB) func(E, error) E {
	return func(v E, err error) E {
		t.Helper()
		require.NoError(t, err)
		return v
	}
}

func TestZeroList(t *testing.T) {
	var l list.List[int64]
	assert.Equal(t, 0, l.Len())
	assert.Nil(t, l.Front())
	assert.Nil(t, l.Back())
	assert.Same(t, &l, l.Init())
	for range l.All() {
		t.Fatal("the zero List yielded an element")
	}
	_, err := l.PushBack(1)
	assert.ErrorIs(t, err, list.ErrNoArena)
	_, err = l.PushFront(1)
	assert.ErrorIs(t, err, list.ErrNoArena)
	_, err = l.Remove(nil)
	assert.ErrorIs(t, err, list.ErrNoArena)
	assert.ErrorIs(t, l.PushBackList(&l), list.ErrNoArena)
	require.NoError(t, list.Verify(&l))
}

// TestList follows container/list's TestList: single elements, then a
// short list pushed, inserted, moved and cleared.
func TestList(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l := newList(t, b, 0)
	checkList(t, l, nil)
	e := must[*list.Element[int64]](t)(l.PushFront(1))
	checkList(t, l, []int64{1})
	require.NoError(t, l.MoveToFront(e))
	require.NoError(t, l.MoveToBack(e))
	checkList(t, l, []int64{1})
	assert.Equal(t, int64(1), must[int64](t)(l.Remove(e)))
	checkList(t, l, nil)

	e2 := must[*list.Element[int64]](t)(l.PushFront(2))
	e1 := must[*list.Element[int64]](t)(l.PushFront(1))
	e3 := must[*list.Element[int64]](t)(l.PushBack(3))
	e4 := must[*list.Element[int64]](t)(l.PushBack(4))
	checkList(t, l, []int64{1, 2, 3, 4})
	must[int64](t)(l.Remove(e2))
	checkList(t, l, []int64{1, 3, 4})
	require.NoError(t, l.MoveToFront(e3))
	checkList(t, l, []int64{3, 1, 4})
	require.NoError(t, l.MoveToFront(e1))
	require.NoError(t, l.MoveToBack(e3))
	checkList(t, l, []int64{1, 4, 3})
	require.NoError(t, l.MoveToFront(e3))
	checkList(t, l, []int64{3, 1, 4})
	require.NoError(t, l.MoveToFront(e3)) // already there
	checkList(t, l, []int64{3, 1, 4})
	require.NoError(t, l.MoveToBack(e3))
	checkList(t, l, []int64{1, 4, 3})
	require.NoError(t, l.MoveToBack(e3)) // already there
	checkList(t, l, []int64{1, 4, 3})

	e2 = must[*list.Element[int64]](t)(l.InsertBefore(2, e1))
	checkList(t, l, []int64{2, 1, 4, 3})
	must[int64](t)(l.Remove(e2))
	e2 = must[*list.Element[int64]](t)(l.InsertBefore(2, e4))
	checkList(t, l, []int64{1, 2, 4, 3})
	must[int64](t)(l.Remove(e2))
	e2 = must[*list.Element[int64]](t)(l.InsertBefore(2, e3))
	checkList(t, l, []int64{1, 4, 2, 3})
	must[int64](t)(l.Remove(e2))
	e2 = must[*list.Element[int64]](t)(l.InsertAfter(2, e1))
	checkList(t, l, []int64{1, 2, 4, 3})
	must[int64](t)(l.Remove(e2))
	e2 = must[*list.Element[int64]](t)(l.InsertAfter(2, e4))
	checkList(t, l, []int64{1, 4, 2, 3})
	must[int64](t)(l.Remove(e2))
	e2 = must[*list.Element[int64]](t)(l.InsertAfter(2, e3))
	checkList(t, l, []int64{1, 4, 3, 2})

	require.NoError(t, l.MoveBefore(e2, e1))
	checkList(t, l, []int64{2, 1, 4, 3})
	require.NoError(t, l.MoveAfter(e2, e3))
	checkList(t, l, []int64{1, 4, 3, 2})
	require.NoError(t, l.MoveAfter(e2, e2)) // e == mark: no-op
	require.NoError(t, l.MoveBefore(e1, e4))
	checkList(t, l, []int64{1, 4, 3, 2})
	require.NoError(t, l.MoveAfter(e1, e4))
	checkList(t, l, []int64{4, 1, 3, 2})

	sum := int64(0)
	for e := l.Front(); e != nil; e = e.Next() {
		sum += e.Value
	}
	assert.Equal(t, int64(10), sum)
	for e := l.Front(); e != nil; {
		next := e.Next()
		must[int64](t)(l.Remove(e))
		e = next
	}
	checkList(t, l, nil)
}

func TestPushLists(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l1, l2 := newList(t, b, 0), newList(t, b, 0)
	for _, v := range []int64{1, 2, 3} {
		must[*list.Element[int64]](t)(l1.PushBack(v))
	}
	for _, v := range []int64{4, 5} {
		must[*list.Element[int64]](t)(l2.PushBack(v))
	}
	require.NoError(t, l1.PushBackList(l2))
	checkList(t, l1, []int64{1, 2, 3, 4, 5})
	require.NoError(t, l1.PushFrontList(l2))
	checkList(t, l1, []int64{4, 5, 1, 2, 3, 4, 5})
	require.NoError(t, l2.PushBackList(l2)) // a list copied onto itself
	checkList(t, l2, []int64{4, 5, 4, 5})
	require.NoError(t, l2.PushFrontList(l2))
	checkList(t, l2, []int64{4, 5, 4, 5, 4, 5, 4, 5})
	require.NoError(t, l2.PushBackList(nil))
	checkList(t, l2, []int64{4, 5, 4, 5, 4, 5, 4, 5})
	// The lists' nodes are their own: l1's are untouched by l2's pushes.
	checkList(t, l1, []int64{4, 5, 1, 2, 3, 4, 5})
}

// TestPushListAllOrNothing copies a list into one without room for all
// of it: nothing is added.
func TestPushListAllOrNothing(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	small, big := newList(t, b, 4), newList(t, b, 0)
	for v := range int64(3) {
		must[*list.Element[int64]](t)(big.PushBack(v))
	}
	must[*list.Element[int64]](t)(small.PushBack(9))
	must[*list.Element[int64]](t)(small.PushBack(8))
	err := small.PushBackList(big)
	require.ErrorIs(t, err, list.ErrFull)
	require.ErrorIs(t, err, unix.ENOMEM)
	checkList(t, small, []int64{9, 8})
	require.ErrorIs(t, small.PushFrontList(big), list.ErrFull)
	checkList(t, small, []int64{9, 8})
	require.NoError(t, small.PushFrontList(small))
	checkList(t, small, []int64{9, 8, 9, 8})
}

// TestReuse removes nodes and checks that pushes hand the same nodes out
// again, newest removed first, and that a list never takes more than its
// capacity from the arena.
func TestReuse(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l := newList(t, b, 1000)
	var es []*list.Element[int64]
	for v := range int64(1000) {
		es = append(es, must[*list.Element[int64]](t)(l.PushBack(v)))
	}
	// A bounded list that fits in one slab has its nodes back to back.
	size := unsafe.Sizeof(list.Element[int64]{})
	for i := 1; i < len(es); i++ {
		require.Equal(t, uintptr(unsafe.Pointer(es[i-1]))+size, uintptr(unsafe.Pointer(es[i])), "node %d", i)
	}
	require.Equal(t, 1, list.Slabs(l))
	inUse := b.Stats().InUse
	_, err := l.PushBack(1000)
	require.ErrorIs(t, err, list.ErrFull)
	for _, i := range []int{10, 500, 999} {
		must[int64](t)(l.Remove(es[i]))
	}
	for _, i := range []int{999, 500, 10} {
		got := must[*list.Element[int64]](t)(l.PushFront(int64(-i)))
		require.Same(t, es[i], got, "removed node %d is reused", i)
	}
	for range 3 {
		must[int64](t)(l.Remove(l.Back()))
		must[*list.Element[int64]](t)(l.PushBack(7))
	}
	require.Equal(t, inUse, b.Stats().InUse, "reuse takes nothing more from the arena")
	require.NoError(t, list.Verify(l))
	l.Init()
	checkList(t, l, nil)
	for v := range int64(1000) {
		must[*list.Element[int64]](t)(l.PushBack(v))
	}
	require.Equal(t, inUse, b.Stats().InUse, "nodes freed by Init are reused")
}

// TestSlabs grows an unbounded list over many slabs and arena chunks,
// then empties it from both ends and the middle.
func TestSlabs(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{InitialSize: 16 << 10, MaxChunk: 64 << 10})
	l := newList(t, b, 0)
	const n = 20_000
	want := make([]int64, 0, n)
	var es []*list.Element[int64]
	for v := range int64(n) {
		es = append(es, must[*list.Element[int64]](t)(l.PushBack(v)))
		want = append(want, v)
	}
	checkList(t, l, want)
	assert.Greater(t, list.Slabs(l), 1, "64 KiB chunks hold %d nodes at most", (64<<10)/24)
	for i := 0; i < n; i += 3 {
		must[int64](t)(l.Remove(es[i]))
	}
	want = want[:0]
	for i := range n {
		if i%3 != 0 {
			want = append(want, int64(i))
		}
	}
	checkList(t, l, want)
}

// TestPointerTypes checks that New refuses what arena.New refuses, with
// the same error and field path.
func TestPointerTypes(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	type inner struct{ B []byte }
	type withPtr struct {
		A int64
		I [2]inner
	}
	check := func(t *testing.T, got, want error) {
		require.Error(t, want)
		require.ErrorIs(t, got, arena.ErrPointers)
		assert.Equal(t, want.Error(), got.Error())
		var gp, wp *arena.PointerError
		require.ErrorAs(t, got, &gp)
		require.ErrorAs(t, want, &wp)
		assert.Equal(t, *wp, *gp)
	}
	t.Run("type=struct", func(t *testing.T) {
		_, want := arena.New[withPtr](b)
		_, got := list.New[withPtr](b, nil)
		check(t, got, want)
	})
	t.Run("type=string", func(t *testing.T) {
		_, want := arena.New[string](b)
		_, got := list.New[string](b, nil)
		check(t, got, want)
	})
	t.Run("type=pointer", func(t *testing.T) {
		_, want := arena.New[*int](b)
		_, got := list.New[*int](b, nil)
		check(t, got, want)
	})
	l, err := list.New[struct{ A, B [3]int32 }](b, nil)
	require.NoError(t, err)
	e, err := l.PushBack(struct{ A, B [3]int32 }{A: [3]int32{1, 2, 3}})
	require.NoError(t, err)
	assert.Equal(t, int32(3), e.Value.A[2])
}

// TestArenas runs the same operations on every kind of arena.
func TestArenas(t *testing.T) {
	mapcheck.Baseline(t)
	type closer interface {
		align.Allocator
		Close() error
	}
	kinds := []struct {
		name string
		make func() (closer, error)
	}{
		{"bump", func() (closer, error) { return arena.NewBump(nil) }},
		{"shared", func() (closer, error) { return arena.NewShared(nil) }},
		{"freelist", func() (closer, error) { return arena.NewFreeList(nil) }},
		{"syncfreelist", func() (closer, error) { return arena.NewSyncFreeList(nil) }},
	}
	for _, k := range kinds {
		t.Run("arena="+k.name, func(t *testing.T) {
			a, err := k.make()
			require.NoError(t, err)
			l := newList(t, a, 0)
			want := []int64{}
			for v := range int64(5000) {
				if v%2 == 0 {
					must[*list.Element[int64]](t)(l.PushBack(v))
					want = append(want, v)
				} else {
					must[*list.Element[int64]](t)(l.PushFront(v))
					want = append([]int64{v}, want...)
				}
			}
			checkList(t, l, want)
			for range 1000 {
				must[int64](t)(l.Remove(l.Front()))
			}
			checkList(t, l, want[1000:])
			require.NoError(t, a.Close())
			assert.Equal(t, 0, l.Len())
			_, err = l.PushBack(1)
			assert.ErrorIs(t, err, arena.ErrClosed)
			require.NoError(t, list.Verify(l))
		})
	}
}

// TestArenaLimit fills a list until its arena's limit refuses a slab:
// the error matches arena.ErrLimit and unix.ENOMEM, and the list is whole.
func TestArenaLimit(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Limit: 64 << 10, InitialSize: 64 << 10})
	l := newList(t, b, 0)
	var n int64
	var err error
	for ; err == nil; n++ {
		_, err = l.PushBack(n)
	}
	require.ErrorIs(t, err, arena.ErrLimit)
	require.ErrorIs(t, err, unix.ENOMEM)
	want := make([]int64, n-1)
	for i := range want {
		want[i] = int64(i)
	}
	checkList(t, l, want)
	must[int64](t)(l.Remove(l.Front()))
	must[*list.Element[int64]](t)(l.PushBack(n)) // a removed node still serves
}

// TestIterators breaks out of the iterators early and removes elements
// while they are visited.
func TestIterators(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l := newList(t, b, 0)
	for v := range int64(10) {
		must[*list.Element[int64]](t)(l.PushBack(v))
	}
	n := 0
	for range l.All() {
		if n++; n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)
	for e := range l.All() { // remove the odd values as they are visited
		if e.Value%2 == 1 {
			must[int64](t)(l.Remove(e))
		}
	}
	checkList(t, l, []int64{0, 2, 4, 6, 8})
	for e := range l.Backward() {
		if e.Value == 4 {
			must[int64](t)(l.Remove(e))
		}
	}
	checkList(t, l, []int64{0, 2, 6, 8})
	// Removing the element after the visited one stops the iteration:
	// its links now belong to the free list.
	var seen []int64
	for e := range l.All() {
		seen = append(seen, e.Value)
		if e.Value == 2 {
			must[int64](t)(l.Remove(e.Next()))
		}
	}
	assert.Equal(t, []int64{0, 2}, seen)
	checkList(t, l, []int64{0, 2, 8})
	for e := range l.All() {
		e.Value *= 10 // Value is arena memory, written in place
	}
	checkList(t, l, []int64{0, 20, 80})
}

// TestMisuse hands lists what they must refuse, and checks the error and
// that nothing changed.
func TestMisuse(t *testing.T) {
	mapcheck.Baseline(t)
	size := unsafe.Sizeof(list.Element[int64]{})
	type setup struct {
		l     *list.List[int64]
		e     *list.Element[int64] // the list's only element, value 1
		other *list.Element[int64] // an element of another list in the same arena
		gone  *list.Element[int64] // an element of a list whose arena is closed
		b     *arena.Bump
	}
	cases := []struct {
		name string
		op   func(s *setup) error
		want error
	}{
		{"remove=nil", func(s *setup) error { _, err := s.l.Remove(nil); return err }, list.ErrNotInList},
		{"remove=foreign", func(s *setup) error { _, err := s.l.Remove(s.other); return err }, list.ErrNotInList},
		{"remove=heap", func(s *setup) error { _, err := s.l.Remove(&list.Element[int64]{}); return err }, list.ErrNotInList},
		{"remove=copy", func(s *setup) error { c := *s.e; _, err := s.l.Remove(&c); return err }, list.ErrNotInList},
		{"remove=closed-arena", func(s *setup) error { _, err := s.l.Remove(s.gone); return err }, list.ErrNotInList},
		{"remove=twice", func(s *setup) error {
			if _, err := s.l.Remove(s.e); err != nil {
				return err
			}
			_, err := s.l.Remove(s.e)
			return err
		}, list.ErrRemoved},
		{"remove=uncarved", func(s *setup) error {
			// The node after e in its slab was never handed out.
			_, err := s.l.Remove((*list.Element[int64])(unsafe.Add(unsafe.Pointer(s.e), size)))
			return err
		}, list.ErrNotInList},
		{"remove=interior", func(s *setup) error {
			_, err := s.l.Remove((*list.Element[int64])(unsafe.Add(unsafe.Pointer(s.e), 8)))
			return err
		}, list.ErrNotInList},
		{"remove=after-init", func(s *setup) error { s.l.Init(); _, err := s.l.Remove(s.e); return err }, list.ErrRemoved},
		{"move-front=foreign", func(s *setup) error { return s.l.MoveToFront(s.other) }, list.ErrNotInList},
		{"move-back=removed", func(s *setup) error { s.l.Remove(s.e); return s.l.MoveToBack(s.e) }, list.ErrRemoved},
		{"move-before=foreign-mark", func(s *setup) error { return s.l.MoveBefore(s.e, s.other) }, list.ErrNotInList},
		{"move-after=closed-arena", func(s *setup) error { return s.l.MoveAfter(s.gone, s.e) }, list.ErrNotInList},
		{"insert-before=foreign", func(s *setup) error { _, err := s.l.InsertBefore(2, s.other); return err }, list.ErrNotInList},
		{"insert-after=removed", func(s *setup) error {
			s.l.Remove(s.e)
			_, err := s.l.InsertAfter(2, s.e)
			return err
		}, list.ErrRemoved},
		{"push=closed", func(s *setup) error { s.b.Close(); _, err := s.l.PushBack(2); return err }, arena.ErrClosed},
		{"push-front=closed", func(s *setup) error { s.b.Close(); _, err := s.l.PushFront(2); return err }, arena.ErrClosed},
		{"remove=closed", func(s *setup) error { s.b.Close(); _, err := s.l.Remove(s.e); return err }, arena.ErrClosed},
		{"move=closed", func(s *setup) error { s.b.Close(); return s.l.MoveToFront(s.e) }, arena.ErrClosed},
		{"insert=closed", func(s *setup) error { s.b.Close(); _, err := s.l.InsertAfter(2, s.e); return err }, arena.ErrClosed},
		{"push-list=closed", func(s *setup) error { s.b.Close(); return s.l.PushBackList(s.l) }, arena.ErrClosed},
		{"push-list=other-closed", func(s *setup) error {
			c := newBump(t, nil)
			o := newList(t, c, 0)
			must[*list.Element[int64]](t)(o.PushBack(5))
			c.Close()
			return s.l.PushFrontList(o)
		}, arena.ErrClosed},
		{"new=closed", func(s *setup) error { s.b.Close(); _, err := list.New[int64](s.b, nil); return err }, arena.ErrClosed},
		{"new=nil-arena", func(s *setup) error { _, err := list.New[int64](nil, nil); return err }, list.ErrNoArena},
		{"new=negative-capacity", func(s *setup) error {
			_, err := list.New[int64](s.b, &list.Options{Capacity: -1})
			return err
		}, unix.EINVAL},
		{"push=full", func(s *setup) error {
			l := newList(t, s.b, 1)
			must[*list.Element[int64]](t)(l.PushBack(1))
			_, err := l.PushFront(2)
			return err
		}, unix.ENOMEM},
	}
	for _, c := range cases {
		t.Run("misuse="+c.name, func(t *testing.T) {
			b := newBump(t, nil)
			s := &setup{l: newList(t, b, 0), b: b}
			s.e = must[*list.Element[int64]](t)(s.l.PushBack(1))
			s.other = must[*list.Element[int64]](t)(newList(t, b, 0).PushBack(2))
			gb, err := arena.NewBump(nil)
			require.NoError(t, err)
			s.gone = must[*list.Element[int64]](t)(newList(t, gb, 0).PushBack(3))
			require.NoError(t, gb.Close())

			before := s.l.Len()
			err = c.op(s)
			require.Error(t, err)
			assert.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
			require.NoError(t, list.Verify(s.l))
			assert.LessOrEqual(t, s.l.Len(), before, "a refused call added nothing")
		})
	}
}

// TestMoveSelf checks container/list's rule that moving an element
// before or after itself changes nothing and is not an error.
func TestMoveSelf(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l := newList(t, b, 0)
	e1 := must[*list.Element[int64]](t)(l.PushBack(1))
	must[*list.Element[int64]](t)(l.PushBack(2))
	require.NoError(t, l.MoveBefore(e1, e1))
	require.NoError(t, l.MoveAfter(e1, e1))
	checkList(t, l, []int64{1, 2})
}

// TestClosedArena closes the arena under a list with elements, removed
// nodes and a half-used slab: the list reads as empty from then on and
// never touches the unmapped nodes.
func TestClosedArena(t *testing.T) {
	mapcheck.Baseline(t)
	b, err := arena.NewBump(nil)
	require.NoError(t, err)
	l := newList(t, b, 0)
	for v := range int64(100) {
		must[*list.Element[int64]](t)(l.PushBack(v))
	}
	must[int64](t)(l.Remove(l.Front()))
	e := l.Back()
	require.NoError(t, b.Close())
	assert.Equal(t, 0, l.Len())
	assert.Nil(t, l.Front())
	assert.Nil(t, l.Back())
	for range l.All() {
		t.Fatal("All yielded after Close")
	}
	for range l.Backward() {
		t.Fatal("Backward yielded after Close")
	}
	_, err = l.Remove(e)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.Same(t, l, l.Init())
	require.NoError(t, list.Verify(l))
}

// TestFrozenArena freezes the arena under a list: the list still reads,
// refuses every change with arena.ErrFrozen, and works again after Thaw.
func TestFrozenArena(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	l := newList(t, b, 0)
	e := must[*list.Element[int64]](t)(l.PushBack(1))
	must[*list.Element[int64]](t)(l.PushBack(2))
	require.NoError(t, b.Freeze())
	checkList(t, l, []int64{1, 2})
	_, err := l.PushFront(0)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	_, err = l.Remove(e)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	assert.ErrorIs(t, l.MoveToBack(e), arena.ErrFrozen)
	require.NoError(t, b.Thaw())
	require.NoError(t, l.MoveToBack(e))
	checkList(t, l, []int64{2, 1})
}

// TestResetArena shows a list noticing that its arena was Reset under it:
// it is empty at its next call, its old elements are not its own, and it
// works again with fresh nodes. On a Shared arena too.
func TestResetArena(t *testing.T) {
	mapcheck.Baseline(t)
	shared, err := arena.NewShared(nil)
	require.NoError(t, err)
	defer shared.Close()
	// bump-sampled fences every slab at Reset (Options.Sample 1): a list
	// that read one of its old nodes afterwards would fault.
	for name, a := range map[string]interface {
		align.Allocator
		Reset()
	}{"bump": newBump(t, nil), "shared": shared, "bump-sampled": newBump(t, &arena.Options{Sample: &hardened.Options{Every: 1}})} {
		t.Run("arena="+name, func(t *testing.T) {
			l := newList(t, a, 0)
			var old []*list.Element[int64]
			for i := range 5 {
				e, err := l.PushBack(int64(i))
				require.NoError(t, err)
				old = append(old, e)
			}
			a.Reset()
			assert.Equal(t, 0, l.Len(), "the Reset freed the nodes")
			assert.Nil(t, l.Front())
			_, err := l.Remove(old[2])
			assert.ErrorIs(t, err, list.ErrNotInList)
			assert.ErrorIs(t, l.MoveToFront(old[0]), list.ErrNotInList)
			for i := range 3 {
				_, err := l.PushFront(int64(10 + i))
				require.NoError(t, err)
			}
			checkList(t, l, []int64{12, 11, 10})
		})
	}
}
