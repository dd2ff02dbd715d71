package arena_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/arenatest"
)

type pt struct{ X, Y int64 }

// inArena reports whether s's backing array lies in a region named name.
func inArena[T any](s []T, name string) bool {
	loc := guard.Lookup(uintptr(unsafe.Pointer(unsafe.SliceData(s))))
	return loc.Region == name && loc.Part == guard.PartUsable
}

// typedArenas opens one arena of each kind that the typed helpers serve,
// closed when the test ends.
func typedArenas(t *testing.T) map[string]align.Allocator {
	sync, err := arena.NewSyncFreeList(&arena.Options{Name: "typed-sync"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sync.Close()) })
	return map[string]align.Allocator{
		"typed-bump":     arenatest.NewBump(t, &arena.Options{Name: "typed-bump"}),
		"typed-freelist": arenatest.NewFreeList(t, &arena.Options{Name: "typed-freelist"}),
		"typed-sync":     sync,
	}
}

// TestAppendStaysInArena appends one element at a time, well past the
// first capacity: every backing array is in the arena, the elements are
// kept, and the room past len reads zero.
func TestAppendStaysInArena(t *testing.T) {
	for name, a := range typedArenas(t) {
		t.Run("arena="+name, func(t *testing.T) {
			s, err := arena.MakeSlice[pt](a, 0, 1)
			require.NoError(t, err)
			moves := 0
			for i := range 3000 {
				old := unsafe.SliceData(s)
				s, err = arena.Append(a, s, pt{int64(i), -int64(i)})
				require.NoError(t, err)
				if unsafe.SliceData(s) == old {
					continue
				}
				moves++
				require.True(t, inArena(s, name), "element %d: the array left the arena", i)
				for _, p := range s[len(s):cap(s)] {
					require.Equal(t, pt{}, p, "room past len reads zero")
				}
			}
			assert.Greater(t, moves, 5, "the array grew several times")
			for i, p := range s {
				require.Equal(t, pt{int64(i), -int64(i)}, p)
			}
			// A slice from the Go heap moves in at its first growth.
			heap := []pt{{1, 2}}
			moved, err := arena.Append(a, heap, pt{3, 4})
			require.NoError(t, err)
			assert.True(t, inArena(moved, name))
			assert.Equal(t, []pt{{1, 2}, {3, 4}}, moved)
			assert.Equal(t, []pt{{1, 2}}, heap, "the heap slice is left alone")
		})
	}
}

// TestGrow gives room without changing len, and refuses bad input with
// the slice unchanged.
func TestGrow(t *testing.T) {
	b := arenatest.NewBump(t, &arena.Options{Name: "typed-grow"})
	s, err := arena.Grow[int32](b, nil, 10)
	require.NoError(t, err)
	assert.Equal(t, 0, len(s))
	assert.GreaterOrEqual(t, cap(s), 10)
	assert.True(t, inArena(s, "typed-grow"))
	same, err := arena.Grow(b, s, 5)
	require.NoError(t, err)
	assert.Equal(t, unsafe.SliceData(s), unsafe.SliceData(same), "room enough: no move")

	for _, tc := range []struct {
		name string
		n    int
		err  []error
	}{
		{"negative", -1, []error{arena.ErrSize, unix.EINVAL}},
		{"overflow-len", int(^uint(0) >> 1), []error{arena.ErrSize, unix.ENOMEM}},
		{"overflow-bytes", int(^uint(0)>>1) / 2, []error{arena.ErrSize, unix.ENOMEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := []int32{1, 2, 3}
			got, err := arena.Grow(b, s, tc.n)
			for _, want := range tc.err {
				assert.ErrorIs(t, err, want)
			}
			assert.Equal(t, s, got, "unchanged on error")
		})
	}
	_, err = arena.Grow[*int](b, nil, 1)
	assert.ErrorIs(t, err, arena.ErrPointers)
	_, err = arena.Append[string](b, nil, "x")
	assert.ErrorIs(t, err, arena.ErrPointers)
}

