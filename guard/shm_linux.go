package guard

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/internal/errs"
	"github.com/mmarena/mmarena/internal/inject"
)

// The memfd system calls of shared regions (shm.go): memfd_create,
// ftruncate, fstat, fcntl and mmap(MAP_SHARED|MAP_FIXED). Sizes and
// offsets are page multiples; callers check.

// sysMemfd makes a memfd of n bytes, close-on-exec and sealed against
// shrinking, named "mmarena:name" (/proc/PID/maps shows
// /memfd:mmarena:name).
func sysMemfd(name string, n uintptr) (shmFile, error) {
	fd, err := unix.MemfdCreate("mmarena:"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return shmFile{}, os.NewSyscallError("memfd_create", err)
	}
	fail := func(call string, err error) (shmFile, error) {
		unix.Close(fd)
		return shmFile{}, os.NewSyscallError(call, err)
	}
	if err := unix.Ftruncate(fd, int64(n)); err != nil {
		return fail("ftruncate", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return fail("fcntl(F_ADD_SEALS)", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail("fstat", err)
	}
	return shmFile{fd: fd, key: shmKey{uint64(st.Dev), st.Ino}}, nil
}

// sysAttach checks that fd is a memfd sealed against shrinking and
// returns a close-on-exec duplicate of it and the file's size.
func sysAttach(fd int, name string) (shmFile, int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return shmFile{}, 0, fmt.Errorf("guard: attach %q to fd %d: %w", name, fd, os.NewSyscallError("fstat", err))
	}
	link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if st.Mode&unix.S_IFMT != unix.S_IFREG || !strings.HasPrefix(link, "/memfd:") {
		return shmFile{}, 0, errs.New(ErrNotShared, unix.EINVAL, "guard: attach %q to fd %d: %s is not a memfd", name, fd, strconv.Quote(link))
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		return shmFile{}, 0, errs.New(ErrNotShared, unix.EINVAL, "guard: attach %q to fd %d: memfd %s is not sealed against shrinking (not made by guard.MapShared)", name, fd, strconv.Quote(link))
	}
	dup, err := sysDupFd(fd)
	if err != nil {
		return shmFile{}, 0, fmt.Errorf("guard: attach %q to fd %d: %w", name, fd, err)
	}
	return shmFile{fd: dup, key: shmKey{uint64(st.Dev), st.Ino}}, st.Size, nil
}

// sysMapShared maps n bytes of file fd from offset off over [p, p+n),
// which guard holds (MAP_FIXED replaces the reservation there).
func sysMapShared(fd int, p unsafe.Pointer, off, n uintptr, why reason) error {
	return sysMapFile(fd, p, off, n, unix.PROT_READ|unix.PROT_WRITE, why)
}

// sysMapFile is sysMapShared with the protection given: PROT_READ for a
// file opened read-only (MapFileShared).
func sysMapFile(fd int, p unsafe.Pointer, off, n uintptr, prot int, why reason) error {
	var q unsafe.Pointer
	var err error
	if e := inject.Fail(inject.Mmap); e != 0 {
		err = e
	} else {
		q, err = unix.MmapPtr(fd, int64(off), p, n, prot, unix.MAP_SHARED|unix.MAP_FIXED)
	}
	record("mmap(MAP_SHARED)", keeps, uintptr(q), n, why, err)
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EACCES) {
		// The file's filesystem, or its mode, refuses: expected.
		return fmt.Errorf("mmap %d bytes: %w", n, os.NewSyscallError("mmap", err))
	}
	if err != nil {
		return sysError("mmap", uintptr(p), n, err)
	}
	return nil
}

// sysGrowShared makes the file at least off+n bytes long and maps
// [off, off+n) of it over [p, p+n). The file never shrinks: it is sealed,
// so a ftruncate that would shrink it (another process grew it further
// since the fstat) fails with EPERM and is not needed.
func sysGrowShared(fd int, p unsafe.Pointer, off, n uintptr, why reason) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if uint64(st.Size) < uint64(off+n) {
		if err := unix.Ftruncate(fd, int64(off+n)); err != nil && !errors.Is(err, unix.EPERM) {
			return os.NewSyscallError("ftruncate", err)
		}
	}
	return sysMapShared(fd, p, off, n, why)
}

// sysCloseFd closes a file guard owns; an error (EINTR, EIO) leaves
// nothing to retry on Linux, where the descriptor is gone either way.
func sysCloseFd(fd int) { _ = unix.Close(fd) }

// sysDupFd returns a close-on-exec duplicate of fd.
func sysDupFd(fd int) (int, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	return d, nil
}

// sysSync writes the dirty pages of [p, p+n), a shared file mapping, to
// the file and waits for the device (msync MS_SYNC).
func sysSync(p unsafe.Pointer, n uintptr, why reason) error {
	var err error
	if _, _, e := unix.Syscall(unix.SYS_MSYNC, uintptr(p), n, unix.MS_SYNC); e != 0 {
		err = e
	}
	record("msync(MS_SYNC)", keeps, uintptr(p), n, why, err)
	if err != nil {
		return sysError("msync", uintptr(p), n, err)
	}
	return nil
}

// sysFileSize returns the size of the open file fd (fstat).
func sysFileSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	return st.Size, nil
}
