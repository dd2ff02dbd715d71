package arena

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/internal/errs"
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
	// ErrFrozen is returned by calls that would write to a frozen arena
	// (see Bump.Freeze).
	ErrFrozen = errors.New("arena: arena is frozen (read-only)")
	// ErrAlign reports an alignment an arena refuses. One that is not a
	// power of two also matches unix.EINVAL: the argument is wrong. A
	// power of two larger than the arena can align to (the page size for
	// a Bump or a Shared, 1 GiB for a FreeList) matches unix.ENOMEM
	// instead, as posix_memalign reports it: the alignment is valid, the
	// arena has no memory aligned that way. Both match ErrAlign, so that
	// one test catches every refused alignment.
	ErrAlign = errors.New("arena: invalid alignment")
	// ErrNoArena reports a call on an arena its constructor did not make:
	// the zero Bump, FreeList, Shared or SyncFreeList, which has no state
	// to allocate from, or New, MakeSlice, String or Bytes given a nil
	// Allocator. Such a call changes nothing; methods without an error
	// result do nothing (Reset) or report zero (Stats, Name).
	ErrNoArena = errors.New("arena: no arena")
	// ErrUnsupported reports an option an arena kind does not offer. It
	// also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("arena: option not supported: %w", errors.ErrUnsupported)
)

// errNoArena is the answer of a zero arena of the kind named, such as
// "Bump".
func errNoArena(kind string) error {
	return fmt.Errorf("%w: zero %s, not made by its constructor New%s", ErrNoArena, kind, kind)
}

// errNilAllocator is the answer of New, MakeSlice, String and Bytes to a
// nil Allocator.
var errNilAllocator = fmt.Errorf("%w: nil Allocator", ErrNoArena)

// zeroString is what String returns for a zero arena of the kind named.
func zeroString(kind string) string {
	return "zero " + kind + " arena, not made by its constructor New" + kind
}

func errSize(format string, args ...any) error {
	return errs.New(ErrSize, unix.EINVAL, "arena: "+format, args...)
}

func errTooLarge(format string, args ...any) error {
	return errs.New(ErrSize, unix.ENOMEM, "arena: "+format, args...)
}

// errAlign is a Bump's or a Shared's answer to an alignment that is not
// a power of two (EINVAL) or is larger than the page size (ENOMEM).
func errAlign(a uintptr) error {
	if a != 0 && a&(a-1) == 0 {
		return errs.New(ErrAlign, unix.ENOMEM, "arena: alignment %d is larger than the page size this arena can align to (%d)", a, maxAlign)
	}
	return errs.New(ErrAlign, unix.EINVAL, "arena: alignment %d is not a power of two", a)
}

func errLimit(name string, need, used, limit uintptr) error {
	return errs.New(ErrLimit, unix.ENOMEM, "arena: %q needs %d more bytes, holding %d of its limit of %d", name, need, used, limit)
}

// A PointerError reports a type that cannot live in an arena because it
// holds a Go pointer, and where: Path "T.b[0]", Kind "*byte".
type PointerError struct {
	Type string // the type asked for
	Path string // the first pointer-holding element, from the type's name
	Kind string // that element's type
}

// Error names the type and the first field that holds a Go pointer.
func (e *PointerError) Error() string {
	return fmt.Sprintf("arena: %s holds Go pointers, which arena memory must not: %s: %s", e.Type, e.Path, e.Kind)
}

// Is matches ErrPointers.
func (e *PointerError) Is(target error) bool { return target == ErrPointers }
