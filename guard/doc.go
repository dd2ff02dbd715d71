// Package guard makes and fences memory mappings: one private anonymous
// mapping per Region, laid out as [low guard][usable][high guard], with the
// guards inaccessible so that running off either end is a fault rather than
// silent corruption of a neighbour. It is the only mmarena package that
// calls mmap, mprotect, munmap or madvise.
//
// A region's pages are in one of three states, and every method below is a
// transition between them:
//
//	Reserved  address space is held but not accessible (PROT_NONE or a
//	          guard marker); touching it faults. Guards live here.
//	Ready     readable and writable; untouched pages cost no RAM and read
//	          as zero.
//	Unmapped  given back to the kernel (a punched hole, or the whole region
//	          after Close); the addresses may later be reused by anyone.
//
// Map reserves the whole layout and makes the first pages Ready. Commit
// moves further reserved pages to Ready, so an arena grows in place.
// Protect moves Ready pages back to Reserved (a fence for quarantines) and
// Unprotect returns them. Release keeps pages Ready but drops their
// contents (MADV_DONTNEED: RSS falls, they read back as zero). Freeze
// makes Ready pages read-only and Thaw undoes it. Punch moves pages to
// Unmapped, splitting the kernel mapping in two. MoveTo hands Ready pages'
// contents to another region without copying (mremap on Linux), leaving
// them Ready and empty. Close unmaps everything.
// MapFile makes the same layout over a file, private or shared.
// MapShared makes it over a new memfd mapped MAP_SHARED, which another
// process maps with AttachShared from the file SharedFile returns;
// Commit grows the file in place. MapFileShared maps a regular file
// shared the same way, read-write or read-only, and Sync writes its
// dirty pages to the device (msync); Lookup names a write to a read-only
// file page, and a page past the end of a file truncated under the
// mapping (SIGBUS), with the file's name (Linux only; elsewhere these
// return an error matching errors.ErrUnsupported).
//
// Retire is Close for memory that pointers may still reach: every page
// moves to Reserved (contents dropped, then PROT_NONE) and the region
// waits in a process-wide quarantine, its addresses still held, so that
// nothing else is mapped there and a stray access faults and is named
// with the reason and call site Retire was given. The quarantine is first
// in, first out, bounded by address space (DefaultQuarantine, 1 GiB;
// SetQuarantine) and counted in the mapping budget, which unmaps its
// oldest regions before refusing anyone. A region the bound pushes out
// waits, still fenced and named, in a reuse cache (DefaultCache, 64 MiB;
// SetCache), and the next Map of its layout gets its reservation back
// with one system call instead of a new mapping; otherwise it goes to
// Unmapped. Arenas retire their mappings at Close.
//
// Fences cost kernel mappings. Each mprotect that changes part of a
// mapping splits it, and a process may hold only vm.max_map_count of them;
// past that, the Go runtime itself dies on its next heap growth. Where the
// kernel has MADV_GUARD_INSTALL (Linux 6.13 and later) guard pages and
// Protect use guard markers, which split nothing; elsewhere they fall back
// to mprotect (Region.Fence says which). Either way guard counts the
// mappings it holds and refuses, with an error wrapping unix.ENOMEM, past a
// budget (SetBudget). It also counts the bytes its live regions hold
// Ready (Committed; an allocator takes released pages out of the count
// with Region.Discount and back with Recount), which arena's memory
// budget takes from the Go runtime's limit (SetCommitHook), and refuses
// Map, Commit and Recount past an optional cap (SetCommitLimit,
// ErrCommitLimit).
//
// Faults are named. A registry of live and recently closed regions lets
// Lookup say what an address is (which region, which guard, how far past
// the end), and Catch turns a fault inside a function into a *FaultError.
// A fault outside Catch still kills the process: Go recovers memory
// faults only in a goroutine that asked for it with debug.SetPanicOnFault.
// SetTrace keeps the last system calls guard made, with their reasons.
//
// System calls fail, and guard leaves nothing half done when they do:
// every error wraps the errno (errors.Is(err, unix.ENOMEM), or EAGAIN), a
// failed operation leaves the pages in the state it found them, and the
// budget stays exact. A munmap the kernel refuses cannot be undone, so
// Close and Retire close the region anyway and keep the range, still
// charged to the budget, for a retry at the next Map or Close, at
// FlushUnmaps or at FlushQuarantine: nothing stays mapped for good. Tests
// prove it by making calls fail on purpose (internal/inject, one atomic
// load per call when off).
//
// Lifecycle: (1) Map; (2) use Bytes or Pointer, Commit to grow, Protect,
// Release or Punch pages; (3) Close, or Retire into the quarantine. Linux is the first platform; darwin
// and freebsd build and map, without guard markers or mapping names.
package guard
