//go:build linux

package guard

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/internal/inject"
)

// sysMove moves the pages of [src, src+n) to [dst, dst+n) without
// copying them: mremap(MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP)
// moves the page tables, replacing whatever was mapped at dst, and leaves
// [src, src+n) mapped, empty: it reads zero and holds no RAM. Both ranges
// are page-aligned, do not overlap, and lie in private anonymous mappings
// guard made. It returns errors.ErrUnsupported where the kernel does not
// know MREMAP_DONTUNMAP (EINVAL before Linux 5.7), else the errno.
func sysMove(src, dst unsafe.Pointer, n uintptr, why reason) error {
	var err error
	if e := inject.Fail(inject.Mmap); e != 0 {
		err = e
	} else {
		_, err = unix.MremapPtr(src, n, dst, n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP)
	}
	// The ledger of mapped ranges does not change: both ranges were
	// mapped before the call and stay mapped after it.
	record("mremap", keeps, uintptr(dst), n, why, err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return errNoMove
	}
	return sysError("mremap", uintptr(src), n, err)
}
