package align

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PtrSize is the size of a pointer on this platform, the smallest
// alignment posix_memalign accepts.
const PtrSize = unsafe.Sizeof(uintptr(0))

// ErrAlignment is matched by every alignment error of mmarena: those
// CheckAlignment and Refuse return here, and the arenas' and pools'
// refusals, which come from Refuse. An alignment that breaks the rule
// also matches unix.EINVAL; a valid one that an allocator cannot serve
// matches unix.ENOMEM instead, as posix_memalign reports it.
var ErrAlignment error = alignError{why: "invalid alignment"}

// alignError is the one error type of this package. Like syscall.Errno
// answering os.ErrPermission, it answers unix.EINVAL through Is, so callers
// can test against the system's error without this package inventing a
// second vocabulary.
type alignError struct {
	align uintptr
	why   string
	errno unix.Errno // what it also matches: EINVAL, or ENOMEM from Refuse; 0 is EINVAL
}

// Error names the alignment and what is wrong with it.
func (e alignError) Error() string {
	if e.why == "invalid alignment" {
		return "align: invalid alignment"
	}
	return "align: alignment " + utoa(e.align) + " " + e.why
}

// Is reports whether target is ErrAlignment or the error's errno:
// unix.EINVAL, or unix.ENOMEM for a valid alignment Refuse turned down.
func (e alignError) Is(target error) bool {
	if t, ok := target.(alignError); ok {
		return t.why == "invalid alignment"
	}
	if e.errno != 0 {
		return target == e.errno
	}
	return target == unix.EINVAL
}

// Refuse returns the error an allocator gives for an alignment it does
// not serve, most being the largest it can: one that is not a power of
// two (0 included) matches unix.EINVAL, the argument being wrong; a power
// of two above most matches unix.ENOMEM, the alignment being valid and
// the memory aligned that way missing. Both match ErrAlignment. It
// returns nil for a power of two no larger than most. O(1).
func Refuse(alignment, most uintptr) error {
	switch {
	case !IsPowerOfTwo(alignment):
		return alignError{alignment, "is not a power of two", unix.EINVAL}
	case alignment > most:
		return alignError{alignment, "is larger than " + utoa(most) + ", the most this allocator can align to", unix.ENOMEM}
	}
	return nil
}

// CheckAlignment returns nil if alignment is one posix_memalign accepts: a
// power of two that is a multiple of PtrSize (so 0, 1, 3, 12 and, on 64-bit
// systems, 4 are all refused). Otherwise it returns an error that satisfies
// errors.Is(err, unix.EINVAL) and errors.Is(err, ErrAlignment). O(1).
func CheckAlignment(alignment uintptr) error {
	switch {
	case !IsPowerOfTwo(alignment):
		return alignError{alignment, "is not a power of two", unix.EINVAL}
	case alignment%PtrSize != 0:
		return alignError{alignment, "is not a multiple of the pointer size (" + utoa(PtrSize) + ")", unix.EINVAL}
	}
	return nil
}

func utoa(x uintptr) string { return strconv.FormatUint(uint64(x), 10) }
