package arena

import (
	"math"
	"reflect"
	"unsafe"

	"github.com/mmarena/mmarena/align"
)

// alloc calls a.Alloc, without an interface call when a is a *Bump.
// align comes from unsafe.Alignof or is 1, so it is always valid. New and
// MakeSlice spell the same thing out, so that the fast path is inlined
// into them rather than one call further down.
func alloc(a align.Allocator, size, align uintptr) (unsafe.Pointer, error) {
	if b, ok := a.(*Bump); ok {
		if p, ok := b.fast(size, align); ok {
			return p, nil
		}
		return b.allocSlow(size, align)
	}
	if a == nil {
		return nil, errNilAllocator
	}
	return a.Alloc(size, align)
}

// New returns a pointer to a new zeroed T in the arena a, like Go's new.
// a is any align.Allocator (every arena kind is one); a *Bump takes a
// direct, inlined path, and a nil a gets ErrNoArena. It
// returns a *PointerError (ErrPointers) if T holds Go pointers, and the
// arena's error (ErrClosed, ErrLimit, ...) if it cannot allocate. A
// zero-size T gets a valid pointer that uses no memory.
func New[T any](a align.Allocator) (*T, error) {
	var zero T
	size, align := unsafe.Sizeof(zero), unsafe.Alignof(zero)
	tw := typeWord[T]()
	if b, ok := a.(*Bump); ok && b.okType == tw {
		if p, ok := b.fast(size, align); ok {
			return (*T)(p), nil
		}
	}
	return newSlow[T](a, tw)
}

// newSlow is New for a type the arena has not vetted yet, an allocator
// other than a *Bump, or a full chunk.
func newSlow[T any](a align.Allocator, tw unsafe.Pointer) (*T, error) {
	if !knownPointerFree(tw) {
		if err := checkTypeSlow(reflect.TypeFor[T](), tw); err != nil {
			return nil, err
		}
	}
	var zero T
	p, err := alloc(a, unsafe.Sizeof(zero), unsafe.Alignof(zero))
	if b, ok := a.(*Bump); ok && err == nil {
		b.okType = tw
	}
	return (*T)(p), err
}

// MakeSlice returns a []T of length len and capacity cap whose backing
// array is zeroed arena memory, like Go's make. It returns ErrSize for a
// negative len, cap < len, or len*sizeof(T) overflowing, ErrPointers if T
// holds Go pointers, and the arena's error if it cannot allocate. The
// built-in append past cap moves the slice to the Go heap silently: safe,
// but the arena no longer holds it and the collector scans it again.
// Grow it with Append or Grow, which keep it in the arena.
func MakeSlice[T any](a align.Allocator, len, cap int) ([]T, error) {
	if err := checkType[T](); err != nil {
		return nil, err
	}
	if len < 0 || cap < len {
		return nil, errSize("MakeSlice: len %d, cap %d", len, cap)
	}
	var zero T
	size := unsafe.Sizeof(zero)
	if size > 0 && uintptr(cap) > uintptr(math.MaxInt)/size {
		return nil, errTooLarge("MakeSlice: %d elements of %d bytes overflow", cap, size)
	}
	p, err := alloc(a, uintptr(cap)*size, unsafe.Alignof(zero))
	if err != nil {
		return nil, err
	}
	return sliceOf[T](p, len, cap), nil
}

// String returns a copy of s in the arena: the string header may live
// anywhere, its bytes live in the arena. "" is returned as is. The result
// dies with the arena's next Reset or Close: after either, its bytes are
// reused or unmapped, so a string kept longer reads whatever the arena
// hands out next, or faults. Go strings are supposed to be immutable, so
// code that keeps one (a map key, a cache, a log line in flight) breaks
// silently: a map keyed by it no longer finds the key (ExampleString).
// Copy it to the heap first (strings.Clone) if it must outlive the
// arena's current generation.
func String(a align.Allocator, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	p, err := alloc(a, uintptr(len(s)), 1)
	if err != nil {
		return "", err
	}
	copy(bytesOf(p, len(s)), s)
	return stringOf(p, len(s)), nil
}

// Bytes returns a copy of b in the arena, with len and cap equal to
// len(b). A nil or empty b gives an empty, non-nil slice that uses no
// memory. The result dies with the arena's next Reset or Close, as
// String's does: after either, it aliases whatever the arena hands out
// next, or faults.
func Bytes(a align.Allocator, b []byte) ([]byte, error) {
	p, err := alloc(a, uintptr(len(b)), 1)
	if err != nil {
		return nil, err
	}
	out := bytesOf(p, len(b))
	copy(out, b)
	return out, nil
}
