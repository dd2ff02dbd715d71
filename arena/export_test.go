package arena

import "unsafe"

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

// CgroupMax is cgroupMax, for tests with made-up cgroup trees.
var CgroupMax = cgroupMax
