package align

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PtrSize is the size of a pointer on this platform, the smallest
// alignment posix_memalign accepts.
const PtrSize = unsafe.Sizeof(uintptr(0))

// ErrAlignment is matched by every alignment error CheckAlignment returns,
// as is unix.EINVAL: both errors.Is(err, align.ErrAlignment) and
// errors.Is(err, unix.EINVAL) hold.
var ErrAlignment error = alignError{why: "invalid alignment"}

// alignError is the one error type of this package. Like syscall.Errno
// answering os.ErrPermission, it answers unix.EINVAL through Is, so callers
// can test against the system's error without this package inventing a
// second vocabulary.
type alignError struct {
	align uintptr
	why   string
}

// Error names the alignment and what is wrong with it.
func (e alignError) Error() string {
	if e.why == "invalid alignment" {
		return "align: invalid alignment"
	}
	return "align: alignment " + utoa(e.align) + " " + e.why
}

// Is reports whether target is unix.EINVAL or ErrAlignment.
func (e alignError) Is(target error) bool {
	if t, ok := target.(alignError); ok {
		return t.why == "invalid alignment"
	}
	return target == unix.EINVAL
}

// CheckAlignment returns nil if alignment is one posix_memalign accepts: a
// power of two that is a multiple of PtrSize (so 0, 1, 3, 12 and, on 64-bit
// systems, 4 are all refused). Otherwise it returns an error that satisfies
// errors.Is(err, unix.EINVAL) and errors.Is(err, ErrAlignment). O(1).
func CheckAlignment(alignment uintptr) error {
	switch {
	case !IsPowerOfTwo(alignment):
		return alignError{alignment, "is not a power of two"}
	case alignment%PtrSize != 0:
		return alignError{alignment, "is not a multiple of the pointer size (" + utoa(PtrSize) + ")"}
	}
	return nil
}

func utoa(x uintptr) string { return strconv.FormatUint(uint64(x), 10) }
