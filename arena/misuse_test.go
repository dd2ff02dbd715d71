package arena_test

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestIssue11FreeWithdrawnBlock frees a block that Alloc withdrew after
// finding it written after free. The block was freed once already, so a
// second Free is a double free; it used to be accepted, which put the
// block back into circulation and wrapped InUse below zero.
func TestIssue11FreeWithdrawnBlock(t *testing.T) {
	mapcheck.Baseline(t)
	f := newFreeList(t, &arena.Options{CheckFreed: true, Name: "hard"})
	p, err := f.Alloc(48, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	*(*byte)(unsafe.Add(p, 3)) = 0x77 // a stale pointer writes after free
	_, err = f.Alloc(48, 8)
	require.ErrorIs(t, err, arena.ErrWriteAfterFree)
	before := f.Stats()
	before.Resident = 0

	err = f.Free(p)
	require.ErrorIs(t, err, arena.ErrDoubleFree)
	assert.Contains(t, err.Error(), "withdrawn")
	_, err = f.UsableSize(p)
	assert.ErrorIs(t, err, arena.ErrDoubleFree)
	_, err = f.Realloc(p, 100)
	assert.ErrorIs(t, err, arena.ErrDoubleFree)
	after := f.Stats()
	after.Resident = 0
	assert.Equal(t, before, after, "a refused Free changes nothing")
	assert.Equal(t, uint64(0), after.InUse)

	for range 1000 {
		q, err := f.Alloc(48, 8)
		require.NoError(t, err)
		require.NotEqual(t, p, q, "a withdrawn block is never handed out again")
	}
}

// TestIssue11DelayedLargeDoubleFree frees a large block twice with other
// frees and other arenas' mappings in between, which may be given the
// block's address range: the second Free is a double free all the same,
// where it used to be ErrNotOwned once anything else lived there.
func TestIssue11DelayedLargeDoubleFree(t *testing.T) {
	mapcheck.Baseline(t)
	// Without the quarantine, a freed block's range goes back to the
	// kernel at once, as it does once the quarantine lets it go.
	defer guard.SetQuarantine(guard.SetQuarantine(0))
	const size = 100 << 10
	// Without the cache, too: a freed block is given back at once.
	f := newFreeList(t, &arena.Options{Name: "large", LargeCache: -1})
	other := newFreeList(t, &arena.Options{Name: "other", LargeCache: -1})
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	q, err := f.Alloc(size, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	require.NoError(t, f.Free(q))
	// Another arena maps blocks of the same size until one lands on p.
	var reused bool
	var others []unsafe.Pointer
	for range 64 {
		o, err := other.Alloc(size, 8)
		require.NoError(t, err)
		others = append(others, o)
		if o == p {
			reused = true
			break
		}
	}
	require.True(t, reused, "the kernel did not hand p's range to the other arena; the test proves nothing")
	before := f.Stats()
	err = f.Free(p)
	require.ErrorIs(t, err, arena.ErrDoubleFree)
	assert.Contains(t, err.Error(), "already freed")
	_, err = f.UsableSize(p)
	assert.ErrorIs(t, err, arena.ErrDoubleFree)
	require.ErrorIs(t, f.Free(q), arena.ErrDoubleFree)
	assert.Equal(t, before.Frees, f.Stats().Frees, "a refused Free changes nothing")
	// The other arena's block at p is its own, untouched by those calls.
	fill(p, size, 5)
	require.NoError(t, other.Free(p))
	require.ErrorIs(t, other.Free(p), arena.ErrDoubleFree)
	// The pointers f freed were never other's: other does not call them
	// double frees, though guard remembers a region of that size closed.
	for _, o := range others[:len(others)-1] {
		require.NoError(t, other.Free(o))
	}
}

// TestIssue11LargeFreeMemory checks the bounds of what a FreeList
// remembers of the large blocks it freed: a block handed out again at a
// remembered address is live again, the last
// arena.FreedLargeKept are remembered and older ones are not, and a
// pointer the arena never handed out stays ErrNotOwned, even when another
// arena of the same name freed a block there.
func TestIssue11LargeFreeMemory(t *testing.T) {
	mapcheck.Baseline(t)
	defer guard.SetQuarantine(guard.SetQuarantine(0)) // ranges go back to the kernel at once
	const size = 64 << 10
	f := newFreeList(t, &arena.Options{LargeCache: -1})    // no cache: freed blocks are given back
	twin := newFreeList(t, &arena.Options{LargeCache: -1}) // the same default name
	p, err := f.Alloc(size, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	var r unsafe.Pointer
	var held []unsafe.Pointer
	for range 64 {
		r, err = f.Alloc(size, 8)
		require.NoError(t, err)
		if r == p {
			break
		}
		held = append(held, r)
	}
	require.Equal(t, p, r, "the kernel did not hand p's range back; the test proves nothing")
	n, err := f.UsableSize(r)
	require.NoError(t, err, "handed out again, the block is live")
	assert.Equal(t, uintptr(size), n)
	require.NoError(t, f.Free(r))
	require.ErrorIs(t, f.Free(r), arena.ErrDoubleFree)
	for _, h := range held {
		require.NoError(t, f.Free(h))
	}

	// The twin frees a block of its own; f never handed it out.
	tb, err := twin.Alloc(size, 8)
	require.NoError(t, err)
	require.NoError(t, twin.Free(tb))
	if tb != p {
		assert.ErrorIs(t, f.Free(tb), arena.ErrNotOwned)
	}

	// Only the last FreedLargeKept are remembered. Each block stays
	// mapped until all are allocated, so that no two share an address.
	var blocks []unsafe.Pointer
	for range arena.FreedLargeKept + 1 {
		b, err := f.Alloc(size, 8)
		require.NoError(t, err)
		blocks = append(blocks, b)
	}
	for _, b := range blocks {
		require.NoError(t, f.Free(b))
	}
	assert.ErrorIs(t, f.Free(blocks[1]), arena.ErrDoubleFree, "the oldest remembered")
	assert.ErrorIs(t, f.Free(blocks[len(blocks)-1]), arena.ErrDoubleFree, "the newest")
	assert.ErrorIs(t, f.Free(blocks[0]), arena.ErrNotOwned, "forgotten: one more than FreedLargeKept ago")
}

// TestIssue11MemalignENOMEM asks each arena kind, through align.Memalign,
// for alignments it cannot serve. A power of two that is a multiple of
// the pointer size is a valid alignment, so the answer is ENOMEM, as
// posix_memalign gives, never EINVAL nor "not a power of two"; only a bad
// alignment is EINVAL. Both still match align.ErrAlignment.
func TestIssue11MemalignENOMEM(t *testing.T) {
	mapcheck.Baseline(t)
	page := uintptr(align.PageSize())
	bump := newBump(t, nil)
	shared, err := arena.NewShared(nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, shared.Close()) })
	fl := newFreeList(t, nil)
	sfl, err := arena.NewSyncFreeList(nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sfl.Close()) })
	tests := []struct {
		name      string
		a         align.Allocator
		alignment uintptr
		errno     error
		says      string
	}{
		{"arena=bump/align=2page", bump, 2 * page, unix.ENOMEM, "larger than the page size"},
		{"arena=bump/align=2GiB", bump, 2 << 30, unix.ENOMEM, "larger than the page size"},
		{"arena=shared/align=2page", shared, 2 * page, unix.ENOMEM, "larger than the page size"},
		{"arena=freelist/align=2GiB", fl, 2 << 30, unix.ENOMEM, "larger than the 1 GiB"},
		{"arena=freelist/align=2^63", fl, 1 << 63, unix.ENOMEM, "larger than the 1 GiB"},
		{"arena=syncfreelist/align=2GiB", sfl, 2 << 30, unix.ENOMEM, "larger than the 1 GiB"},
		{"arena=bump/align=24", bump, 24, unix.EINVAL, "not a power of two"},
		{"arena=freelist/align=4", fl, 4, unix.EINVAL, "not a multiple of the pointer size"},
		{"arena=freelist/align=0", fl, 0, unix.EINVAL, "not a power of two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := align.Memalign(tt.a, tt.alignment, 64)
			assert.Nil(t, p)
			require.ErrorIs(t, err, tt.errno)
			other := unix.EINVAL
			if tt.errno == unix.EINVAL {
				other = unix.ENOMEM
			}
			assert.False(t, errors.Is(err, other), "%v also matches %v", err, other)
			assert.Contains(t, err.Error(), tt.says)
			if tt.errno == unix.ENOMEM {
				assert.NotContains(t, err.Error(), "not a power of two")
				assert.ErrorIs(t, err, align.ErrAlignment, "ErrAlign still names the refusal")
				assert.True(t, strings.HasPrefix(err.Error(), "arena: alignment "), err.Error())
			}
		})
	}
}

