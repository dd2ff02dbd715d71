package guard

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/internal/inject"
)

// The system-call contract. Every function here takes an address and a
// length that are page-aligned, with n > 0, lying inside one reservation
// that guard made; callers check that, these shims do not. Each returns
// the raw errno (wrapped by sysError) and changes nothing else, and each
// makes one call to record (trace.go) with the reason it is given, which
// feeds both the trace (SetTrace) and the tests' ledger of mapped ranges
// (internal/maptrace); no shim writes to either directly. The
// OS-specific halves are in mmap_linux.go and mmap_other.go.
//
// Each shim asks internal/inject first: a call a test told to fail
// returns that errno without reaching the kernel, and is traced as a
// failure like any other (one atomic load when no test armed it).
//
//	sysMap, sysUnmap        mmap and munmap
//	sysProtect, sysDiscard  mprotect and madvise(MADV_DONTNEED)
//
//	mapFlags                flags for a private anonymous mapping
//	sysFenceInstall/Remove  guard markers; errNoMarkers where absent
//	sysName                 label a mapping; silent where unsupported
//	sysMaxMapCount          the kernel's limit on mappings per process
//	sysResident             bytes of a range in RAM (mincore)
//	sysHuge                 advise transparent huge pages; reports success
//	sysPopulate             fault a range in; reports success
//	sysMove                 move pages between two ranges (mremap); errNoMove
//	                        where absent (mremap.go, mremap_none.go)

// sysMap maps n bytes of private anonymous memory at an address of the
// kernel's choosing, with protection prot.
func sysMap(n uintptr, prot int, why reason) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	var err error
	if e := inject.Fail(inject.Mmap); e != 0 {
		err = e
	} else {
		p, err = unix.MmapPtr(-1, 0, nil, n, prot, mapFlags)
	}
	record("mmap", maps, uintptr(p), n, why, err)
	if err != nil {
		return nil, sysError("mmap", 0, n, err)
	}
	return p, nil
}

// sysUnmap unmaps [p, p+n). Unmapping the middle of a mapping splits it.
func sysUnmap(p unsafe.Pointer, n uintptr, why reason) error {
	var err error
	if e := inject.Fail(inject.Munmap); e != 0 {
		err = e
	} else {
		err = unix.MunmapPtr(p, n)
	}
	record("munmap", unmaps, uintptr(p), n, why, err)
	if err != nil {
		return sysError("munmap", uintptr(p), n, err)
	}
	return nil
}

// sysProtect sets the protection of [p, p+n).
func sysProtect(p unsafe.Pointer, n uintptr, prot int, why reason) error {
	var err error
	if e := inject.Fail(inject.Mprotect); e != 0 {
		err = e
	} else {
		err = unix.Mprotect(bytesAt(p, n), prot)
	}
	record(protName[prot], keeps, uintptr(p), n, why, err)
	if err != nil {
		return sysError("mprotect", uintptr(p), n, err)
	}
	return nil
}

// protName names an mprotect by the protection it sets, for the trace.
var protName = map[int]string{
	unix.PROT_NONE:                   "mprotect(PROT_NONE)",
	unix.PROT_READ:                   "mprotect(PROT_READ)",
	unix.PROT_READ | unix.PROT_WRITE: "mprotect(PROT_READ|PROT_WRITE)",
}

// sysDiscard drops the contents of [p, p+n): the pages stay mapped, cost
// no RAM until touched again, and read back as zero (MADV_DONTNEED; not
// MADV_FREE, whose pages may keep their old bytes).
func sysDiscard(p unsafe.Pointer, n uintptr, why reason) error {
	err := madvise(p, n, unix.MADV_DONTNEED)
	record("madvise(MADV_DONTNEED)", keeps, uintptr(p), n, why, err)
	if err != nil {
		return sysError("madvise", uintptr(p), n, err)
	}
	return nil
}

// madvise is unix.Madvise behind the injection switch.
func madvise(p unsafe.Pointer, n uintptr, advice int) error {
	if e := inject.Fail(inject.Madvise); e != 0 {
		return e
	}
	return unix.Madvise(bytesAt(p, n), advice)
}
