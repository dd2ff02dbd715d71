package guard_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/inject"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// isInjected reports whether err wraps an errno inject uses.
func isInjected(err error) bool {
	return errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN)
}

// armed arms inject for the rest of the test and flushes deferred unmaps
// before the mapcheck cleanup registered earlier runs.
func armed(t *testing.T, seed uint64, every int, ops ...inject.Op) {
	inject.Arm(seed, every, ops...)
	t.Cleanup(func() {
		inject.Disarm()
		assert.NoError(t, guard.FlushUnmaps())
	})
}

// TestInjectedMmapIsTraced: an injected failure is traced as a failed
// call and never reaches the kernel.
func TestInjectedMmapIsTraced(t *testing.T) {
	mapcheck.Baseline(t)
	guard.SetTrace(8)
	defer guard.SetTrace(0)
	_, held := guard.Budget()
	armed(t, 1, 1, inject.Mmap)
	_, err := guard.Map(ps, &guard.Options{Name: "injected"})
	inject.Disarm()
	require.Error(t, err)
	assert.True(t, isInjected(err), "%v", err)
	calls, _ := guard.Trace()
	require.NotEmpty(t, calls)
	last := calls[len(calls)-1]
	assert.Equal(t, "mmap", last.Op)
	assert.Equal(t, uintptr(0), last.Addr, "no address: the call was not made")
	assert.NotEmpty(t, last.Err)
	_, now := guard.Budget()
	assert.Equal(t, held, now)
}

// TestInjectedCloseDefers: a Close whose munmap fails closes the region,
// keeps the range charged and mapped, and FlushUnmaps finishes the job.
func TestInjectedCloseDefers(t *testing.T) {
	mapcheck.Baseline(t)
	_, held := guard.Budget()
	r, err := guard.Map(4*ps, &guard.Options{Name: "deferred", Fence: guard.FenceMprotect})
	require.NoError(t, err)
	n := r.Mappings()
	armed(t, 1, 1, inject.Munmap)
	err = r.Close()
	require.Error(t, err)
	assert.True(t, isInjected(err), "%v", err)
	assert.ErrorIs(t, r.Commit(8*ps), guard.ErrClosed, "closed all the same")
	ranges, bytes := guard.DeferredUnmaps()
	assert.Equal(t, 1, ranges)
	assert.Equal(t, uintptr(6*ps), bytes)
	_, now := guard.Budget()
	assert.Equal(t, held+n, now, "the range is still charged")
	assert.Error(t, guard.FlushUnmaps(), "still failing while armed")
	inject.Disarm()
	require.NoError(t, guard.FlushUnmaps())
	ranges, _ = guard.DeferredUnmaps()
	assert.Equal(t, 0, ranges)
	_, now = guard.Budget()
	assert.Equal(t, held, now)
}

// TestInjectedOps runs every region operation with every call liable to
// fail, and checks after each that an error wraps the injected errno,
// that guard's view of each region is the kernel's, and at the end that
// nothing stays mapped and the budget is back where it was.
func TestInjectedOps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("compares with /proc/self/maps")
	}
	before := inject.Counts()
	defer func() {
		after := inject.Counts()
		t.Logf("%d calls, %d failed on purpose", after.Calls-before.Calls, after.Failures-before.Failures)
	}()
	for _, f := range fences(t) {
		for seed := uint64(1); seed <= 40; seed++ {
			t.Run(fmt.Sprintf("fence=%s/seed=%d", fenceName(f), seed), func(t *testing.T) {
				mapcheck.Baseline(t)
				armed(t, seed, 4)
				var regions []*guard.Region
				defer func() {
					inject.Disarm()
					for _, r := range regions {
						_ = r.Close()
					}
				}()
				agree := func(what string, err error) {
					t.Helper()
					if err != nil && !isInjected(err) {
						t.Fatalf("%s: %v does not wrap ENOMEM or EAGAIN", what, err)
					}
					ms, rerr := procmaps.Read(0)
					require.NoError(t, rerr)
					for _, r := range regions {
						if aerr := mapcheck.Agrees(ms, r); aerr != nil {
							t.Fatalf("after %s (%v): %v", what, err, aerr)
						}
					}
				}
				opts := []guard.Options{
					{Name: "plain", Fence: f},
					{Name: "aligned", Fence: f, Align: 1 << 21},
					{Name: "reserve", Fence: f, Reserve: 16 * ps, Populate: true},
					{Name: "huge", Fence: f, HugePages: true, NoGuards: true},
				}
				for _, o := range opts {
					r, err := guard.Map(4*ps, &o)
					if err == nil {
						regions = append(regions, r)
					}
					agree("map "+o.Name, err)
				}
				for _, r := range regions {
					agree("commit", ignoreRange(r.Commit(8*ps)))
					agree("protect", ignoreRange(r.Protect(ps, 2*ps)))
					agree("unprotect", ignoreRange(r.Unprotect(ps, ps)))
					agree("freeze", ignoreRange(r.Freeze(3*ps, ps)))
					agree("thaw", ignoreRange(r.Thaw(3*ps, ps)))
					agree("release", ignoreRange(r.Release(0, ps)))
					agree("punch", ignoreRange(r.Punch(2*ps, ps)))
					if err := r.Populate(0, ps); err != nil && !errors.Is(err, guard.ErrRange) && !errors.Is(err, errors.ErrUnsupported) {
						agree("populate", err)
					}
				}
				// Half retire into a quarantine too small for two of
				// them, so that retiring evicts too; a Retire that cannot
				// fence unmaps at once.
				old := guard.SetQuarantine(int64(30 * ps))
				defer guard.SetQuarantine(old)
				for i, r := range regions {
					var err error
					if i%2 == 0 {
						err = r.Retire("use after close", nil)
					} else {
						err = r.Close()
					}
					if err != nil && !isInjected(err) {
						t.Fatalf("close: %v", err)
					}
				}
				regions = nil
				require.NoError(t, func() error { inject.Disarm(); return guard.FlushQuarantine() }())
				if n, _ := guard.DeferredUnmaps(); n != 0 {
					t.Fatalf("%d deferred unmaps left after FlushQuarantine", n)
				}
			})
		}
	}
}

// ignoreRange turns ErrRange, which an earlier injected failure may
// cause (pages left in another state), into nil.
func ignoreRange(err error) error {
	if errors.Is(err, guard.ErrRange) {
		return nil
	}
	return err
}
