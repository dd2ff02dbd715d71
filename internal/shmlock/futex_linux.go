package shmlock

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations without FUTEX_PRIVATE_FLAG: the kernel keys them on
// the page, so a waiter and a waker in different processes meet.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWait sleeps while m's lock word is v, for at most d. It reports
// whether d expired; a wake-up, a changed word (EAGAIN) and a signal
// (EINTR) all return false and no error, and the caller looks again.
func futexWait(m *Mutex, v uint32, d time.Duration) (bool, error) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, wordAddr(m), futexWaitOp, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return false, nil
	case unix.ETIMEDOUT:
		return true, nil
	}
	return false, os.NewSyscallError("futex(FUTEX_WAIT)", e)
}

// futexWake wakes one locker sleeping on m's lock word.
func futexWake(m *Mutex) {
	unix.Syscall6(unix.SYS_FUTEX, wordAddr(m), futexWakeOp, 1, 0, 0, 0)
}

// alive reports whether process pid exists and has not exited. A pidfd
// sees an exited process that its parent has not reaped yet (a zombie)
// as readable; kill(pid, 0) would call it alive. Before Linux 5.3
// (ENOSYS) kill is all there is. When in doubt (an error other than
// ESRCH), the holder is taken to be alive: waiting longer is safe, taking
// a live holder's lock is not.
func alive(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	switch err {
	case nil:
	case unix.ESRCH:
		return false
	case unix.ENOSYS:
		return unix.Kill(pid, 0) != unix.ESRCH
	default:
		return true
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n == 0
}
