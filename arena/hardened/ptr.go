package hardened

import "unsafe"

// All pointer arithmetic of the package is here. The pool's memory is
// mapped by guard: the GC neither scans nor moves it, so pointers into
// it may be offset freely while the mapping lives. Callers keep every
// offset inside its slot or mapping.

// add returns p+off. ok: off stays inside the block's slot or mapping.
func add(p unsafe.Pointer, off uintptr) unsafe.Pointer { return unsafe.Add(p, off) }

// fill sets the n bytes at p to v. ok: [p, p+n) lies in an unfenced page
// of a live block.
func fill(p unsafe.Pointer, n uintptr, v byte) {
	b := unsafe.Slice((*byte)(p), n)
	for i := range b {
		b[i] = v
	}
}

// firstNot returns the index of the first of the n bytes at p that is
// not v, or -1. ok: as fill.
func firstNot(p unsafe.Pointer, n uintptr, v byte) int {
	for i, c := range unsafe.Slice((*byte)(p), n) {
		if c != v {
			return i
		}
	}
	return -1
}

// noCopy lets go vet's copylocks check catch a Pool copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
