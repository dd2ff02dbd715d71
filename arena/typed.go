package arena

import (
	"math"
	"unsafe"

	"github.com/mmarena/mmarena/align"
)

// The typed helpers let everyday code use arenas without importing
// unsafe: FreeT and FreeSlice give a FreeList's blocks back by their
// typed pointers, Append and Grow grow a slice inside its arena, and
// Clone and CloneSlice copy Go values in. Each checks T as New does.

// reallocer is the Realloc of FreeList and SyncFreeList.
type reallocer interface {
	UsableSize(p unsafe.Pointer) (uintptr, error)
	Realloc(p unsafe.Pointer, n uintptr) (unsafe.Pointer, error)
}

// FreeT returns the block of *p, made by New on the free-list arena f (a
// *FreeList or *SyncFreeList), to f; a nil p and a zero-size T do
// nothing. It returns Free's errors: ErrDoubleFree, ErrInvalidFree,
// ErrNotOwned, ErrClosed, each leaving f unchanged. p and every copy of
// it must not be used afterwards. Safe for concurrent use when f is.
func FreeT[T any, F interface{ Free(unsafe.Pointer) error }](f F, p *T) error {
	return f.Free(pointerOf(p))
}

// FreeSlice returns the backing array of s, made by MakeSlice, Append,
// Grow or CloneSlice on the free-list arena f, to f; a slice of zero
// capacity does nothing. s must start at its array's first element (a
// slice resliced from the front gets ErrInvalidFree and frees nothing),
// and no slice of the array may be used afterwards. Errors as FreeT's.
func FreeSlice[T any, F interface{ Free(unsafe.Pointer) error }](f F, s []T) error {
	if cap(s) == 0 {
		return nil
	}
	return f.Free(sliceData(s))
}

// Append appends vs to s in the arena a and returns the result, like the
// built-in append, but never moves s to the Go heap: when s has no room,
// the elements move to a new array of a, about twice as large (1.25
// times past 256 elements), and the new elements past len read zero. The
// old array stays where it is: a Bump's is reclaimed at Reset, and a
// FreeList or SyncFreeList, when the old array is one of its blocks,
// grows it with Realloc, in place where the block has room, and frees it
// otherwise, as C's realloc does: a slice still aliasing the old array
// must then not be used (vs itself may be part of s, as in
// Append(a, s, s...): that array is then kept, not reallocated). s may
// be nil or live anywhere (the first growth moves it into a). Errors are New's and ErrSize for a length that
// overflows; on an error s is unchanged.
func Append[T any](a align.Allocator, s []T, vs ...T) ([]T, error) {
	n := len(s)
	// vs may be part of s's array (Append(a, s, s...)): then the array
	// must outlive the copy below, so it is not given to Realloc.
	s, err := grow(a, s, len(vs), !sameArray(s, vs))
	if err != nil {
		return s, err
	}
	s = s[:n+len(vs)]
	copy(s[n:], vs)
	return s, nil
}

// Grow returns s with room for at least n more elements, like
// slices.Grow, moving it into the arena a when it has fewer than n
// spare (as Append does; len is unchanged, and the new room reads
// zero). It returns ErrSize for a negative n or a capacity that
// overflows, and New's errors; on an error s is unchanged.
func Grow[T any](a align.Allocator, s []T, n int) ([]T, error) {
	return grow(a, s, n, true)
}

// grow is Grow; realloc false keeps s's array where it is even on a
// free-list arena that owns it.
func grow[T any](a align.Allocator, s []T, n int, realloc bool) ([]T, error) {
	if err := checkType[T](); err != nil {
		return s, err
	}
	if n < 0 {
		return s, errSize("Grow: n %d is negative", n)
	}
	if cap(s)-len(s) >= n {
		return s, nil
	}
	if len(s) > math.MaxInt-n {
		return s, errTooLarge("Grow: length %d + %d overflows", len(s), n)
	}
	newCap := growCap(cap(s), len(s)+n)
	var zero T
	size := unsafe.Sizeof(zero)
	if size > 0 && uintptr(newCap) > uintptr(math.MaxInt)/size {
		return s, errTooLarge("Grow: %d elements of %d bytes overflow", newCap, size)
	}
	if realloc && size > 0 && cap(s) > 0 {
		if r, ok := a.(reallocer); ok {
			if _, err := r.UsableSize(sliceData(s)); err == nil {
				p, err := r.Realloc(sliceData(s), uintptr(newCap)*size)
				if err != nil {
					return s, err
				}
				out := sliceOf[T](p, len(s), newCap)
				clear(out[len(s):newCap]) // Realloc keeps the block's old bytes past len
				return out, nil
			}
		}
	}
	out, err := MakeSlice[T](a, len(s), newCap)
	if err != nil {
		return s, err
	}
	copy(out, s)
	return out, nil
}

// growCap is the capacity a slice of capacity old grows to when need
// elements must fit: double below 256 elements, then a quarter more
// each step, as the runtime's growslice does, and need when that is
// more.
func growCap(old, need int) int {
	if need > 2*old || old > math.MaxInt/2 {
		return need
	}
	if old < 256 {
		return max(2*old, need)
	}
	c := old
	for c < need {
		next := c + (c+3*256)>>2
		if next <= c { // overflow
			return need
		}
		c = next
	}
	return c
}

// Clone returns a pointer to a copy of v in the arena a. T must hold no
// Go pointers (ErrPointers); errors are New's.
func Clone[T any](a align.Allocator, v T) (*T, error) {
	p, err := New[T](a)
	if err != nil {
		return nil, err
	}
	*p = v
	return p, nil
}

// CloneSlice returns a copy of s in the arena a, with len and cap equal
// to len(s); a nil or empty s gives an empty, non-nil slice that uses no
// memory. T must hold no Go pointers (ErrPointers); errors are
// MakeSlice's.
func CloneSlice[T any](a align.Allocator, s []T) ([]T, error) {
	out, err := MakeSlice[T](a, len(s), len(s))
	if err != nil {
		return nil, err
	}
	copy(out, s)
	return out, nil
}
