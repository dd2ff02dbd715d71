package guard

import (
	"fmt"

	"github.com/mmarena/mmarena/align"
)

// MoveTo moves the first n usable bytes of r (n rounded up to a page)
// to the start of dst's usable part without copying them: the kernel
// moves their page tables (mremap with MREMAP_FIXED|MREMAP_DONTUNMAP),
// so a move costs a system call and a few nanoseconds a page, whether n
// is 256 KiB or 256 MiB, where a copy costs a page fault and a page of
// memory traffic a page. Afterwards dst's first n bytes hold what r's
// held, and what dst held there is gone; r's first n bytes stay Ready
// and reserved to r, read zero and hold no RAM, so no other mapping can
// take their addresses. Both regions keep their guard pages, where they
// were.
//
// Both regions' [0, n) must be Ready (ErrRange), r and dst must be
// distinct and open (ErrClosed) and neither may map a file. Where the
// system cannot move pages (not Linux, or Linux before 5.7) MoveTo
// returns an error matching errors.ErrUnsupported, changing nothing, and
// the caller copies. The moved range becomes a kernel mapping of its own
// in dst and is cut out of r's: up to four more mappings of the budget
// (ErrBudget). Safe for concurrent use with other methods of either
// region.
func (r *Region) MoveTo(dst *Region, n int) error {
	if r == dst {
		return rangeError("move %d bytes of region %q onto itself", n, r.name)
	}
	// Two regions' locks, always taken in the order of their ids, so
	// that two moves in opposite directions cannot deadlock.
	first, second := r, dst
	if dst.id < r.id {
		first, second = dst, r
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	second.mu.Lock()
	defer second.mu.Unlock()
	if r.closed || dst.closed {
		return ErrClosed
	}
	if r.file || dst.file {
		return fmt.Errorf("guard: move %d bytes from region %q to %q: a file mapping cannot move: %w", n, r.name, dst.name, errNoMove)
	}
	if up, ok := align.Up(uintptr(n), uintptr(align.PageSize())); ok && n > 0 && up <= r.size {
		n = int(up) // a larger n is refused by check, as it is
	}
	so, l, err := r.check("move", 0, n)
	if err != nil {
		return err
	}
	do, _, err := dst.check("move", 0, n)
	if err != nil {
		return err
	}
	if !r.spans.only(so, l, PartUsable) || !dst.spans.only(do, l, PartUsable) {
		return rangeError("move %d bytes from region %q to %q: pages must be Ready", n, r.name, dst.name)
	}
	// Either side may be cut at both ends of the range, as mprotect
	// would cut it; guard counts each cut for good (see spans.vmas).
	rs, ds := addSplits(r.splits, so, so+l), addSplits(dst.splits, do, do+l)
	rd, dd := r.spans.vmas(rs)-r.vmas, dst.spans.vmas(ds)-dst.vmas
	if rd+dd > 0 {
		if err := charge(rd+dd, "move", r.name); err != nil {
			return err
		}
	}
	if err := sysMove(add(r.base, so), add(dst.base, do), l, reason{"move", r.name}); err != nil {
		if rd+dd > 0 {
			_ = charge(-(rd + dd), "", "")
		}
		return fmt.Errorf("guard: move %d bytes from region %q to %q: %w", l, r.name, dst.name, err)
	}
	if rd+dd < 0 {
		_ = charge(rd+dd, "", "")
	}
	r.splits, r.vmas = rs, r.vmas+rd
	dst.splits, dst.vmas = ds, dst.vmas+dd
	return nil
}
