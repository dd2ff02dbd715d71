// Package shmlock is a mutex that lives in memory shared between
// processes (a guard.MapShared region) and survives the death of its
// holder: the next locker is told, gets the lock, and can repair what
// the dead process left half done before marking the data consistent.
// It is the lock of the memfd-shared arenas; arena will export it with
// the shared arena kind.
//
// A Mutex is 8 bytes of shared memory, zero when unlocked, so fresh
// (zeroed) shared memory holds a valid one. It is a futex: an
// uncontended Lock and Unlock are one compare-and-swap and one swap,
// with no system call; a contended Lock sleeps in FUTEX_WAIT, without
// FUTEX_PRIVATE_FLAG so that the kernel keys the wait on the shared page
// and an Unlock in another process wakes it. The lock word holds the
// holder's process ID and a bit that says someone sleeps, so Unlock
// makes a FUTEX_WAKE only when it must, and no wake-up is lost: the
// kernel checks the word and sleeps in one step.
//
// Owner death is found by waiting with a timeout (5 ms, doubling to
// 100 ms) and asking, when it expires, whether the process in the lock
// word still exists (pidfd_open, and poll on it for an exit not yet
// reaped; kill(pid, 0) before Linux 5.3). The kernel's robust futex list
// would catch death sooner, but it is per thread and the Go runtime
// moves goroutines between threads: a lock would pin its goroutine to a
// thread (runtime.LockOSThread) from Lock to Unlock, and the list's head
// belongs to the C library in a cgo program. The limits of a process ID:
// all processes sharing a Mutex must be in one PID namespace; if the
// holder dies and its ID is reused before a waiter looks (it takes
// pid_max process creations), the waiter believes the holder alive until
// the new process exits; a process that dies holding the lock is found
// within about 100 ms. A Mutex excludes goroutines of one process from
// each other too, but cannot tell them apart: Unlock by another
// goroutine than the locker is not detected, as with sync.Mutex.
//
// Lifecycle: (1) At views 8 aligned bytes of shared memory as a Mutex;
// (2) Lock, and on ErrOwnerDead repair the data and MarkConsistent;
// (3) Unlock. Linux only: elsewhere a Lock that has to wait returns
// errors.ErrUnsupported.
package shmlock
