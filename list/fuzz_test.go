package list_test

import (
	clist "container/list"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// fuzzOps is how many operations FuzzListOps decodes; each op byte is
// taken modulo it.
const fuzzOps = 17

// fuzzMaxLen bounds the lists' lengths reached by copying, which doubles
// them; pushes one by one are bounded by the input's length.
const fuzzMaxLen = 512

// FuzzListOps replays random sequences of every List operation against
// container/list as the model: after each one, both lists (l and a
// second list o that l copies from) must hold the same values in the same
// order, the structural checker must pass, and a refused call (ErrFull at
// the capacity, ErrRemoved for a removed element, ErrNotInList for o's
// elements) must leave the model unchanged. Small arena chunks make the
// slabs cross chunk boundaries often. The first byte picks the capacity,
// 0 for none.
func FuzzListOps(f *testing.F) {
	f.Add(byte(0), []byte{0, 42, 0, 17, 0, 13, 4, 0, 1, 5})
	f.Add(byte(3), []byte{1, 1, 1, 2, 1, 3, 1, 4, 4, 1, 0, 9, 9, 0})
	f.Add(byte(8), []byte{14, 1, 14, 2, 14, 3, 9, 0, 10, 0, 11, 0, 12, 0, 15, 0, 16, 0})
	f.Fuzz(func(t *testing.T, capByte byte, ops []byte) {
		mapcheck.Baseline(t)
		b := newBump(t, &arena.Options{Name: "fuzz", InitialSize: 4 << 10, MaxChunk: 16 << 10})
		capacity := int(capByte % 32)
		l, o := newList(t, b, capacity), newList(t, b, 0)
		ml, mo := clist.New(), clist.New()
		var live, olive []*list.Element[int64] // l's and o's elements, front to back
		var mlive []*clist.Element             // ml's, in step with live
		var stale []*list.Element[int64]       // removed from l, not handed out again
		full := func(n int) bool { return capacity > 0 && ml.Len()+n > capacity }

		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			c := ops[0]
			ops = ops[1:]
			return c
		}
		// sync compares l with ml and o with mo, rebuilds the element
		// tables from the lists, and drops from stale whatever a push
		// handed out again.
		sync := func() {
			t.Helper()
			checkList(t, l, values(ml))
			checkList(t, o, values(mo))
			live, mlive, olive = live[:0], mlive[:0], olive[:0]
			for e, m := l.Front(), ml.Front(); e != nil; e, m = e.Next(), m.Next() {
				live, mlive = append(live, e), append(mlive, m)
			}
			for e := o.Front(); e != nil; e = e.Next() {
				olive = append(olive, e)
			}
			isLive := make(map[*list.Element[int64]]bool, len(live))
			for _, e := range live {
				isLive[e] = true
			}
			stale = slices.DeleteFunc(stale, func(e *list.Element[int64]) bool { return isLive[e] })
			for _, e := range stale {
				require.Nil(t, e.Next(), "a removed element has no next")
				require.Nil(t, e.Prev(), "a removed element has no prev")
			}
		}
		// pushed checks the outcome of a call that adds n elements to l.
		pushed := func(n int, err error, model func()) {
			t.Helper()
			if full(n) {
				require.ErrorIs(t, err, list.ErrFull)
				return
			}
			require.NoError(t, err)
			model()
		}

		for len(ops) > 0 {
			op, v := next()%fuzzOps, int64(next())
			i, j := 0, 0
			if len(live) > 0 {
				i, j = int(v)%len(live), int(v/3)%len(live)
			}
			if (op >= 9 && op <= 12) && ml.Len()+max(ml.Len(), mo.Len()) > fuzzMaxLen {
				continue // copying a list into itself doubles it: keep inputs fast
			}
			switch op {
			case 0:
				_, err := l.PushFront(v)
				pushed(1, err, func() { ml.PushFront(v) })
			case 1:
				_, err := l.PushBack(v)
				pushed(1, err, func() { ml.PushBack(v) })
			case 2, 3:
				if len(live) == 0 {
					continue
				}
				if op == 2 {
					_, err := l.InsertBefore(v, live[i])
					pushed(1, err, func() { ml.InsertBefore(v, mlive[i]) })
				} else {
					_, err := l.InsertAfter(v, live[i])
					pushed(1, err, func() { ml.InsertAfter(v, mlive[i]) })
				}
			case 4:
				if len(live) == 0 {
					continue
				}
				got, err := l.Remove(live[i])
				require.NoError(t, err)
				require.Equal(t, ml.Remove(mlive[i]), got)
				stale = append(stale, live[i])
			case 5:
				if len(live) == 0 {
					continue
				}
				require.NoError(t, l.MoveToFront(live[i]))
				ml.MoveToFront(mlive[i])
			case 6:
				if len(live) == 0 {
					continue
				}
				require.NoError(t, l.MoveToBack(live[i]))
				ml.MoveToBack(mlive[i])
			case 7:
				if len(live) == 0 {
					continue
				}
				require.NoError(t, l.MoveBefore(live[i], live[j]))
				ml.MoveBefore(mlive[i], mlive[j])
			case 8:
				if len(live) == 0 {
					continue
				}
				require.NoError(t, l.MoveAfter(live[i], live[j]))
				ml.MoveAfter(mlive[i], mlive[j])
			case 9:
				pushed(mo.Len(), l.PushBackList(o), func() { ml.PushBackList(mo) })
			case 10:
				pushed(mo.Len(), l.PushFrontList(o), func() { ml.PushFrontList(mo) })
			case 11:
				pushed(ml.Len(), l.PushBackList(l), func() { ml.PushBackList(ml) })
			case 12:
				pushed(ml.Len(), l.PushFrontList(l), func() { ml.PushFrontList(ml) })
			case 13:
				if v%4 != 0 { // Init only now and then, or lists stay short
					continue
				}
				stale = append(stale, live...)
				l.Init()
				ml.Init()
			case 14:
				_, err := o.PushBack(v)
				require.NoError(t, err)
				mo.PushBack(v)
			case 15:
				// Misuse: a removed element, then one of o's; neither may
				// change anything.
				if len(stale) > 0 {
					e := stale[int(v)%len(stale)]
					_, err := l.Remove(e)
					require.ErrorIs(t, err, list.ErrRemoved)
					require.ErrorIs(t, l.MoveToFront(e), list.ErrRemoved)
					_, err = l.InsertAfter(v, e)
					require.ErrorIs(t, err, list.ErrRemoved)
				}
				if len(olive) > 0 {
					e := olive[int(v)%len(olive)]
					_, err := l.Remove(e)
					require.ErrorIs(t, err, list.ErrNotInList)
					if len(live) > 0 {
						require.ErrorIs(t, l.MoveAfter(live[i], e), list.ErrNotInList)
					}
				}
			case 16:
				if o.Len() == 0 {
					continue
				}
				got, err := o.Remove(o.Front())
				require.NoError(t, err)
				require.Equal(t, mo.Remove(mo.Front()), got)
			}
			sync()
		}
	})
}

// values returns the int64 values of a container/list, front to back.
func values(m *clist.List) []int64 {
	out := []int64{}
	for e := m.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(int64))
	}
	return out
}
