package guard_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
)

var ps = align.PageSize()

// sink receives loads so the compiler cannot drop them: a load whose
// result is unused may never happen, and then neither does the fault.
var sink byte

//go:noinline
func load(p unsafe.Pointer) { sink = *(*byte)(p) }

//go:noinline
func store(p unsafe.Pointer) { *(*byte)(p) = 0x5a }

// at returns the address off bytes from the region's usable start;
// off may be negative or past the end, which is the point.
func at(r *guard.Region, off int) unsafe.Pointer {
	return unsafe.Add(r.Pointer(), off)
}

// fences lists the fence kinds this kernel can use.
func fences(t *testing.T) []guard.Fence {
	out := []guard.Fence{guard.FenceMprotect}
	r, err := guard.Map(1, &guard.Options{Fence: guard.FenceMarkers})
	if err == nil {
		require.NoError(t, r.Close())
		out = append(out, guard.FenceMarkers)
	} else {
		require.ErrorIs(t, err, errors.ErrUnsupported)
		t.Logf("no guard markers here: %v", err)
	}
	return out
}

func fenceName(f guard.Fence) string {
	if f == guard.FenceMarkers {
		return "markers"
	}
	return f.String()
}

func mustMap(t *testing.T, size int, opts *guard.Options) *guard.Region {
	t.Helper()
	r, err := guard.Map(size, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

// linesOf returns the /proc/self/maps lines covering r's reservation.
func linesOf(t *testing.T, r *guard.Region) []procmaps.Mapping {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc/self/maps")
	}
	ms, err := procmaps.Read(0)
	require.NoError(t, err)
	lo := r.Addr() - uintptr(r.GuardSize())
	return procmaps.Overlapping(ms, lo, r.Addr()+uintptr(r.Size()+r.GuardSize()))
}

func TestMap(t *testing.T) {
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		for _, size := range []int{1, 100, ps, ps + 1, 10 * ps} {
			t.Run(fmt.Sprintf("fence=%s/size=%d", fenceName(f), size), func(t *testing.T) {
				r := mustMap(t, size, &guard.Options{Name: "t", Fence: f})
				want, _ := align.Up(uintptr(size), uintptr(ps))
				assert.Equal(t, int(want), r.Size(), "usable size is whole pages")
				assert.Equal(t, r.Size(), r.Committed())
				assert.Equal(t, ps, r.GuardSize())
				assert.Equal(t, f, r.Fence())
				assert.True(t, align.IsAligned(r.Addr(), uintptr(ps)))
				b := r.Bytes()
				require.Len(t, b, r.Size())
				for i := range b {
					if b[i] != 0 {
						t.Fatalf("byte %d is %d, want 0", i, b[i])
					}
					b[i] = byte(i)
				}
				for i := range b {
					require.Equal(t, byte(i), b[i])
				}

				lines := linesOf(t, r)
				if f == guard.FenceMarkers {
					// One mapping: the guards are markers, not mprotect splits.
					require.Len(t, lines, 1, "%v", lines)
					assert.Equal(t, "rw-p", lines[0].Perms)
				} else {
					require.Len(t, lines, 3, "%v", lines)
					assert.Equal(t, "---p", lines[0].Perms)
					assert.Equal(t, "rw-p", lines[1].Perms)
					assert.Equal(t, "---p", lines[2].Perms)
					assert.Equal(t, r.Addr(), lines[1].Start)
					assert.Equal(t, uintptr(r.Size()), lines[1].Size())
				}
				assert.Equal(t, len(lines), r.Mappings())
			})
		}
	}
}

func TestMapNoGuards(t *testing.T) {
	mapcheck.Baseline(t)
	r := mustMap(t, 3*ps, &guard.Options{NoGuards: true})
	assert.Equal(t, 0, r.GuardSize())
	lines := linesOf(t, r)
	require.Len(t, lines, 1)
	assert.Equal(t, "rw-p", lines[0].Perms)
	assert.Equal(t, r.Addr(), lines[0].Start)
	r2 := mustMap(t, ps, &guard.Options{GuardPages: 3})
	assert.Equal(t, 3*ps, r2.GuardSize())
	err := guard.Catch(func() { load(at(r2, -3*ps)) })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartLowGuard, fe.Part)
}