// TestIssue11ZeroArenas calls every method of every arena kind on its
// zero value, never made by its constructor, and the generic helpers on
// a nil Allocator: each returns ErrNoArena where it returns an error, and
// does nothing, or reports nothing, where it returns none. None panics.
func TestIssue11ZeroArenas(t *testing.T) {
	type call struct {
		name  string
		fn    func() error
		plain bool // the method has no error result; fn checks what it returns
	}
	some := unsafe.Pointer(new([64]byte))
	zero := func(name string, a interface {
		Alloc(size, align uintptr) (unsafe.Pointer, error)
		Close() error
		State() (uint64, error)
	}) []call {
		return []call{
			{name + "/Alloc", func() error { p, err := a.Alloc(8, 8); assert.Nil(t, p); return err }, false},
			{name + "/Alloc/size=0", func() error { _, err := a.Alloc(0, 8); return err }, false},
			{name + "/New", func() error { p, err := arena.New[int64](a); assert.Nil(t, p); return err }, false},
			{name + "/New/size=0", func() error { _, err := arena.New[struct{}](a); return err }, false},
			{name + "/MakeSlice", func() error { s, err := arena.MakeSlice[int32](a, 4, 8); assert.Nil(t, s); return err }, false},
			{name + "/MakeSlice/cap=0", func() error { _, err := arena.MakeSlice[int32](a, 0, 0); return err }, false},
			{name + "/String", func() error { _, err := arena.String(a, "text"); return err }, false},
			{name + "/Bytes", func() error { _, err := arena.Bytes(a, []byte("text")); return err }, false},
			{name + "/Bytes/empty", func() error { _, err := arena.Bytes(a, nil); return err }, false},
			{name + "/State", func() error { g, err := a.State(); assert.Zero(t, g); return err }, false},
			{name + "/Close", a.Close, false},
			{name + "/Close/again", a.Close, false},
		}
	}
	named := func(name string, a interface {
		Name() string
		String() string
	}) []call {
		return []call{
			{name + "/Name", func() error { assert.Empty(t, a.Name()); return nil }, true},
			{name + "/String()", func() error { assert.Contains(t, a.String(), "not made by its constructor"); return nil }, true},
		}
	}
	var (
		b   arena.Bump
		f   arena.FreeList
		s   arena.Shared
		sfl arena.SyncFreeList
	)
	calls := zero("bump", &b)
	calls = append(calls, named("bump", &b)...)
	calls = append(calls, []call{
		{"bump/Reset", func() error { b.Reset(); return nil }, true},
		{"bump/Trim", b.Trim, false},
		{"bump/Freeze", b.Freeze, false},
		{"bump/Thaw", b.Thaw, false},
		{"bump/Stats", func() error { assert.Equal(t, arena.Stats{}, b.Stats()); return nil }, true},
	}...)
	calls = append(calls, zero("freelist", &f)...)
	calls = append(calls, named("freelist", &f)...)
	calls = append(calls, []call{
		{"freelist/Free", func() error { return f.Free(some) }, false},
		{"freelist/Free/nil", func() error { return f.Free(nil) }, false},
		{"freelist/UsableSize", func() error { _, err := f.UsableSize(some); return err }, false},
		{"freelist/Realloc", func() error { _, err := f.Realloc(some, 8); return err }, false},
		{"freelist/Realloc/nil", func() error { _, err := f.Realloc(nil, 8); return err }, false},
		{"freelist/Calloc", func() error { _, err := f.Calloc(2, 8); return err }, false},
		{"freelist/Freeze", f.Freeze, false},
		{"freelist/Thaw", f.Thaw, false},
		{"freelist/Unfreed", func() error { assert.Equal(t, arena.Unfreed{}, f.Unfreed()); return nil }, true},
		{"freelist/Stats", func() error { assert.Equal(t, arena.Stats{}, f.Stats()); return nil }, true},
	}...)
	calls = append(calls, zero("shared", &s)...)
	calls = append(calls, named("shared", &s)...)
	calls = append(calls, []call{
		{"shared/Alloc/large", func() error { _, err := s.Alloc(1<<20, 8); return err }, false},
		{"shared/Reset", func() error { s.Reset(); return nil }, true},
		{"shared/Trim", s.Trim, false},
		{"shared/Stats", func() error { assert.Equal(t, arena.Stats{}, s.Stats()); return nil }, true},
	}...)
	calls = append(calls, zero("syncfreelist", &sfl)...)
	calls = append(calls, []call{
		{"syncfreelist/Free", func() error { return sfl.Free(some) }, false},
		{"syncfreelist/UsableSize", func() error { _, err := sfl.UsableSize(some); return err }, false},
		{"syncfreelist/Realloc", func() error { _, err := sfl.Realloc(some, 8); return err }, false},
		{"syncfreelist/Calloc", func() error { _, err := sfl.Calloc(2, 8); return err }, false},
		{"syncfreelist/Stats", func() error { assert.Equal(t, arena.Stats{}, sfl.Stats()); return nil }, true},
	}...)
	calls = append(calls, []call{
		{"nil/New", func() error { _, err := arena.New[int64](nil); return err }, false},
		{"nil/MakeSlice", func() error { _, err := arena.MakeSlice[int64](nil, 1, 1); return err }, false},
		{"nil/String", func() error { _, err := arena.String(nil, "x"); return err }, false},
		{"nil/Bytes", func() error { _, err := arena.Bytes(nil, nil); return err }, false},
	}...)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.fn() })
			if c.plain {
				return
			}
			require.ErrorIs(t, err, arena.ErrNoArena)
			assert.True(t, strings.HasPrefix(err.Error(), "arena: no arena: "), err.Error())
		})
	}
}

