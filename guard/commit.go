package guard

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/internal/errs"
)

// ErrCommitLimit reports that a Map or Commit would take the Ready bytes
// of the process's regions past the cap set with SetCommitLimit. The
// error that carries it also matches arena.ErrLimit and unix.ENOMEM.
var ErrCommitLimit = errors.New("guard: process-wide memory cap reached")

// commitLimitError is the refusal of the cap: one error that every
// layer's word for it matches.
type commitLimitError struct{ msg string }

func (e *commitLimitError) Error() string { return e.msg }

// Is matches ErrCommitLimit, the arenas' ErrLimit and unix.ENOMEM.
func (e *commitLimitError) Is(target error) bool {
	return target == ErrCommitLimit || target == errs.Limit || target == unix.ENOMEM
}

// commits counts the Ready usable bytes of every live region of the
// process (Map, Commit), and refuses growth past an optional cap. Bytes
// are counted at region granularity: a region's Ready pages count from
// its Map or Commit until its Close or Retire, including pages given
// back with Release, which the kernel may fill again on the next touch,
// unless the allocator that released them says it will not touch them
// (Discount) until it counts them again (Recount). Guards, reserved and
// quarantined pages are not counted: they cost address space, not
// memory.
var commits struct {
	bytes atomic.Int64 // Ready usable bytes of live regions; >= 0
	limit atomic.Int64 // the cap; 0 means none

	mu   sync.Mutex   // serialises calls of hook, so it sees the counts in order
	hook func(int64)  // guarded by mu; nil when none is set
	on   atomic.Bool  // hook != nil, read without mu on every change
	last atomic.Int64 // the count last passed to hook
}

// Committed returns the Ready usable bytes of every live region of the
// process, less those discounted (Region.Discount): what arenas hold.
// Pages released with Region.Release and not discounted still count
// until the region is closed. Safe for concurrent use; O(1).
func Committed() int64 { return commits.bytes.Load() }

// SetCommitLimit caps Committed: a Map or Commit that would take it past
// n bytes fails with an error matching ErrCommitLimit, arena.ErrLimit and
// unix.ENOMEM, and maps nothing. It returns the previous cap. n <= 0
// removes the cap (the default). Lowering the cap below what is held
// unmaps nothing; it refuses growth until regions are closed. Safe for
// concurrent use.
func SetCommitLimit(n int64) int64 {
	if n < 0 {
		n = 0
	}
	return commits.limit.Swap(n)
}

// SetCommitHook makes guard call fn with the new Committed count after
// each change of it, from the goroutine that made the change, at most
// one call at a time, and returns the previous hook. nil removes the
// hook. fn runs while a region's lock may be held: it must not call into
// guard nor block for long. Safe for concurrent use.
func SetCommitHook(fn func(committed int64)) func(int64) {
	commits.mu.Lock()
	defer commits.mu.Unlock()
	old := commits.hook
	commits.hook = fn
	commits.on.Store(fn != nil)
	if fn != nil {
		n := commits.bytes.Load()
		commits.last.Store(n)
		fn(n)
	}
	return old
}

// chargeBytes counts n more Ready bytes for region name, or refuses when
// the cap would be passed; a refusal changes nothing.
func chargeBytes(n uintptr, what, name string) error {
	for {
		cur := commits.bytes.Load()
		lim := commits.limit.Load()
		next := cur + int64(n)
		if lim > 0 && next > lim {
			return &commitLimitError{fmt.Sprintf("guard: %s %q needs %d more bytes; arenas hold %d of the process-wide cap of %d (guard.SetCommitLimit, arena.SetArenaCap)", what, name, n, cur, lim)}
		}
		if commits.bytes.CompareAndSwap(cur, next) {
			notify()
			return nil
		}
	}
}

// unchargeBytes counts n Ready bytes fewer.
func unchargeBytes(n uintptr) {
	if n == 0 {
		return
	}
	commits.bytes.Add(-int64(n))
	notify()
}

// notify calls the hook, if any, with the current count.
func notify() {
	if !commits.on.Load() {
		return
	}
	commits.mu.Lock()
	defer commits.mu.Unlock()
	if commits.hook == nil {
		return
	}
	n := commits.bytes.Load()
	if commits.last.Swap(n) != n {
		commits.hook(n)
	}
}

// Discount stops counting n of the region's Ready bytes in Committed
// (n rounded up to a page, and at most what the region counts): for an
// allocator that gave pages back with Release and will not touch them
// until Recount says it may. Pages touched meanwhile cost memory that
// Committed and the cap no longer see. Safe for concurrent use.
func (r *Region) Discount(n int) {
	if n <= 0 {
		return
	}
	b, _ := alignUp(uintptr(n))
	r.mu.Lock()
	defer r.mu.Unlock()
	b = min(b, r.charged)
	r.charged -= b
	unchargeBytes(b)
}

// Recount counts n bytes of the region again in Committed (n rounded up
// to a page, and at most its Ready bytes), before an allocator touches
// pages it discounted. It fails as Map does past the cap
// (SetCommitLimit), counting nothing, and returns ErrClosed after Close.
// Safe for concurrent use.
func (r *Region) Recount(n int) error {
	if n <= 0 {
		return nil
	}
	b, _ := alignUp(uintptr(n))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	b = min(b, r.committed-r.charged)
	if err := chargeBytes(b, "recount in region", r.name); err != nil {
		return err
	}
	r.charged += b
	return nil
}

// alignUp rounds n up to a page.
func alignUp(n uintptr) (uintptr, bool) { return align.Up(n, uintptr(align.PageSize())) }