func TestMapAligned(t *testing.T) {
	mapcheck.Baseline(t)
	for _, a := range []int{0, 64, ps, 1 << 16, 1 << 21, 1 << 26} {
		t.Run(fmt.Sprintf("align=%d", a), func(t *testing.T) {
			r := mustMap(t, 100, &guard.Options{Align: a})
			want := max(a, ps)
			assert.True(t, align.IsAligned(r.Addr(), uintptr(want)), "%#x not aligned to %d", r.Addr(), want)
			store(at(r, 0))
			// The excess head and tail were unmapped: what remains is
			// exactly the planned reservation.
			var total uintptr
			for _, m := range linesOf(t, r) {
				lo := max(m.Start, r.Addr()-uintptr(ps))
				hi := min(m.End, r.Addr()+uintptr(r.Size()+ps))
				total += hi - lo
			}
			assert.Equal(t, uintptr(r.Size()+2*ps), total)
		})
	}
}

func TestMapBadInput(t *testing.T) {
	mapcheck.Baseline(t)
	tests := []struct {
		name     string
		size     int
		opts     *guard.Options
		sentinel error
		errno    error
	}{
		{"size=0", 0, nil, guard.ErrSize, unix.EINVAL},
		{"size=-1", -1, nil, guard.ErrSize, unix.EINVAL},
		{"size=minint", math.MinInt, nil, guard.ErrSize, unix.EINVAL},
		{"size=maxint", math.MaxInt, nil, guard.ErrSize, unix.ENOMEM},
		{"size=maxint-page", math.MaxInt - ps, &guard.Options{GuardPages: 1}, guard.ErrSize, unix.ENOMEM},
		{"reserve=-1", 1, &guard.Options{Reserve: -1}, guard.ErrSize, unix.EINVAL},
		{"reserve=maxint", 1, &guard.Options{Reserve: math.MaxInt}, guard.ErrSize, unix.ENOMEM},
		{"guards=-1", 1, &guard.Options{GuardPages: -1}, guard.ErrSize, unix.EINVAL},
		{"guards=huge", 1, &guard.Options{GuardPages: math.MaxInt / 2}, guard.ErrSize, unix.ENOMEM},
		{"align=3", 1, &guard.Options{Align: 3}, align.ErrAlignment, unix.EINVAL},
		{"align=-4096", 1, &guard.Options{Align: -4096}, align.ErrAlignment, unix.EINVAL},
		{"align=2^62", 1, &guard.Options{Align: 1 << 62}, guard.ErrSize, unix.ENOMEM},
		{"fence=9", 1, &guard.Options{Fence: 9}, nil, unix.EINVAL},
		{"size=2^47+1", 1<<47 + 1, nil, guard.ErrSize, unix.ENOMEM},
	}
	_, held := guard.Budget()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := guard.Map(tt.size, tt.opts)
			require.Error(t, err)
			assert.Nil(t, r)
			assert.True(t, strings.HasPrefix(err.Error(), "guard: "), err.Error())
			if tt.sentinel != nil {
				assert.ErrorIs(t, err, tt.sentinel)
			}
			assert.ErrorIs(t, err, tt.errno)
			_, now := guard.Budget()
			assert.Equal(t, held, now, "a refused Map holds no mapping")
		})
	}
}

func TestFaults(t *testing.T) {
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		opts := &guard.Options{Name: "nodes", Fence: f}
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			r := mustMap(t, 4*ps, opts)
			tests := []struct {
				name string
				prep func()
				p    func() unsafe.Pointer
				part guard.Part
				msg  string
			}{
				{"overflow", nil, func() unsafe.Pointer { return at(r, 4*ps+2) }, guard.PartHighGuard,
					`guard: fault 3 bytes past the end of region "nodes" (high guard page)`},
				{"overflow-by-one", nil, func() unsafe.Pointer { return at(r, 4*ps) }, guard.PartHighGuard,
					`guard: fault 1 byte past the end of region "nodes" (high guard page)`},
				{"underflow", nil, func() unsafe.Pointer { return at(r, -8) }, guard.PartLowGuard,
					`guard: fault 8 bytes before the start of region "nodes" (low guard page)`},
				{"protected", func() { require.NoError(t, r.Protect(ps, ps)) }, func() unsafe.Pointer { return at(r, ps+10) },
					guard.PartProtected, fmt.Sprintf(`guard: fault at offset %d of region "nodes" (protected page)`, ps+10)},
				{"punched", func() { require.NoError(t, r.Punch(2*ps, ps)) }, func() unsafe.Pointer { return at(r, 2*ps) },
					guard.PartPunched, fmt.Sprintf(`guard: fault at offset %d of region "nodes" (punched hole)`, 2*ps)},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.prep != nil {
						tt.prep()
					}
					p := tt.p()
					err := guard.Catch(func() { load(p) })
					var fe *guard.FaultError
					require.ErrorAs(t, err, &fe)
					assert.Equal(t, tt.part, fe.Part)
					assert.Equal(t, "nodes", fe.Region)
					assert.Equal(t, uintptr(p), fe.Addr)
					assert.EqualError(t, err, tt.msg)
					var re runtime.Error
					assert.ErrorAs(t, err, &re, "the runtime's error is kept")
					if tt.part != guard.PartPunched {
						// Writes fault the same way.
						require.Error(t, guard.Catch(func() { store(p) }))
					}
				})
			}
			// The pages around the fences are untouched and usable.
			store(at(r, 0))
			store(at(r, 3*ps+ps-1))
		})
	}
}

