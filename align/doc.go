// Package align is the arithmetic every other mmarena package stands on:
// the page size, power-of-two rounding, and the alignment rule of
// posix_memalign.
//
// It is a leaf. It owns no memory and makes no system call after start-up,
// so every function here is cheap, safe for concurrent use, and free of
// side effects.
//
// The page size is a property of the running kernel, not of the program:
// 4 KiB on most x86-64 machines, 16 KiB on Apple silicon, 64 KiB on some
// arm64 and ppc64 kernels. PageSize reads it at run time, never from a
// constant, because a mapping is always made of whole pages and every
// layout decision above this package depends on that number.
//
// Rounding never wraps. Up reports failure when the rounded value would
// not fit in a uintptr, which is how a caller asking for 2^64-1 bytes gets
// an error instead of a tiny allocation.
//
// The alignment rule is the one POSIX gives posix_memalign: an alignment
// must be a power of two and a multiple of the size of a pointer.
// CheckAlignment returns errors as values, never errno in a global, and
// every error it returns satisfies errors.Is(err, unix.EINVAL).
//
// Lifecycle: there is none. Call the functions; they hold no state beyond
// the page size read once at start-up.
package align
