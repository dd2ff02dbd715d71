package guard

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A munmap can fail: with ENOMEM when cutting a mapping would pass
// vm.max_map_count, or when a test injects a failure. guard never leaves
// such a range behind and never leaves a region half closed: Close
// always closes, and what the kernel refused to unmap waits here, still
// charged to the mapping budget, until a later attempt succeeds. Every
// Map and every Close tries again first, and FlushUnmaps does so on
// demand; tests that check nothing is left mapped call it.
var deferred struct {
	mu      sync.Mutex
	pending []unmapLater // guarded by mu
	n       atomic.Int32 // len(pending), read without mu so an empty list costs one load
}

// unmapLater is a range whose munmap failed.
type unmapLater struct {
	p    unsafe.Pointer // start; page-aligned, mapped by guard
	n    uintptr        // bytes; page multiple, > 0
	vmas int            // kernel mappings it holds, charged to the budget
	name string         // the region it belonged to, for the trace
}

// unmapOrDefer unmaps [p, p+n), which holds vmas kernel mappings not
// charged to the budget. If the kernel refuses, the range is kept for a
// later attempt and charged to the budget until then; the error is
// returned either way.
func unmapOrDefer(p unsafe.Pointer, n uintptr, vmas int, why reason) error {
	err := sysUnmap(p, n, why)
	if err != nil {
		forceCharge(vmas)
		deferred.mu.Lock()
		deferred.pending = append(deferred.pending, unmapLater{p, n, vmas, why.name})
		deferred.n.Store(int32(len(deferred.pending)))
		deferred.mu.Unlock()
	}
	return err
}

// retryUnmaps tries every deferred munmap again and returns the first
// error; the ranges it could not unmap stay deferred.
func retryUnmaps() error {
	if deferred.n.Load() == 0 {
		return nil
	}
	deferred.mu.Lock()
	defer deferred.mu.Unlock()
	var first error
	left := deferred.pending[:0]
	for _, u := range deferred.pending {
		if err := sysUnmap(u.p, u.n, reason{"retry unmap", u.name}); err != nil {
			left = append(left, u)
			if first == nil {
				first = fmt.Errorf("guard: unmap %d bytes of region %q, deferred: %w", u.n, u.name, err)
			}
			continue
		}
		_ = charge(-u.vmas, "", "")
	}
	clear(deferred.pending[len(left):])
	deferred.pending = left
	deferred.n.Store(int32(len(left)))
	return first
}

// FlushUnmaps retries every munmap the kernel refused earlier (see
// Region.Close) and returns an error wrapping the errno of the first that
// fails again, or nil once nothing is left. Safe for concurrent use.
func FlushUnmaps() error {
	return retryUnmaps()
}

// DeferredUnmaps returns how many ranges wait for a retried munmap, and
// their bytes. Safe for concurrent use.
func DeferredUnmaps() (ranges int, bytes uintptr) {
	deferred.mu.Lock()
	defer deferred.mu.Unlock()
	for _, u := range deferred.pending {
		bytes += u.n
	}
	return len(deferred.pending), bytes
}

// errDeferred marks a Close error after which the region is closed all
// the same; see Region.Close.
var errDeferred = errors.New("guard: the range stays mapped until a retried munmap succeeds (FlushUnmaps)")