func TestFaultReserved(t *testing.T) {
	mapcheck.Baseline(t)
	r := mustMap(t, ps, &guard.Options{Name: "grow", Reserve: 1 << 20})
	assert.Equal(t, 1<<20, r.Size())
	assert.Equal(t, ps, r.Committed())
	err := guard.Catch(func() { load(at(r, ps+99)) })
	assert.EqualError(t, err, `guard: fault 100 bytes past the committed end of region "grow" (reserved page)`)

	require.NoError(t, r.Commit(ps+100))
	assert.Equal(t, 2*ps, r.Committed())
	store(at(r, ps+99))
	assert.Len(t, r.Bytes(), 2*ps)
	require.NoError(t, r.Commit(ps), "shrinking is a no-op")
	assert.ErrorIs(t, r.Commit(1<<20+1), guard.ErrRange)
	require.NoError(t, r.Commit(1<<20))
	store(at(r, 1<<20-1))
	err = guard.Catch(func() { load(at(r, 1<<20)) })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartHighGuard, fe.Part)
}

func TestFaultClosed(t *testing.T) {
	mapcheck.Baseline(t)
	r, err := guard.Map(ps, &guard.Options{Name: "gone"})
	require.NoError(t, err)
	p := at(r, 16)
	require.NoError(t, r.Close())
	err = guard.Catch(func() { load(p) })
	assert.EqualError(t, err, `guard: fault at offset 16 of region "gone" (closed region: use after Close)`)
}

func TestCatch(t *testing.T) {
	assert.NoError(t, guard.Catch(func() {}))
	assert.PanicsWithValue(t, "boom", func() { _ = guard.Catch(func() { panic("boom") }) },
		"panics that are not faults pass through")
	var m map[string]int
	assert.Panics(t, func() { _ = guard.Catch(func() { m["x"] = 1 }) })
}

func TestPunchSplits(t *testing.T) {
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			r := mustMap(t, 8*ps, &guard.Options{Fence: f})
			before := linesOf(t, r)
			require.NoError(t, r.Punch(3*ps, 2*ps))
			after := linesOf(t, r)
			assert.Len(t, after, len(before)+1, "punching the middle splits the mapping in two")
			assert.Equal(t, len(after), r.Mappings())
			hole0, hole1 := r.Addr()+uintptr(3*ps), r.Addr()+uintptr(5*ps)
			for _, m := range after {
				assert.False(t, m.Start < hole1 && m.End > hole0, "hole still mapped: %s", m.Line)
			}
			// Both sides survive with their contents.
			store(at(r, 3*ps-1))
			store(at(r, 5*ps))
			assert.ErrorIs(t, r.Punch(4*ps, ps), guard.ErrRange, "already punched")
			assert.ErrorIs(t, r.Protect(2*ps, 2*ps), guard.ErrRange, "protect over a hole")
			// The last usable page sits against the high guard. With
			// mprotect the guard is a mapping of its own, so punching the
			// page shrinks the usable mapping; with markers the guard
			// shares the mapping, which splits once more.
			require.NoError(t, r.Punch(7*ps, ps))
			want := len(after)
			if f == guard.FenceMarkers {
				want++
			}
			assert.Len(t, linesOf(t, r), want)
			assert.Equal(t, want, r.Mappings())
		})
	}
}

