package shmlock

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrOwnerDead is returned by Lock when the process that held the lock
// died holding it, or when a locker since then was told so and unlocked
// without MarkConsistent. The caller holds the lock: it should check and
// repair the data the lock guards, call MarkConsistent, and Unlock. It
// matches unix.EOWNERDEAD too.
var ErrOwnerDead = &ownerDead{}

type ownerDead struct{}

func (*ownerDead) Error() string {
	return "shmlock: the previous holder died holding the lock; the data it guards may be inconsistent"
}

// Is matches EOWNERDEAD, the errno pthread robust mutexes return.
func (*ownerDead) Is(t error) bool { return t == unix.EOWNERDEAD }

// errTooShort and errAlign report memory At cannot use.
var (
	errTooShort = errors.New("shmlock: a Mutex needs 8 bytes")
	errAlign    = errors.New("shmlock: a Mutex needs 4-byte alignment")
)
