//go:build unix && !linux

package guard

import (
	"errors"
	"fmt"
	"unsafe"
)

// Shared regions need memfd_create, which these systems lack (FreeBSD's
// memfd and Darwin's shm_open would do, and are not built yet): every
// call reports errors.ErrUnsupported.

func sysMemfd(name string, n uintptr) (shmFile, error) {
	return shmFile{}, fmt.Errorf("memfd_create: %w", errors.ErrUnsupported)
}

func sysAttach(fd int, name string) (shmFile, int64, error) {
	return shmFile{}, 0, fmt.Errorf("guard: attach %q: memfd: %w", name, errors.ErrUnsupported)
}

func sysMapShared(fd int, p unsafe.Pointer, off, n uintptr, why reason) error {
	return errors.ErrUnsupported
}

func sysGrowShared(fd int, p unsafe.Pointer, off, n uintptr, why reason) error {
	return errors.ErrUnsupported
}

func sysCloseFd(fd int) {}

func sysDupFd(fd int) (int, error) { return -1, errors.ErrUnsupported }

func sysMapFile(fd int, p unsafe.Pointer, off, n uintptr, prot int, why reason) error {
	return errors.ErrUnsupported
}

func sysSync(p unsafe.Pointer, n uintptr, why reason) error { return errors.ErrUnsupported }

func sysFileSize(fd int) (int64, error) { return 0, errors.ErrUnsupported }
