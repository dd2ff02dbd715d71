// Package errs is the one error type mmarena's packages return for a
// refused argument or an exhausted limit: a message that starts with the
// package's name, the package's sentinel it matches, and the errno it
// matches, so that callers can test either errors.Is(err, arena.ErrSize)
// or errors.Is(err, unix.EINVAL).
package errs

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// An Error is a refused call.
type Error struct {
	Msg      string     // the whole message, "pkg: ..."
	Sentinel error      // the package's sentinel it matches
	Errno    unix.Errno // the system's word for it; 0 for none
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Is matches the sentinel and the errno.
func (e *Error) Is(target error) bool {
	return target == e.Sentinel || (e.Errno != 0 && target == e.Errno)
}

// New returns an *Error with a formatted message.
func New(sentinel error, errno unix.Errno, format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...), Sentinel: sentinel, Errno: errno}
}

// Limit is arena.ErrLimit, declared here so that guard's process-wide
// cap (guard.SetCommitLimit) can answer to it without importing arena.
var Limit = errors.New("arena: limit reached")
