package align

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An Allocator is what Memalign needs from an arena: aligned, zeroed
// memory or an error. The arena package's allocators satisfy it; the
// interface lives here so that align, the leaf of the import graph, does
// not import arena.
type Allocator interface {
	Alloc(size, align uintptr) (unsafe.Pointer, error)
}

// Memalign is posix_memalign for mmarena: it returns size bytes of zeroed
// memory from a, aligned to alignment, with errors as values, never in a
// global errno.
//
//   - alignment must be a power of two and a multiple of PtrSize (0, 1, 3,
//     12 are refused): the error satisfies errors.Is(err, unix.EINVAL).
//   - a size or an alignment that cannot be met (rounding the size to
//     the alignment overflows, the size exceeds the address space or the
//     arena's limit, or the alignment is valid but larger than the arena
//     can align to): the error satisfies errors.Is(err, unix.ENOMEM).
//     Only an alignment refused by the rule above is EINVAL.
//   - size 0 returns a nil pointer and no error, as posix_memalign may;
//     freeing nil is a no-op.
//
// On error nothing is allocated. Free the memory with the arena's Free,
// or let the arena's Reset or Close take it. The arenas decide which
// alignments they can serve: a FreeList serves every power of two up to
// 1 GiB, a Bump or a Shared up to the page size. Memalign passes a's
// error on as it is, so a must report a valid alignment it cannot serve
// as unix.ENOMEM, as the arena package's allocators do.
func Memalign(a Allocator, alignment, size uintptr) (unsafe.Pointer, error) {
	if err := CheckAlignment(alignment); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, nil
	}
	if _, ok := Up(size, alignment); !ok {
		return nil, fmt.Errorf("align: memalign of %d bytes aligned to %d overflows: %w", size, alignment, unix.ENOMEM)
	}
	return a.Alloc(size, alignment)
}
