package arena

import (
	"reflect"
	"unsafe"
)

// FreedLargeKept is how many freed large blocks a FreeList remembers.
const FreedLargeKept = freedLargeKept

// ForgetSites empties the cache of formatted creation sites.
func ForgetSites() { sites.Clear() }

// SitesFormatted is how many creation sites have been formatted since
// the cache was last emptied.
func SitesFormatted() int {
	n := 0
	sites.Range(func(any, any) bool { n++; return true })
	return n
}

// RefBits returns r's 64 bits, and RefFromBits makes a Ref of any bits:
// tests forge Refs past the end, misaligned or of a made-up arena.
func RefBits[T any](r Ref[T]) uint64 { return r.v }

// RefFromBits: see RefBits.
func RefFromBits[T any](v uint64) Ref[T] { return Ref[T]{v} }

// RefOffBits is the width of a Ref's offset.
const RefOffBits = refOffBits

// Mapped reports whether [p, p+n) lies inside a chunk b has mapped and
// not fenced now.
func Mapped(b *Bump, p unsafe.Pointer, n uintptr) bool {
	for _, c := range b.st.chunks {
		if o, ok := offsetIn(p, c.base, c.size); ok && n <= c.size-o {
			return true
		}
	}
	return false
}

// Offsets of the memfd header's fields, for tests that forge headers.
const (
	MemfdOffMagic     = unsafe.Offsetof(memfdHeader{}.magic)
	MemfdOffVersion   = unsafe.Offsetof(memfdHeader{}.version)
	MemfdOffCommitted = unsafe.Offsetof(memfdHeader{}.committed)
	MemfdOffCursor    = unsafe.Offsetof(memfdHeader{}.cursor)
)

// File arena format, for the tests that forge headers.
const (
	FileDataStart = fileDataStart
	FileSlotGap   = fileSlotGap
	FileSlotSize  = fileSlotSize
)

// ParseFileHeader runs OpenFile's header check on hdr, the first bytes
// of a file of size bytes, for a root of type T, and returns the chosen
// slot's sequence number, used size and root offset.
func ParseFileHeader[T any](hdr []byte, size uint64) (seq, used, root uint64, err error) {
	var zero T
	s, _, err := parseFileHeader(hdr, size, reflect.TypeFor[T](), uint64(unsafe.Sizeof(zero)), uint64(unsafe.Alignof(zero)))
	return s.seq, s.used, s.root, err
}

// ResealFileSlot recomputes the checksum of the slot in b, which holds
// one whole, after a test changed one of its fields.
func ResealFileSlot(b []byte) {
	s := readSlot(b, 0)
	s.sum = s.checksum()
	copy(b, bytesOf(unsafe.Pointer(&s), fileSlotSize))
}

// CgroupMax is cgroupMax, for tests with made-up cgroup trees.
var CgroupMax = cgroupMax

// Long is the -arena.long flag, for the external tests' long runs.
var Long = long
