//go:build unix && !linux

package guard

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

const mapFlags = unix.MAP_PRIVATE | unix.MAP_ANON

// haveMarkers is false: guard markers are a Linux feature.
const haveMarkers = false

func sysFenceInstall(p unsafe.Pointer, n uintptr, why reason) error { return errNoMarkers }

func sysFenceRemove(p unsafe.Pointer, n uintptr, why reason) error { return errNoMarkers }

// sysName does nothing: these systems have no way to label a mapping.
func sysName(p unsafe.Pointer, n uintptr, name string) {}

// sysMaxMapCount returns a limit in the spirit of Linux's default; these
// kernels bound mappings by other means (FreeBSD by memory, Darwin by the
// task's address-space limits).
func sysMaxMapCount() int { return 65530 }

// sysResident is not implemented here: x/sys has no mincore wrapper and
// these systems discourage raw system calls.
func sysResident(p unsafe.Pointer, n uintptr, pageSize uintptr) (uintptr, error) {
	return 0, fmt.Errorf("mincore: %w", errors.ErrUnsupported)
}

func sysHuge(p unsafe.Pointer, n uintptr, why reason) bool { return false }

func sysPopulate(p unsafe.Pointer, n uintptr, why reason) error { return errors.ErrUnsupported }

// sysBackable sets no bound: these systems are not asked how much RAM
// and swap they have.
func sysBackable() uintptr { return ^uintptr(0) }
