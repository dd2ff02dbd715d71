package guard

import "unsafe"

// All pointer arithmetic of the package is here. The pointers are into
// mappings guard made: the GC neither scans nor moves them, so an
// unsafe.Pointer to them may be held, offset and converted freely while
// the mapping lives. Each caller checks that off+n lies inside a mapped
// part of its region before calling.

// add returns p+off. ok: callers keep off within the reservation.
func add(p unsafe.Pointer, off uintptr) unsafe.Pointer { return unsafe.Add(p, off) }

// bytesAt views [p, p+n) as a slice, the form x/sys/unix wants. ok: the
// range is mapped (callers check) and n > 0.
func bytesAt(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

// populate faults [p, p+n) in, with one system call where the kernel can
// and otherwise by writing a zero to the first byte of each page, which
// changes nothing: fresh pages read as zero. ok: [p, p+n) is Ready.
func populate(p unsafe.Pointer, n uintptr, why reason) {
	if n == 0 || sysPopulate(p, n, why) == nil {
		return
	}
	ps := uintptr(pageSize())
	for off := uintptr(0); off < n; off += ps {
		*(*byte)(unsafe.Add(p, off)) = 0
	}
}
