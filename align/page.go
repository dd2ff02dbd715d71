package align

import "os"

// pageSize is read once, when the package is initialised. The Go runtime
// takes it from the kernel at start-up (the AT_PAGESZ entry of the auxiliary
// vector on Linux and FreeBSD, the host's answer on Darwin), which is the
// same value sysconf(_SC_PAGESIZE) returns in C.
var pageSize = os.Getpagesize()

// PageSize returns the size in bytes of a virtual-memory page on the
// running system, as the kernel reports it; it is always a power of two.
// The value is read at run time, never compiled in. O(1), no system call.
func PageSize() int { return pageSize }

// PageSource says where PageSize came from, for tools that explain it.
func PageSource() string {
	return "kernel auxiliary vector (AT_PAGESZ), the value sysconf(_SC_PAGESIZE) returns"
}