// TestAppendFreeListRealloc: on a FreeList, growing a slice whose array
// is a block grows the block (Realloc), so the arena does not keep the
// old arrays: after growing to 4096 elements and freeing the result,
// nothing is in use.
func TestAppendFreeListRealloc(t *testing.T) {
	f := arenatest.NewFreeList(t, &arena.Options{Name: "typed-realloc"})
	var s []uint64
	var err error
	for i := range 4096 {
		s, err = arena.Append(f, s, uint64(i))
		require.NoError(t, err)
	}
	for i, v := range s {
		require.Equal(t, uint64(i), v)
	}
	require.NoError(t, arena.FreeSlice(f, s))
	assert.Zero(t, f.Stats().InUse, "every old array was given back")
	assert.ErrorIs(t, arena.FreeSlice(f, s), arena.ErrDoubleFree)
}

// TestFreeT frees by typed pointer, with Free's errors for misuse.
func TestFreeT(t *testing.T) {
	f := arenatest.NewFreeList(t, &arena.Options{Name: "typed-free"})
	p, err := arena.New[pt](f)
	require.NoError(t, err)
	require.NoError(t, arena.FreeT(f, p))
	assert.ErrorIs(t, arena.FreeT(f, p), arena.ErrDoubleFree)
	assert.ErrorIs(t, arena.FreeT(f, &pt{}), arena.ErrNotOwned)
	assert.NoError(t, arena.FreeT[pt](f, nil), "nil does nothing, as C's free")

	s, err := arena.MakeSlice[pt](f, 4, 4)
	require.NoError(t, err)
	assert.ErrorIs(t, arena.FreeSlice(f, s[1:]), arena.ErrInvalidFree)
	require.NoError(t, arena.FreeSlice(f, s))
	require.NoError(t, arena.FreeSlice[pt](f, nil))

	sf, err := arena.NewSyncFreeList(&arena.Options{Name: "typed-free-sync"})
	require.NoError(t, err)
	q, err := arena.Clone(sf, pt{7, 8})
	require.NoError(t, err)
	require.NoError(t, arena.FreeT(sf, q))
	require.NoError(t, sf.Close())
	assert.ErrorIs(t, arena.FreeT(sf, q), arena.ErrClosed)
}

// TestClone copies values and slices in.
func TestClone(t *testing.T) {
	b := arenatest.NewBump(t, &arena.Options{Name: "typed-clone"})
	v := pt{1, 2}
	p, err := arena.Clone(b, v)
	require.NoError(t, err)
	assert.Equal(t, v, *p)
	v.X = 9
	assert.Equal(t, int64(1), p.X, "a copy, not an alias")

	src := []pt{{1, 1}, {2, 2}}
	s, err := arena.CloneSlice(b, src)
	require.NoError(t, err)
	assert.Equal(t, src, s)
	assert.Equal(t, len(s), cap(s))
	assert.True(t, inArena(s, "typed-clone"))
	empty, err := arena.CloneSlice[pt](b, nil)
	require.NoError(t, err)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)

	_, err = arena.Clone(b, "a string")
	assert.ErrorIs(t, err, arena.ErrPointers)
	_, err = arena.CloneSlice(b, []*int{nil})
	assert.ErrorIs(t, err, arena.ErrPointers)
}

// TestAppendSelf appends a slice to itself, as append(s, s...) may: on
// a FreeList, and on a sampled one whose freed blocks are fenced, the
// elements are read before the old array is given up.
func TestAppendSelf(t *testing.T) {
	for _, opts := range []*arena.Options{
		{Name: "typed-self"},
		{Name: "typed-self-sampled", Sample: &hardened.Options{Every: 1}},
	} {
		t.Run(opts.Name, func(t *testing.T) {
			f := arenatest.NewFreeList(t, opts)
			s, err := arena.CloneSlice(f, []int64{1, 2, 3})
			require.NoError(t, err)
			err = hardened.Catch(func() { s, err = arena.Append(f, s, s...) })
			require.NoError(t, err)
			assert.Equal(t, []int64{1, 2, 3, 1, 2, 3}, s)
			s, err = arena.Append(f, s, s[4:]...)
			require.NoError(t, err)
			assert.Equal(t, []int64{1, 2, 3, 1, 2, 3, 2, 3}, s)
		})
	}
}
