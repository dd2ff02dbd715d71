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
