package arena

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors; match them with errors.Is. Where the system has a word
// for the condition, the error matches that errno too.
var (
	// ErrClosed is returned by every call on a closed arena.
	ErrClosed = errors.New("arena: use after Close")
	// ErrLimit reports that an allocation would take the arena past
	// Options.Limit. It also matches unix.ENOMEM.
	ErrLimit = errors.New("arena: limit reached")
	// ErrPointers reports a type that holds Go pointers; the error is a
	// *PointerError naming the field.
	ErrPointers = errors.New("arena: type holds Go pointers")
	// ErrSize reports a size, length or capacity that is negative,
	// inconsistent or overflows. It also matches unix.EINVAL, or
	// unix.ENOMEM when the size is merely too large.
	ErrSize = errors.New("arena: invalid size")
	// ErrAlign reports an alignment that is not a power of two or exceeds
	// the page size. It also matches unix.EINVAL.
	ErrAlign = errors.New("arena: invalid alignment")
)

// argError is a refused call: a message, the sentinel it matches and the
// errno it matches.
type argError struct {
	msg      string
	sentinel error
	errno    unix.Errno
}

func (e *argError) Error() string { return e.msg }

// Is matches the sentinel and the errno.
func (e *argError) Is(target error) bool {
	return target == e.sentinel || (e.errno != 0 && target == e.errno)
}

func errSize(format string, args ...any) error {
	return &argError{"arena: " + fmt.Sprintf(format, args...), ErrSize, unix.EINVAL}
}

func errTooLarge(format string, args ...any) error {
	return &argError{"arena: " + fmt.Sprintf(format, args...), ErrSize, unix.ENOMEM}
}

func errAlign(a uintptr) error {
	return &argError{fmt.Sprintf("arena: alignment %d is not a power of two between 1 and the page size", a), ErrAlign, unix.EINVAL}
}

func errLimit(name string, need, used, limit uintptr) error {
	return &argError{fmt.Sprintf("arena: %q needs %d more bytes, holding %d of its limit of %d", name, need, used, limit), ErrLimit, unix.ENOMEM}
}

// A PointerError reports a type that cannot live in an arena because it
// holds a Go pointer, and where: Path "T.b[0]", Kind "*byte".
type PointerError struct {
	Type string // the type asked for
	Path string // the first pointer-holding element, from the type's name
	Kind string // that element's type
}

func (e *PointerError) Error() string {
	return fmt.Sprintf("arena: %s holds Go pointers, which arena memory must not: %s: %s", e.Type, e.Path, e.Kind)
}

// Is matches ErrPointers.
func (e *PointerError) Is(target error) bool { return target == ErrPointers }