func TestRelease(t *testing.T) {
	mapcheck.Baseline(t)
	if runtime.GOOS != "linux" {
		t.Skip("Resident needs mincore, wired up on Linux only")
	}
	r := mustMap(t, 64*ps, &guard.Options{Name: "rss"})
	res, err := r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 0, res, "untouched pages cost no RAM")
	b := r.Bytes()
	for i := range b {
		b[i] = 0xAB
	}
	res, err = r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 64*ps, res)

	require.NoError(t, r.Release(16*ps, 32*ps))
	res, err = r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 32*ps, res, "released pages leave RAM")
	for i := 16 * ps; i < 48*ps; i++ {
		if b[i] != 0 {
			t.Fatalf("released byte %d reads %#x, want 0", i, b[i])
		}
	}
	assert.Equal(t, byte(0xAB), b[16*ps-1])
	assert.Equal(t, byte(0xAB), b[48*ps])
}

func TestProtectDiscards(t *testing.T) {
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			r := mustMap(t, 4*ps, &guard.Options{Fence: f})
			b := r.Bytes()
			b[ps] = 7
			require.NoError(t, r.Protect(ps, 2*ps))
			require.NoError(t, r.Protect(ps, ps), "protecting again is allowed")
			require.NoError(t, r.Unprotect(ps, 2*ps))
			assert.Equal(t, byte(0), b[ps], "protected pages come back zeroed")
			b[ps] = 8
			// An upper bound: with mprotect the kernel may or may not merge
			// the fenced pages back into their neighbours.
			assert.LessOrEqual(t, len(linesOf(t, r)), r.Mappings())
		})
	}
}

func TestRangeErrors(t *testing.T) {
	mapcheck.Baseline(t)
	r := mustMap(t, 4*ps, &guard.Options{Reserve: 8 * ps})
	ops := map[string]func(off, n int) error{
		"protect": r.Protect, "unprotect": r.Unprotect, "release": r.Release, "punch": r.Punch,
	}
	bad := []struct{ off, n int }{
		{0, 0}, {0, -ps}, {-ps, ps}, {1, ps}, {0, 1}, {8 * ps, ps}, {7 * ps, 2 * ps},
		{math.MaxInt - ps + 1, ps}, {ps, math.MaxInt},
	}
	b := r.Bytes()
	b[0] = 1
	for name, op := range ops {
		for _, tt := range bad {
			t.Run(fmt.Sprintf("%s/off=%d/n=%d", name, tt.off, tt.n), func(t *testing.T) {
				err := op(tt.off, tt.n)
				assert.ErrorIs(t, err, guard.ErrRange)
				assert.ErrorIs(t, err, unix.EINVAL)
			})
		}
	}
	// Reserved (uncommitted) pages cannot be protected or released.
	assert.ErrorIs(t, r.Protect(4*ps, ps), guard.ErrRange)
	assert.ErrorIs(t, r.Release(4*ps, ps), guard.ErrRange)
	assert.Equal(t, byte(1), b[0], "refused calls change nothing")
	assert.Equal(t, 4*ps, r.Committed())
}

func TestClose(t *testing.T) {
	mapcheck.Baseline(t)
	r, err := guard.Map(ps, nil)
	require.NoError(t, err)
	assert.Equal(t, "region", r.Name())
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close is idempotent")
	assert.Nil(t, r.Bytes())
	assert.Nil(t, r.Pointer())
	assert.Equal(t, 0, r.Mappings())
	assert.ErrorIs(t, r.Commit(2*ps), guard.ErrClosed)
	assert.ErrorIs(t, r.Protect(0, ps), guard.ErrClosed)
	assert.ErrorIs(t, r.Unprotect(0, ps), guard.ErrClosed)
	assert.ErrorIs(t, r.Release(0, ps), guard.ErrClosed)
	assert.ErrorIs(t, r.Punch(0, ps), guard.ErrClosed)
	_, err = r.Resident()
	assert.ErrorIs(t, err, guard.ErrClosed)
	assert.Contains(t, r.String(), "closed")
}

func TestBudget(t *testing.T) {
	mapcheck.Baseline(t)
	_, held := guard.Budget()
	old := guard.SetBudget(held + 7)
	defer guard.SetBudget(old)

	opts := &guard.Options{Fence: guard.FenceMprotect} // 3 mappings each
	a := mustMap(t, ps, opts)
	b := mustMap(t, 4*ps, opts)
	_, err := guard.Map(ps, opts)
	require.Error(t, err)
	assert.ErrorIs(t, err, guard.ErrBudget)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Contains(t, err.Error(), "vm.max_map_count")
	// Protecting the middle of b would split it in two more mappings.
	err = b.Protect(ps, ps)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Equal(t, 3, b.Mappings(), "a refused Protect changes nothing")
	store(at(b, ps))
	// A fence at the edge merges with the guard: no new mapping.
	require.NoError(t, b.Protect(3*ps, ps))
	require.NoError(t, b.Punch(3*ps, ps))

	require.NoError(t, a.Close())
	c, err := guard.Map(ps, opts)
	require.NoError(t, err, "the budget recovers after Close")
	require.NoError(t, c.Close())
	_, now := guard.Budget()
	assert.Equal(t, held+b.Mappings(), now)
}

