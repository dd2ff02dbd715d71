package arena

import "unsafe"

// A RefSpace is what the Refs of one contiguous arena, a Memfd or a
// File, resolve against in this process: where its bytes are mapped
// here and how many, and the key its Refs carry. Memfd.RefSpace and
// File.RefSpace hand out the arena's own, which follows the mapping as
// it grows and resolves nothing after the arena's Close; Ref.At
// resolves against it, as In and InFile do against the arena, so code
// that serves both kinds of arena (list.RefList) holds one pointer and
// follows Refs at the same cost. The zero RefSpace resolves nothing.
//
// A RefSpace is read under its arena's rules (a Memfd's lock, a File's
// one goroutine) and changed only by its arena; it must not be copied:
// a copy would not follow the mapping.
type RefSpace struct {
	_    noCopy
	data unsafe.Pointer // where a Ref of lo lands; nil after Close
	lo   uint64         // key + header size: the Ref of data
	span uint64         // mapped bytes from data; 0 after Close, so nothing resolves
	bias uintptr        // data - lo, wrapping: a Ref plus bias is its address
}

// resolve returns the address of the size bytes aligned to al that v
// names, or nil. The address is v plus bias, so one addition lies on
// the path from a loaded Ref to the load it leads to, as against none
// for a pointer; d, v's distance from data, is the check, and it and
// the compares and the alignment test branch off that path, so the
// processor runs on to the next node while they retire. A Ref with another key lands 2^40 or more
// away, past span (or wraps past it if its key is lower); one into the
// header wraps too; a misaligned one (only forging or a corrupt file
// makes one) is refused rather than rounded.
func (w *RefSpace) resolve(v uint64, size, al uintptr) unsafe.Pointer {
	d := v - w.lo
	if uint64(size) > w.span || d > w.span-uint64(size) || d&uint64(al-1) != 0 {
		return nil
	}
	return at(uintptr(v) + w.bias) // ok: that is data+d, and d+size <= span, which set made what is mapped from data
}

// set points the view at the mapping base of n bytes whose Refs carry
// key, with a header of hdr bytes that no Ref names; n must exceed hdr.
func (w *RefSpace) set(base unsafe.Pointer, n, key, hdr uint64) {
	w.data = add(base, uintptr(hdr)) // ok: hdr < n, mapped
	w.lo, w.span = key+hdr, n-hdr
	w.bias = uintptr(w.data) - uintptr(w.lo)
}

// At returns the T that r refers to in the arena whose RefSpace s is, or
// nil if r is the zero Ref, s is nil or its arena closed, or r is not a
// Ref into that arena, is misaligned for T, or points past what this
// process maps: In's and InFile's rules, whichever arena s is of. It
// makes no system call and is inlined.
func (r Ref[T]) At(s *RefSpace) *T {
	var zero T
	if s != nil {
		return viewAs[T](s.resolve(r.v, unsafe.Sizeof(zero), unsafe.Alignof(zero))) // ok: resolve checked bounds and alignment
	}
	return nil
}

// RefSpace returns what a's Refs resolve against in this process
// (Ref.At), nil for a nil a. It follows a's mapping as the arena grows
// and resolves nothing after a's Close.
func (a *Memfd) RefSpace() *RefSpace {
	if a == nil {
		return nil
	}
	return &a.refs
}

// RefSpace returns what a's Refs resolve against in this process
// (Ref.At), nil for a nil a. It follows a's mapping as the arena grows
// and resolves nothing after a's Close.
func (a *File) RefSpace() *RefSpace {
	if a == nil {
		return nil
	}
	return &a.refs
}
