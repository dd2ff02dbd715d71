package arena_test

import (
	"errors"
	"math"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// TestIssue11HugeAllocFaultsLittle: a 512 MiB Bump allocation faults in
// one stride ahead, not the whole block; the rest comes in as touched.
func TestIssue11HugeAllocFaultsLittle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Resident needs mincore, wired up on Linux only")
	}
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	p, err := b.Alloc(512<<20, 8)
	require.NoError(t, err)
	st := b.Stats()
	assert.Less(t, st.Resident, uint64(8<<20), "RSS after Alloc(512 MiB): %d bytes", st.Resident)
	mem := bytesAt(p, 512<<20)
	assert.True(t, isZero(mem[:1<<20]) && isZero(mem[len(mem)-1<<20:]), "the block reads zero")
	mem[len(mem)-1] = 1 // the tail faults in on touch
	q, err := b.Alloc(4096, 8)
	require.NoError(t, err)
	assert.True(t, isZero(bytesAt(q, 4096)))
}

// impossible are sizes that no arena can back: past the address space,
// or the whole of it.
var impossible = []uintptr{1 << 46, 1 << 47, 1 << 62, math.MaxInt, math.MaxUint64, math.MaxUint64 - 4095}

// oomKinds opens every arena kind, and a list on a Bump, each with one
// live allocation already made.
func oomKinds() []struct {
	name string
	open func(t *testing.T) (alloc func(uintptr) error, stats func() any, closeFn func() error)
} {
	type kind = struct {
		name string
		open func(t *testing.T) (alloc func(uintptr) error, stats func() any, closeFn func() error)
	}
	withStats := func(a align.Allocator, stats func() any, closeFn func() error) (func(uintptr) error, func() any, func() error) {
		return func(n uintptr) error {
			p, err := a.Alloc(n, 8)
			if err == nil {
				return errors.New("allocated " + strconv.FormatUint(uint64(n), 10) + " bytes at " + strconv.FormatUint(uint64(uintptr(p)), 16))
			}
			return err
		}, stats, closeFn
	}
	return []kind{
		{"bump", func(t *testing.T) (func(uintptr) error, func() any, func() error) {
			b, err := arena.NewBump(nil)
			require.NoError(t, err)
			_, err = b.Alloc(64, 8)
			require.NoError(t, err)
			return withStats(b, func() any { s := b.Stats(); s.Resident = 0; return s }, b.Close)
		}},
		{"shared", func(t *testing.T) (func(uintptr) error, func() any, func() error) {
			s, err := arena.NewShared(nil)
			require.NoError(t, err)
			_, err = s.Alloc(64, 8)
			require.NoError(t, err)
			return withStats(s, func() any { st := s.Stats(); st.Resident = 0; return st }, s.Close)
		}},
		{"freelist", func(t *testing.T) (func(uintptr) error, func() any, func() error) {
			f, err := arena.NewFreeList(nil)
			require.NoError(t, err)
			_, err = f.Alloc(64, 8)
			require.NoError(t, err)
			return withStats(f, func() any { st := f.Stats(); st.Resident = 0; return st }, f.Close)
		}},
		{"syncfreelist", func(t *testing.T) (func(uintptr) error, func() any, func() error) {
			f, err := arena.NewSyncFreeList(nil)
			require.NoError(t, err)
			_, err = f.Alloc(64, 8)
			require.NoError(t, err)
			return withStats(f, func() any { st := f.Stats(); st.Resident = 0; return st }, f.Close)
		}},
		{"list", func(t *testing.T) (func(uintptr) error, func() any, func() error) {
			b, err := arena.NewBump(nil)
			require.NoError(t, err)
			l, err := list.New[[4096]byte](b, nil)
			require.NoError(t, err)
			_, err = l.PushBack([4096]byte{1})
			require.NoError(t, err)
			return func(n uintptr) error {
					// A list's requests are slabs of its element type,
					// bounded at compile time, so the impossible size
					// goes to the arena beneath it; the list and its
					// element must come through unchanged.
					_, err := b.Alloc(n, 8)
					if err == nil {
						return errors.New("allocated")
					}
					return err
				}, func() any {
					s := b.Stats()
					s.Resident = 0
					return [2]any{s, l.Len()}
				}, b.Close
		}},
	}
}

// TestIssue11ImpossibleSizes: a request no arena can back is an error
// wrapping ENOMEM for every kind, and changes nothing.
func TestIssue11ImpossibleSizes(t *testing.T) {
	mapcheck.Baseline(t)
	for _, k := range oomKinds() {
		for _, n := range impossible {
			t.Run("arena="+k.name+"/size="+strconv.FormatUint(uint64(n), 10), func(t *testing.T) {
				alloc, stats, closeFn := k.open(t)
				defer func() { assert.NoError(t, closeFn()) }()
				before := stats()
				err := alloc(n)
				require.Error(t, err)
				assert.ErrorIs(t, err, unix.ENOMEM, "%v", err)
				assert.Equal(t, before, stats(), "a refused call changes nothing")
			})
		}
	}
}
