package arena

import "unsafe"

// All pointer arithmetic of the package is here. Chunk memory is mapped
// by guard: the GC neither scans nor moves it, so pointers into it may be
// offset and converted freely while the chunk is mapped. Callers keep
// every offset inside its chunk.

// add returns p+off. ok: off <= the chunk's size, checked by the caller.
func add(p unsafe.Pointer, off uintptr) unsafe.Pointer { return unsafe.Add(p, off) }

// at returns the address a as a pointer. ok: a lies in a mapping
// guard made (not the Go heap), checked by the caller; the GC ignores
// such addresses, and checkptr accepts them.
func at(a uintptr) unsafe.Pointer { return unsafe.Add(nil, a) }

// offsetIn returns p-base and whether p lies in [base, base+n). Only
// addresses are compared; nothing is read. ok: base is a chunk's start
// and n at most its size.
func offsetIn(p, base unsafe.Pointer, n uintptr) (uintptr, bool) {
	o := uintptr(p) - uintptr(base)
	return o, uintptr(p) >= uintptr(base) && o < n
}

// clearBytes zeroes [p, p+n). ok: the range lies inside a mapped chunk.
func clearBytes(p unsafe.Pointer, n uintptr) { clear(unsafe.Slice((*byte)(p), n)) }

// zeroBase is what every zero-size allocation points at, as in Go's
// runtime: a valid address that must never be read or written.
var zeroBase uintptr

func zeroSized() unsafe.Pointer { return unsafe.Pointer(&zeroBase) }

// typeWord returns the runtime's type descriptor of *T as an opaque key,
// read from an interface holding a nil *T. An interface value is two
// words, type then data; that layout is the Go ABI and has not changed
// since Go 1.0. Converting a nil pointer to an interface never allocates.
func typeWord[T any]() unsafe.Pointer {
	var e any = (*T)(nil)
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&e))[0]
}

// sliceOf returns a []T of length n and capacity c over p. ok: p points
// at c*sizeof(T) bytes of arena memory, or at zeroBase when that is 0.
func sliceOf[T any](p unsafe.Pointer, n, c int) []T { return unsafe.Slice((*T)(p), c)[:n] }

// stringOf returns a string over n bytes at p. ok: as sliceOf.
func stringOf(p unsafe.Pointer, n int) string { return unsafe.String((*byte)(p), n) }

// bytesOf views n bytes at p as a slice. ok: as sliceOf.
func bytesOf(p unsafe.Pointer, n int) []byte { return unsafe.Slice((*byte)(p), n) }

// noCopy lets go vet's copylocks check catch an arena copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// viewAs views the bytes at p as a T. ok: p is aligned for T and points
// at sizeof(T) bytes of a memfd arena's mapping (its header, its root,
// or a block In has bounds-checked), or of a Go variable of that size;
// T holds no Go pointers (checkType, or the header's own type).
func viewAs[T any](p unsafe.Pointer) *T { return (*T)(p) }

// pointerOf returns p as an unsafe.Pointer, for Free. ok: a conversion,
// no arithmetic; Free checks that the address is a block of its arena.
func pointerOf[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// sliceData returns the address of s's backing array. ok: as pointerOf.
func sliceData[T any](s []T) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }

// sameArray reports whether v lies in s's backing array, s[:cap(s)].
// Only addresses are compared; nothing is read.
func sameArray[T any](s, v []T) bool {
	if cap(s) == 0 || cap(v) == 0 {
		return false
	}
	lo := uintptr(sliceData(s))
	hi := lo + uintptr(cap(s))*unsafe.Sizeof(s[:1][0])
	p := uintptr(sliceData(v))
	return p >= lo && p < hi
}
