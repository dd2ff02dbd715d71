package arena_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// TestIssue11HugeAllocFaultsLittle: a 512 MiB Bump allocation faults in
// one stride ahead, not the whole block; the rest comes in as touched.
func TestIssue11HugeAllocFaultsLittle(t *testing.T) {
	if _, err := os.Stat("/proc/self/maps"); err != nil {
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
	withStats := func(a arena.Allocator, stats func() any, closeFn func() error) (func(uintptr) error, func() any, func() error) {
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

// TestIssue11AboveRLimitAS runs in a child whose RLIMIT_AS is 4 GiB: a
// 16 GiB request, which the address space could hold but the limit
// cannot, is ENOMEM for every kind.
func TestIssue11AboveRLimitAS(t *testing.T) {
	if os.Getenv("MMARENA_RLIMIT_AS_CHILD") == "1" {
		lim := unix.Rlimit{Cur: 4 << 30, Max: 4 << 30}
		var old unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &old))
		if old.Max < lim.Max {
			lim.Max = old.Max
		}
		// The Go runtime has reserved address space of its own: the
		// limit is set above what the process already holds.
		if vm := vmSize(t); vm+(4<<30) > lim.Cur {
			lim.Cur, lim.Max = vm+(4<<30), max(lim.Max, vm+(4<<30))
		}
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_AS, &lim))
		for _, k := range oomKinds() {
			alloc, stats, closeFn := k.open(t)
			before := stats()
			err := alloc(uintptr(lim.Cur))
			require.Error(t, err, k.name)
			assert.ErrorIs(t, err, unix.ENOMEM, "%s: %v", k.name, err)
			assert.Equal(t, before, stats(), "%s: a refused call changes nothing", k.name)
			assert.NoError(t, closeFn())
		}
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIssue11AboveRLimitAS$", "-test.v")
	cmd.Env = append(os.Environ(), "MMARENA_RLIMIT_AS_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestIssue11AboveRLimitAS")
}

// vmSize returns the address space the process holds now, from
// /proc/self/statm.
func vmSize(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	var pages uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		pages = pages*10 + uint64(c-'0')
	}
	return pages * uint64(ps)
}
