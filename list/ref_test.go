package list_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// A list value may hold Refs: they are offsets, not Go pointers, so
// New accepts the type. Here a list in a FreeList indexes records kept
// in a Bump; a Reset of the Bump turns the list's Refs to nil.
func TestListOfRefs(t *testing.T) {
	type record struct{ id, score int64 }
	type entry struct {
		rec  arena.Ref[record]
		prev arena.Ref[record]
	}
	recs, err := arena.NewBump(nil)
	require.NoError(t, err)
	defer recs.Close()
	fl, err := arena.NewFreeList(nil)
	require.NoError(t, err)
	defer fl.Close()
	l, err := list.New[entry](fl, nil)
	require.NoError(t, err)

	var prev arena.Ref[record]
	for i := range int64(100) {
		p, err := arena.New[record](recs)
		require.NoError(t, err)
		p.id, p.score = i, i*i
		r, err := arena.RefOf(recs, p)
		require.NoError(t, err)
		_, err = l.PushBack(entry{rec: r, prev: prev})
		require.NoError(t, err)
		prev = r
	}
	require.Equal(t, 100, l.Len())
	i := int64(0)
	for e := l.Front(); e != nil; e = e.Next() {
		p := e.Value.rec.Get(recs)
		require.NotNil(t, p)
		assert.Equal(t, i, p.id)
		assert.Equal(t, i*i, p.score)
		if i > 0 {
			assert.Equal(t, i-1, e.Value.prev.Get(recs).id)
		} else {
			assert.Nil(t, e.Value.prev.Get(recs), "the zero Ref")
		}
		i++
	}
	recs.Reset()
	for e := l.Front(); e != nil; e = e.Next() {
		require.Nil(t, e.Value.rec.Get(recs), "after the records' Reset")
	}

	// A real pointer beside a Ref is still refused.
	_, err = list.New[struct {
		rec arena.Ref[record]
		p   *record
	}](fl, nil)
	assert.ErrorIs(t, err, arena.ErrPointers)
}