func TestRegionString(t *testing.T) {
	r := mustMap(t, 100, &guard.Options{Name: "s"})
	s := r.String()
	assert.Contains(t, s, `region "s"`)
	assert.Contains(t, s, "4.0 KiB usable")
}

func TestProtectFor(t *testing.T) {
	mapcheck.Baseline(t)
	r := mustMap(t, 2*ps, &guard.Options{Name: "q"})
	require.NoError(t, r.ProtectFor(ps, ps, "use after reset"))
	err := guard.Catch(func() { load(at(r, ps+1)) })
	assert.EqualError(t, err, fmt.Sprintf(`guard: fault at offset %d of region "q" (protected page: use after reset)`, ps+1))
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "use after reset", fe.Reason)
	require.NoError(t, r.Unprotect(ps, ps))
	assert.Equal(t, "", guard.Lookup(r.Addr()+uintptr(ps)).Reason)
}

func TestPopulateAndHugePages(t *testing.T) {
	mapcheck.Baseline(t)
	if runtime.GOOS != "linux" {
		t.Skip("Populate is measured with mincore and HugePages is madvise, both Linux-only")
	}
	r := mustMap(t, 16*ps, &guard.Options{Populate: true, Reserve: 32 * ps})
	res, err := r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 16*ps, res, "populated pages are resident before any touch")
	require.NoError(t, r.Commit(24*ps))
	res, err = r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 24*ps, res, "Commit populates too")

	h := mustMap(t, 4<<20, &guard.Options{HugePages: true, Align: 2 << 20})
	assert.True(t, align.IsAligned(h.Addr(), 2<<20))
	thp, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if len(thp) > 0 && !strings.Contains(string(thp), "[never]") {
		assert.True(t, h.HugePages(), "THP is %q, yet the advice was refused", strings.TrimSpace(string(thp)))
	}
	assert.Equal(t, len(linesOf(t, h)), h.Mappings(), "the advice covers the whole reservation and splits nothing")
}

func TestPopulateRange(t *testing.T) {
	mapcheck.Baseline(t)
	r := mustMap(t, 64*ps, &guard.Options{Reserve: 128 * ps})
	err := r.Populate(8*ps, 16*ps)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no MADV_POPULATE_WRITE here:", err)
	}
	require.NoError(t, err)
	res, err := r.Resident()
	require.NoError(t, err)
	assert.Equal(t, 16*ps, res)
	assert.ErrorIs(t, r.Populate(64*ps, ps), guard.ErrRange, "reserved pages")
	assert.ErrorIs(t, r.Populate(1, ps), guard.ErrRange)
	require.NoError(t, r.Protect(0, ps))
	assert.ErrorIs(t, r.Populate(0, 2*ps), guard.ErrRange, "protected pages")
}

func TestFreeze(t *testing.T) {
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			r := mustMap(t, 4*ps, &guard.Options{Name: "frozen", Fence: f})
			b := r.Bytes()
			b[ps+5] = 42
			require.NoError(t, r.Freeze(ps, 2*ps))
			assert.Equal(t, byte(42), b[ps+5], "frozen pages keep their contents and can be read")
			err := guard.Catch(func() { store(at(r, ps+5)) })
			assert.EqualError(t, err, fmt.Sprintf(`guard: fault at offset %d of region "frozen" (read-only page, frozen)`, ps+5))
			store(at(r, 0)) // outside the frozen range
			assert.Equal(t, len(linesOf(t, r)), r.Mappings())
			assert.ErrorIs(t, r.Protect(ps, ps), guard.ErrRange, "frozen pages are not Ready")
			require.NoError(t, r.Thaw(0, 4*ps), "thawing a range with Ready pages in it is fine")
			store(at(r, ps+5))
			assert.Equal(t, byte(0x5a), b[ps+5])
			require.NoError(t, r.Punch(3*ps, ps))
			assert.ErrorIs(t, r.Freeze(2*ps, 2*ps), guard.ErrRange, "punched pages cannot be frozen")
		})
	}
}
