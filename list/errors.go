package list

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/internal/errs"
)

// Sentinel errors; match them with errors.Is. A closed arena is reported
// with the arena's own arena.ErrClosed, wrapped.
var (
	// ErrFull reports a push past the capacity given to New, as the
	// lecture's list_alloc1 fails once list_init's nodes are used up. It
	// also matches unix.ENOMEM.
	ErrFull = errors.New("list: full")
	// ErrNotInList reports an element that is not one of this list's
	// nodes: nil, of another list, or not a node at all.
	ErrNotInList = errors.New("list: element is not in this list")
	// ErrRemoved reports an element of this list that was removed and
	// not handed out again: removing it twice, or moving it after Remove.
	ErrRemoved = errors.New("list: element was removed")
	// ErrNoArena reports a push on a List that New did not make (the
	// zero List has nowhere to put nodes), or New given a nil arena.
	ErrNoArena = errors.New("list: no arena")
	// ErrCapacity reports a negative capacity. It also matches
	// unix.EINVAL.
	ErrCapacity = errors.New("list: invalid capacity")
)

func errFull(n int) error {
	return errs.New(ErrFull, unix.ENOMEM, "list: full: all %d elements of its capacity are in use", n)
}

func errCapacity(n int) error {
	return errs.New(ErrCapacity, unix.EINVAL, "list: capacity %d is negative", n)
}
