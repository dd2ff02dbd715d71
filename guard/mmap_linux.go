package guard

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MAP_NORESERVE keeps reserved address space from being charged against
// the commit limit, so a large reservation costs nothing until used.
const mapFlags = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE

// haveMarkers is true on systems that may have guard markers; the kernel
// version decides at run time.
const haveMarkers = true

func sysFenceInstall(p unsafe.Pointer, n uintptr, why reason) error {
	err := unix.Madvise(bytesAt(p, n), unix.MADV_GUARD_INSTALL)
	record("madvise(MADV_GUARD_INSTALL)", uintptr(p), n, why, err)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return errNoMarkers
		}
		return sysError("madvise(MADV_GUARD_INSTALL)", uintptr(p), n, err)
	}
	return nil
}

func sysFenceRemove(p unsafe.Pointer, n uintptr, why reason) error {
	err := unix.Madvise(bytesAt(p, n), unix.MADV_GUARD_REMOVE)
	record("madvise(MADV_GUARD_REMOVE)", uintptr(p), n, why, err)
	if err != nil {
		return sysError("madvise(MADV_GUARD_REMOVE)", uintptr(p), n, err)
	}
	return nil
}

// sysName labels [p, p+n) so /proc/PID/maps shows [anon:name]. Kernels
// built without CONFIG_ANON_VMA_NAME answer EINVAL; a label is a courtesy,
// so every failure is ignored.
func sysName(p unsafe.Pointer, n uintptr, name string) {
	cname, err := unix.BytePtrFromString(name)
	if err != nil {
		return
	}
	_ = unix.Prctl(unix.PR_SET_VMA, unix.PR_SET_VMA_ANON_NAME, uintptr(p), n, uintptr(unsafe.Pointer(cname)))
	runtime.KeepAlive(cname)
}

// sysMaxMapCount reads vm.max_map_count, or returns the kernel's default
// when it cannot.
func sysMaxMapCount() int {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			return v
		}
	}
	return 65530
}

// sysResident returns how many bytes of [p, p+n) are in RAM. x/sys has no
// mincore wrapper, so this is the raw call; vec is a Go slice passed in
// the form the syscall package documents as safe.
func sysResident(p unsafe.Pointer, n uintptr, pageSize uintptr) (uintptr, error) {
	vec := make([]byte, n/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(p), n, uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return 0, sysError("mincore", uintptr(p), n, errno)
	}
	var in uintptr
	for _, v := range vec {
		in += uintptr(v & 1)
	}
	return in * pageSize, nil
}

// sysHuge advises transparent huge pages for [p, p+n) and reports
// whether the kernel took the advice (EINVAL without THP support).
func sysHuge(p unsafe.Pointer, n uintptr, why reason) bool {
	err := unix.Madvise(bytesAt(p, n), unix.MADV_HUGEPAGE)
	record("madvise(MADV_HUGEPAGE)", uintptr(p), n, why, err)
	return err == nil
}

// sysPopulate faults [p, p+n) in for writing (MADV_POPULATE_WRITE, Linux
// 5.14), reporting false where the kernel does not know the advice.
func sysPopulate(p unsafe.Pointer, n uintptr, why reason) bool {
	err := unix.Madvise(bytesAt(p, n), unix.MADV_POPULATE_WRITE)
	record("madvise(MADV_POPULATE_WRITE)", uintptr(p), n, why, err)
	return err == nil
}
