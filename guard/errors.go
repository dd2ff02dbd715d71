package guard

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/internal/errs"
)

// Sentinel errors. Each error the package returns matches one of these
// with errors.Is and, where the system has a word for it, an errno too:
// bad sizes and ranges are unix.EINVAL, exhausted limits unix.ENOMEM.
var (
	// ErrClosed is returned by every method of a closed Region.
	ErrClosed = errors.New("guard: region is closed")
	// ErrSize reports a size that is zero, negative or larger than the
	// address space.
	ErrSize = errors.New("guard: invalid size")
	// ErrRange reports an offset range that is not page-aligned, lies
	// outside the usable part, or covers pages in the wrong state.
	ErrRange = errors.New("guard: invalid range")
	// ErrBudget reports that a call would take guard past its budget of
	// kernel mappings (see SetBudget). It also matches unix.ENOMEM.
	ErrBudget = errors.New("guard: mapping budget exhausted")
)

func sizeError(format string, args ...any) error {
	return errs.New(ErrSize, unix.EINVAL, "guard: "+format, args...)
}

func tooLarge(format string, args ...any) error {
	return errs.New(ErrSize, unix.ENOMEM, "guard: "+format, args...)
}

func rangeError(format string, args ...any) error {
	return errs.New(ErrRange, unix.EINVAL, "guard: "+format, args...)
}

// alignError reports an alignment that is not a power of two. It wraps
// align.ErrAlignment, the library's one alignment sentinel, which also
// matches unix.EINVAL.
func alignError(a int) error {
	return fmt.Errorf("guard: alignment %d is not a power of two: %w", a, align.ErrAlignment)
}

// sysError wraps the errno of a failed system call; the caller adds the
// "guard: " prefix and what it was doing. ENOMEM is expected
// (the kernel is out of memory or mappings) and gets a hint, EAGAIN is
// expected too (locked memory, or a transient shortage); any other
// errno means mmarena passed the kernel something wrong, and says so.
func sysError(call string, addr, n uintptr, err error) error {
	se := os.NewSyscallError(call, err)
	switch {
	case errors.Is(err, unix.ENOMEM) && call != "mmap":
		return fmt.Errorf("%s %#x+%d: %w (the process may be at vm.max_map_count kernel mappings)", call, addr, n, se)
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%s %d bytes: %w", call, n, se)
	case errors.Is(err, unix.EAGAIN):
		return fmt.Errorf("%s %#x+%d: %w (temporary: the call may be retried)", call, addr, n, se)
	}
	return fmt.Errorf("%s %#x+%d: %w (unexpected: a bug in mmarena)", call, addr, n, se)
}

func itoa(x int64) string { return strconv.FormatInt(x, 10) }

// errNoMarkers reports a kernel without MADV_GUARD_INSTALL (before Linux
// 6.13, or not Linux). It matches errors.ErrUnsupported and unix.EINVAL.
var errNoMarkers = errs.New(errors.ErrUnsupported, unix.EINVAL, "guard: this kernel has no guard markers (MADV_GUARD_INSTALL needs Linux 6.13)")

// errNoMove reports a system without a page-table move (mremap with
// MREMAP_DONTUNMAP: Linux 5.7 and later). It matches
// errors.ErrUnsupported and unix.EINVAL; MoveTo's callers copy instead.
var errNoMove = errs.New(errors.ErrUnsupported, unix.EINVAL, "guard: this system cannot move pages between mappings (mremap with MREMAP_DONTUNMAP needs Linux 5.7)")
