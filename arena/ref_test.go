package arena_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// A node links to others by Ref, so it passes the pointer check.
type refNode struct {
	next arena.Ref[refNode]
	v    int64
}

func refBump(t testing.TB, o *arena.Options) *arena.Bump {
	t.Helper()
	b, err := arena.NewBump(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// newRef allocates a node with value v in b and returns it with its Ref.
func newRef(t testing.TB, b *arena.Bump, v int64) (*refNode, arena.Ref[refNode]) {
	t.Helper()
	p, err := arena.New[refNode](b)
	require.NoError(t, err)
	p.v = v
	r, err := arena.RefOf(b, p)
	require.NoError(t, err)
	return p, r
}

func TestRef(t *testing.T) {
	b := refBump(t, nil)
	var head arena.Ref[refNode]
	var ptrs []*refNode
	for i := range 1000 {
		p, r := newRef(t, b, int64(i))
		p.next = head
		head = r
		ptrs = append(ptrs, p)
		assert.Same(t, p, r.Get(b))
	}
	n := 999
	for r := head; r != (arena.Ref[refNode]{}); r = r.Get(b).next {
		require.Same(t, ptrs[n], r.Get(b))
		assert.EqualValues(t, n, r.Get(b).v)
		n--
	}
	assert.Equal(t, -1, n, "the walk visits every node")
}

func TestZeroRef(t *testing.T) {
	b := refBump(t, nil)
	_, _ = newRef(t, b, 1)
	var z arena.Ref[refNode]
	assert.Nil(t, z.Get(b))
	assert.Nil(t, z.Get(nil), "a nil Bump resolves nothing")
	r, err := arena.RefOf[refNode](b, nil)
	require.NoError(t, err)
	assert.Equal(t, z, r, "RefOf(nil) is the zero Ref")
	var zb arena.Bump
	_, r = newRef(t, b, 2)
	assert.Nil(t, r.Get(&zb), "a zero Bump resolves nothing")
}

// TestRefWrongArena resolves Refs against arenas they were not made in.
func TestRefWrongArena(t *testing.T) {
	a, b := refBump(t, nil), refBump(t, nil)
	_, ra := newRef(t, a, 1)
	_, rb := newRef(t, b, 2)
	// Same offset in both arenas: only the tag tells them apart.
	require.Equal(t, arena.RefBits(ra)&(1<<arena.RefOffBits-1), arena.RefBits(rb)&(1<<arena.RefOffBits-1))
	assert.Nil(t, ra.Get(b))
	assert.Nil(t, rb.Get(a))
	assert.EqualValues(t, 1, ra.Get(a).v)
	assert.EqualValues(t, 2, rb.Get(b).v)
}

// TestRefPastEnd forges Refs with a's tag and generation that name
// offsets a has not mapped, or misaligned ones: each resolves to nil.
func TestRefPastEnd(t *testing.T) {
	b := refBump(t, &arena.Options{InitialSize: 64 << 10})
	_, r := newRef(t, b, 1)
	v := arena.RefBits(r)
	for name, off := range map[string]uint64{
		"end-of-chunk":  64<<10 - 8, // the node's 16 bytes would cross the end
		"next-slot":     4 << 20,
		"end-of-space":  1<<arena.RefOffBits - 16,
		"slot-zero":     0,
		"slot-zero-end": 4<<20 - 16,
	} {
		t.Run("at="+name, func(t *testing.T) {
			f := arena.RefFromBits[refNode](v&^(1<<arena.RefOffBits-1) | off)
			if name != "slot-zero" && name != "slot-zero-end" {
				f = arena.RefFromBits[refNode](v + off)
			}
			assert.Nil(t, f.Get(b))
		})
	}
	// A forged misaligned Ref is rounded down to the node it falls in.
	assert.Same(t, r.Get(b), arena.RefFromBits[refNode](v+4).Get(b))
	last := arena.RefFromBits[refNode](v + 64<<10 - 16) // the chunk's last 16 bytes: mapped
	assert.NotNil(t, last.Get(b))
}

// TestRefAfterReset: a Reset or Close moves the arena's Refs to a new
// generation; those made before resolve to nil. After 256 Resets the
// 8-bit generation wraps and an old Ref resolves again, to memory the
// arena maps now (documented at Ref), never to an unmapped page.
func TestRefAfterReset(t *testing.T) {
	b := refBump(t, nil)
	_, r := newRef(t, b, 7)
	b.Reset()
	assert.Nil(t, r.Get(b), "after Reset")
	p2, r2 := newRef(t, b, 8)
	assert.Same(t, p2, r2.Get(b), "the new generation's Refs resolve")
	assert.Equal(t, arena.RefBits(r)&(1<<arena.RefOffBits-1), arena.RefBits(r2)&(1<<arena.RefOffBits-1), "same place, other generation")
	for range 255 {
		b.Reset()
		assert.Nil(t, r2.Get(b))
	}
	b.Reset()
	p := r2.Get(b)
	require.NotNil(t, p, "256 Resets later the generation has wrapped")
	assert.True(t, arena.Mapped(b, unsafe.Pointer(p), unsafe.Sizeof(*p)))
	require.NoError(t, b.Close())
	assert.Nil(t, r2.Get(b), "after Close")
	_, err := arena.RefOf(b, p2)
	assert.ErrorIs(t, err, arena.ErrClosed)
}

// TestRefChunks spreads nodes over many chunks and a large block that
// takes several 4 MiB slots, then drops chunks with Trim and fences them
// with Quarantine: Refs into them resolve to nil.
func TestRefChunks(t *testing.T) {
	for _, o := range []arena.Options{
		{InitialSize: 16 << 10, MaxChunk: 64 << 10},
		{InitialSize: 16 << 10, MaxChunk: 64 << 10, Quarantine: 300},
	} {
		name := "quarantine=0"
		if o.Quarantine > 0 {
			name = "quarantine=300"
		}
		t.Run(name, func(t *testing.T) {
			b := refBump(t, &o)
			var refs []arena.Ref[refNode]
			for i := range 20000 { // 320 KB: several chunks
				_, r := newRef(t, b, int64(i))
				refs = append(refs, r)
			}
			big, err := arena.MakeSlice[refNode](b, 1<<20, 1<<20) // 16 MiB: a chunk of its own, 4 slots
			require.NoError(t, err)
			big[len(big)-1].v = -1
			rbig, err := arena.RefOf(b, &big[len(big)-1])
			require.NoError(t, err)
			assert.Same(t, &big[len(big)-1], rbig.Get(b))
			for i, r := range refs {
				require.EqualValues(t, i, r.Get(b).v)
			}
			assert.Greater(t, b.Stats().Chunks, 4)
			b.Reset()
			require.NoError(t, b.Trim())
			for _, r := range refs {
				require.Nil(t, r.Get(b))
			}
			require.Nil(t, rbig.Get(b))
			// 255 Resets more and the 8-bit generation matches again:
			// Refs into chunks dropped or fenced still resolve to nil, the
			// others to memory mapped now.
			for range 255 {
				b.Reset()
			}
			dropped := 0
			for _, r := range append(refs, rbig) {
				if p := r.Get(b); p == nil {
					dropped++
				} else {
					require.True(t, arena.Mapped(b, unsafe.Pointer(p), unsafe.Sizeof(*p)))
				}
			}
			assert.Greater(t, dropped, len(refs)/2, "most chunks were dropped or fenced")
			// The arena works on: new chunks take free slots again.
			for i := range 20000 {
				p, r := newRef(t, b, int64(i))
				require.Same(t, p, r.Get(b))
			}
		})
	}
}

// TestRefOfErrors: RefOf refuses what it cannot name, with errors.Is.
func TestRefOfErrors(t *testing.T) {
	a, b := refBump(t, nil), refBump(t, nil)
	pa, _ := newRef(t, a, 1)
	old, _ := newRef(t, b, 2)
	for range 100 {
		newRef(t, b, 3)
	}
	b.Reset() // old now lies past what b has handed out since
	closed := refBump(t, nil)
	pc, _ := newRef(t, closed, 1)
	require.NoError(t, closed.Close())
	heap := new(refNode)
	for _, tc := range []struct {
		name string
		a    *arena.Bump
		p    *refNode
		err  error
	}{
		{"other-arena", b, pa, arena.ErrNotOwned},
		{"go-heap", b, heap, arena.ErrNotOwned},
		{"before-reset", b, old, arena.ErrNotOwned},
		{"closed", closed, pc, arena.ErrClosed},
		{"zero-bump", &arena.Bump{}, pa, arena.ErrNoArena},
		{"nil", nil, pa, arena.ErrNoArena},
	} {
		t.Run("case="+tc.name, func(t *testing.T) {
			r, err := arena.RefOf(tc.a, tc.p)
			assert.ErrorIs(t, err, tc.err)
			assert.Zero(t, r)
		})
	}
}

// TestRefCheckType: a struct of Refs passes the pointer check; a real
// pointer beside a Ref is still refused, by name.
func TestRefCheckType(t *testing.T) {
	type tree struct {
		left, right arena.Ref[tree]
		kids        [2]arena.Ref[refNode]
		key         int64
	}
	type mixed struct {
		next arena.Ref[mixed]
		p    *int
	}
	b := refBump(t, nil)
	assert.NoError(t, arena.CheckType[tree]())
	_, err := arena.New[tree](b)
	assert.NoError(t, err)
	_, err = arena.MakeSlice[tree](b, 10, 10)
	assert.NoError(t, err)
	_, err = arena.New[mixed](b)
	assert.ErrorIs(t, err, arena.ErrPointers)
	var pe *arena.PointerError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "mixed.p", pe.Path)
	_, err = arena.MakeSlice[mixed](b, 1, 1)
	assert.ErrorIs(t, err, arena.ErrPointers)
	assert.EqualValues(t, 8, unsafe.Sizeof(arena.Ref[tree]{}), "a Ref costs what a pointer does")
}

// TestRefGetAllocs: following a Ref allocates nothing.
func TestRefGetAllocs(t *testing.T) {
	b := refBump(t, nil)
	_, r := newRef(t, b, 1)
	n := testing.AllocsPerRun(100, func() {
		if r.Get(b) == nil {
			t.Fatal("nil")
		}
	})
	assert.Zero(t, n)
}

// TestRefSampling: in hardened mode, a Bump's unsampled allocations get
// Refs as usual; a sampled block lives in hardened's pool, outside the
// chunks, and RefOf refuses it with ErrNotOwned.
func TestRefSampling(t *testing.T) {
	b := refBump(t, &arena.Options{Sample: &hardened.Options{Every: 2, Slots: 8}})
	var ok, refused int
	for i := range 8 {
		p, err := arena.New[refNode](b)
		require.NoError(t, err)
		p.v = int64(i)
		r, err := arena.RefOf(b, p)
		if err != nil {
			require.ErrorIs(t, err, arena.ErrNotOwned)
			refused++
			continue
		}
		require.Same(t, p, r.Get(b))
		ok++
	}
	assert.Positive(t, ok)
	assert.Positive(t, refused)
}

// TestRefPool: Put resets the arena, so a Ref made before Put resolves
// to nil in the same arena handed out again by Get.
func TestRefPool(t *testing.T) {
	pool, err := arena.NewPool(nil)
	require.NoError(t, err)
	defer pool.Close()
	b, err := pool.Get()
	require.NoError(t, err)
	_, r := newRef(t, b, 1)
	require.NoError(t, pool.Put(b))
	assert.Nil(t, r.Get(b), "while pooled")
	b2, err := pool.Get()
	require.NoError(t, err)
	require.Same(t, b, b2, "the pool hands the same arena out again")
	assert.Nil(t, r.Get(b2), "after Get")
	p, r2 := newRef(t, b2, 2)
	assert.Same(t, p, r2.Get(b2))
	require.NoError(t, pool.Put(b2))
}
