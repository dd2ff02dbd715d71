package arena

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/internal/errs"
)

// Sentinel errors; match them with errors.Is. Where the system has a word
// for the condition, the error matches that errno too.
var (
	// ErrClosed is returned by every call on a closed arena.
	ErrClosed = errors.New("arena: use after Close")
	// ErrLimit reports that an allocation would take the arena past
	// Options.Limit, or the arenas of the process past the cap set with
	// SetArenaCap. It also matches unix.ENOMEM.
	ErrLimit = errs.Limit
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
	// ErrNoArena reports a call on an arena its constructor did not make:
	// the zero Bump, FreeList, Shared or SyncFreeList, which has no state
	// to allocate from, or New, MakeSlice, String or Bytes given a nil
	// allocator. Such a call changes nothing; methods without an error
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
// nil allocator.
var errNilAllocator = fmt.Errorf("%w: nil allocator", ErrNoArena)

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
// a power of two (EINVAL) or is larger than the page size (ENOMEM). Both
// match align.ErrAlignment, the one alignment sentinel of mmarena.
func errAlign(a uintptr) error {
	if a != 0 && a&(a-1) == 0 {
		return errs.New(align.ErrAlignment, unix.ENOMEM, "arena: alignment %d is larger than the page size this arena can align to (%d)", a, maxAlign)
	}
	return errs.New(align.ErrAlignment, unix.EINVAL, "arena: alignment %d is not a power of two", a)
}

func errLimit(name string, need, used, limit uintptr) error {
	return errs.New(ErrLimit, unix.ENOMEM, "arena: %q needs %d more bytes, holding %d of its limit of %d", name, need, used, limit)
}

// A PointerError reports a type that cannot live in an arena because it
// holds a Go pointer, and where: Path "T.b[0]", Elem "*byte". Once made
// it is a value, safe to read from any goroutine.
type PointerError struct {
	Type string // the type asked for
	Path string // the first pointer-holding element, from the type's name
	Elem string // that element's type
}

// Error names the type and the first field that holds a Go pointer.
func (e *PointerError) Error() string {
	return fmt.Sprintf("arena: %s holds Go pointers, which arena memory must not: %s: %s", e.Type, e.Path, e.Elem)
}

// Is matches ErrPointers.
func (e *PointerError) Is(target error) bool { return target == ErrPointers }

// Errors of the FreeList arena; each Free or Realloc that returns one has
// changed nothing. A refused alignment is not among these sentinels: it
// matches align.ErrAlignment, and unix.EINVAL or unix.ENOMEM.
var (
	// ErrDoubleFree reports a block freed when it is not allocated.
	ErrDoubleFree = errors.New("arena: double free")
	// ErrInvalidFree reports a pointer into the arena's memory that is
	// not the start of a block: an interior or misaligned pointer.
	ErrInvalidFree = errors.New("arena: invalid free")
	// ErrNotOwned reports a pointer the arena never handed out: the Go
	// heap, a stack, another arena, another mapping.
	ErrNotOwned = errors.New("arena: pointer not owned by this arena")
	// ErrWriteAfterFree reports, with Options.CheckFreed, a block found
	// written after it was freed, when it was next to be handed out.
	ErrWriteAfterFree = errors.New("arena: write after free")
)
