package shmlock

import (
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The lock word: the holder's process ID, and a bit set while a locker
// may be asleep in FUTEX_WAIT (the layout of the kernel's robust futexes).
const (
	waiters = 1 << 31
	pidMask = 1<<30 - 1
)

// Owner-death polling: a waiter sleeps at most this long before it asks
// whether the holder is alive, doubling from firstWait.
const (
	firstWait = 5 * time.Millisecond
	maxWait   = 100 * time.Millisecond
)

// self is this process's ID, as stored in the lock word. It fits in
// pidMask: Linux caps pid_max at 2^22 (PID_MAX_LIMIT).
var self = uint32(unix.Getpid())

// A Mutex is a lock in shared memory; see the package doc. The zero
// Mutex is unlocked and consistent. Its methods are safe for concurrent
// use by goroutines of any process mapping it. A Mutex must not be
// copied; make one with At.
type Mutex struct {
	_     noCopy
	word  atomic.Uint32 // 0, or the holder's PID with maybe the waiters bit
	dirty atomic.Uint32 // 1 from an owner death until MarkConsistent
}

// noCopy lets go vet's copylocks check catch a Mutex copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// Lock takes the lock, sleeping while another goroutine or process holds
// it. It returns nil, or ErrOwnerDead when the previous holder died
// holding it (the caller holds the lock then too). Without the lock, it
// returns an error matching errors.ErrUnsupported on systems without
// futexes, or the errno of a futex call the kernel refused (EFAULT: the
// Mutex is not in mapped memory).
// Uncontended it makes no system call and does not allocate.
func (m *Mutex) Lock() error {
	if !m.word.CompareAndSwap(0, self) {
		if err := m.lockSlow(); err != nil {
			return err
		}
	}
	if m.dirty.Load() != 0 {
		return ErrOwnerDead
	}
	return nil
}

// lockSlow takes a held lock: it marks the word as waited on and sleeps
// until the word changes, the holder's Unlock wakes it, or a timeout
// expires, after which it checks that the holder lives and takes the
// lock over from a dead one.
func (m *Mutex) lockSlow() error {
	waited := false
	wait := firstWait
	for {
		v := m.word.Load()
		if v&pidMask == 0 {
			// Free. Having slept, this locker cannot know whether
			// others still sleep, so it keeps the bit: at worst one
			// FUTEX_WAKE too many.
			nv := self
			if waited {
				nv |= waiters
			}
			if m.word.CompareAndSwap(v, nv) {
				return nil
			}
			continue
		}
		if v&waiters == 0 {
			if !m.word.CompareAndSwap(v, v|waiters) {
				continue
			}
			v |= waiters
		}
		timedOut, err := futexWait(m, v, wait)
		if err != nil {
			return err
		}
		waited = true
		if !timedOut {
			continue
		}
		wait = min(2*wait, maxWait)
		if alive(int(v & pidMask)) {
			continue
		}
		// The holder is dead. Whoever swaps its word out first takes
		// the lock; the others go on waiting for that one.
		if m.word.CompareAndSwap(v, self|waiters) {
			m.dirty.Store(1)
			return nil
		}
	}
}

// Unlock releases the lock and wakes one sleeping locker if there may be
// one. It panics if the Mutex is not locked.
func (m *Mutex) Unlock() {
	old := m.word.Swap(0)
	if old == 0 {
		panic("shmlock: unlock of unlocked mutex")
	}
	if old&waiters != 0 {
		futexWake(m)
	}
}

// Held reports whether this process holds the lock (some goroutine of
// it: a Mutex cannot tell them apart). Callers that need the lock held,
// such as a shared arena's Alloc, check it with one load.
func (m *Mutex) Held() bool { return m.word.Load()&pidMask == self }

// MarkConsistent records that the data the lock guards has been repaired
// after ErrOwnerDead: later Locks return nil again. The caller must hold
// the lock.
func (m *Mutex) MarkConsistent() { m.dirty.Store(0) }

// String describes the lock word: "unlocked", or the holder's PID.
func (m *Mutex) String() string {
	v := m.word.Load()
	s := "unlocked"
	if v&pidMask != 0 {
		s = fmt.Sprintf("held by pid %d", v&pidMask)
		if v&waiters != 0 {
			s += ", waited on"
		}
	}
	if m.dirty.Load() != 0 {
		s += ", inconsistent"
	}
	return s
}
