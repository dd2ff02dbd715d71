package guard

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
	err := madvise(p, n, unix.MADV_GUARD_INSTALL)
	record("madvise(MADV_GUARD_INSTALL)", keeps, uintptr(p), n, why, err)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return errNoMarkers
		}
		return sysError("madvise(MADV_GUARD_INSTALL)", uintptr(p), n, err)
	}
	return nil
}

func sysFenceRemove(p unsafe.Pointer, n uintptr, why reason) error {
	err := madvise(p, n, unix.MADV_GUARD_REMOVE)
	record("madvise(MADV_GUARD_REMOVE)", keeps, uintptr(p), n, why, err)
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
// the form the syscall package documents as safe. It asks for at most
// residentBatch pages at a time, so that the vector stays small however
// large the range (a 64 TiB reservation would need a 16 GiB one).
func sysResident(p unsafe.Pointer, n uintptr, pageSize uintptr) (uintptr, error) {
	const residentBatch = 4096
	vec := make([]byte, min(n/pageSize, residentBatch))
	var in uintptr
	for done := uintptr(0); done < n; {
		m := min(n-done, residentBatch*pageSize)
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(p)+done, m, uintptr(unsafe.Pointer(&vec[0])))
		if errno != 0 {
			return 0, sysError("mincore", uintptr(p)+done, m, errno)
		}
		for _, v := range vec[:m/pageSize] {
			in += uintptr(v & 1)
		}
		done += m
	}
	return in * pageSize, nil
}

// backable is what sysBackable answers, read once.
var backable = sync.OnceValue(func() uintptr {
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err == nil && strings.TrimSpace(string(b)) == "1" {
		return ^uintptr(0) // "always overcommit": the kernel would not check either
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return ^uintptr(0)
	}
	unit := uintptr(max(si.Unit, 1))
	return (uintptr(si.Totalram) + uintptr(si.Totalswap)) * unit
})

// sysBackable returns the most memory one mapping could ever have backed
// at once: RAM plus swap, the bound heuristic overcommit
// (vm.overcommit_memory 0) puts on a single mapping, or no bound when
// the system always overcommits.
func sysBackable() uintptr { return backable() }

// sysHuge advises transparent huge pages for [p, p+n) and reports
// whether the kernel took the advice (EINVAL without THP support).
func sysHuge(p unsafe.Pointer, n uintptr, why reason) bool {
	err := madvise(p, n, unix.MADV_HUGEPAGE)
	record("madvise(MADV_HUGEPAGE)", keeps, uintptr(p), n, why, err)
	return err == nil
}

// sysPopulate faults [p, p+n) in for writing (MADV_POPULATE_WRITE, Linux
// 5.14). It returns errors.ErrUnsupported where the kernel does not know
// the advice (EINVAL), and the errno of any other failure (ENOMEM when
// memory runs out, EAGAIN, EINTR).
func sysPopulate(p unsafe.Pointer, n uintptr, why reason) error {
	err := madvise(p, n, unix.MADV_POPULATE_WRITE)
	record("madvise(MADV_POPULATE_WRITE)", keeps, uintptr(p), n, why, err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return errors.ErrUnsupported
	}
	return sysError("madvise(MADV_POPULATE_WRITE)", uintptr(p), n, err)
}
