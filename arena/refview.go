package arena

import "unsafe"

// A refView is what a contiguous arena (a Memfd or a File) resolves a
// Ref against: data is the first byte a Ref may name (the one after the
// header), lo the Ref of that byte (the arena's key plus the header's
// size), span how many bytes from data this process maps. Both arenas
// embed one and keep it in step with their mapping (place), so
// Ref.In and Ref.InFile share one resolve and cost the same.
type refView struct {
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
func (w *refView) resolve(v uint64, size, al uintptr) unsafe.Pointer {
	d := v - w.lo
	if uint64(size) > w.span || d > w.span-uint64(size) || d&uint64(al-1) != 0 {
		return nil
	}
	return at(uintptr(v) + w.bias) // ok: that is data+d, and d+size <= span, which set made what is mapped from data
}

// set points the view at the mapping base of n bytes whose Refs carry
// key, with a header of hdr bytes that no Ref names; n must exceed hdr.
func (w *refView) set(base unsafe.Pointer, n, key, hdr uint64) {
	w.data = add(base, uintptr(hdr)) // ok: hdr < n, mapped
	w.lo, w.span = key+hdr, n-hdr
	w.bias = uintptr(w.data) - uintptr(w.lo)
}