// TestIssue11UndetectableDoubleFree proves what the FreeList doc says
// cannot be caught: a second Free of a pointer whose block was handed out
// again is indistinguishable from the new owner's Free, so it succeeds and
// frees the new owner's block, in plain and in Hardened mode alike. Only
// the consequences differ: Hardened zeroes the block on that Free, so the
// new owner's next write is reported when the block is next handed out;
// a sampled block is not handed out again while it waits in quarantine,
// so there the second Free is ErrDoubleFree.
func TestIssue11UndetectableDoubleFree(t *testing.T) {
	for _, checked := range []bool{false, true} {
		name := "mode=plain"
		if checked {
			name = "mode=checkfreed"
		}
		t.Run(name, func(t *testing.T) {
			f := newFreeList(t, &arena.Options{CheckFreed: checked})
			p, err := f.Alloc(64, 8)
			require.NoError(t, err)
			require.NoError(t, f.Free(p))
			owner, err := f.Alloc(64, 8)
			require.NoError(t, err)
			require.Equal(t, p, owner, "the slot is handed out again")
			fill(owner, 64, 1)
			require.NoError(t, f.Free(p), "the stale second Free is taken for the owner's")
			assert.Equal(t, uint64(0), f.Stats().InUse, "the owner's block is free")
			if !checked {
				thief, err := f.Alloc(64, 8)
				require.NoError(t, err)
				assert.Equal(t, owner, thief, "and handed to someone else while the owner still uses it")
				return
			}
			assert.True(t, holds(owner, 64, 0), "Hardened zeroed the owner's data on the stale Free")
			fill(owner, 8, 2) // the owner, unaware, writes on
			_, err = f.Alloc(64, 8)
			assert.ErrorIs(t, err, arena.ErrWriteAfterFree, "caught late, when the block is next handed out")
		})
	}
	t.Run("mode=sampled", func(t *testing.T) {
		f := newFreeList(t, &arena.Options{Sample: &hardened.Options{Every: 1, Slots: 4}})
		p, err := f.Alloc(64, 8)
		require.NoError(t, err)
		require.NoError(t, f.Free(p))
		owner, err := f.Alloc(64, 8)
		require.NoError(t, err)
		require.NotEqual(t, p, owner, "a freed sampled block waits in quarantine")
		assert.ErrorIs(t, f.Free(p), arena.ErrDoubleFree)
		require.NoError(t, f.Free(owner))
	})
}

// TestIssue11LargeUseAfterFree: with CheckFreed, which keeps no cache, a
// freed large block's range waits in guard's quarantine, so touching it
// faults and is named a use after free with the Free call site, and
// freeing it again is a double free.
func TestIssue11LargeUseAfterFree(t *testing.T) {
	mapcheck.Baseline(t)
	defer guard.SetQuarantine(guard.SetQuarantine(-1))
	f := newFreeList(t, &arena.Options{Name: "images", CheckFreed: true})
	p, err := f.Alloc(100<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p)) // the Free site
	err = hardened.Catch(func() { sinkInt = int64(*(*byte)(unsafe.Add(p, 4096))) })
	var rep *hardened.Report
	require.ErrorAs(t, err, &rep)
	assert.Equal(t, hardened.KindUseAfterFree, rep.Kind)
	assert.Equal(t, "images", rep.Arena)
	assert.EqualValues(t, 4096, rep.Distance)
	require.NotEmpty(t, rep.Freed)
	assert.Contains(t, rep.Freed[0], "misuse_test.go:")
	assert.ErrorIs(t, f.Free(p), arena.ErrDoubleFree)
}
