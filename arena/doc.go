// Package arena hands out memory the Go garbage collector never scans:
// objects carved from private anonymous mappings made by package guard,
// from a memfd that several processes map ([Memfd]), or from a file
// that outlives the process ([File]).
//
// **No Go pointer may be stored in arena memory**; the GC does not scan
// it, so a heap object referenced only from an arena would be freed under
// your feet. [New] and [MakeSlice] refuse types that hold Go pointers
// with [ErrPointers], naming the field. Pointers into arena memory are
// safe anywhere: the GC ignores them. Inside an arena, objects link to
// each other with a [Ref]: an offset in the arena, not an address, so a
// tree or a list of Refs passes the check, resolves only against its own
// arena ([Ref.Get] returns nil for another arena's, a stale or a zero
// Ref), and stays valid in memory mapped at another address (a memfd
// shared with another process, a file reopened). A Bump's chunks lie at
// unrelated addresses, so a Ref names a 4 MiB slot of a small per-arena
// table and an offset in it; an arena that is one reservation grown in
// place needs no table. Following a Bump's Ref costs a shift, a load
// from that table and a compare more than following a pointer; a Memfd's
// or a File's, one addition on the path from Ref to load, the checks
// beside it ([RefSpace], which both hand out and [Ref.At] resolves
// against, so code serving both holds one pointer). [Ref.Tag] packs a
// 24-bit mark into a stored Ref, which then resolves nowhere until
// untagged. ref.go says why this encoding, and the README what it
// measures.
//
// Five allocators, one [Options] for all (and one [Stats] for the first three):
//
//   - [Bump]: objects that die together (a request's scratch space, a
//     parser's nodes). An allocation is an add and a compare, with no
//     system call, no lock and no Go heap allocation; [Bump.Reset] frees
//     everything at once in O(1). One goroutine at a time.
//   - [Shared]: a Bump that many goroutines allocate from at once, each
//     from the slab of the P it runs on, with no locked instruction.
//   - [FreeList]: malloc and free, blocks dying one at a time, in 80 size
//     classes; bad frees are refused with an error. [SyncFreeList] is the
//     same behind a mutex.
//   - [Memfd]: a bump arena in a memfd that other processes attach to
//     ([CreateMemfd], [AttachMemfd]), allocating under a lock in the
//     shared memory that reports a holder's death ([ErrOwnerDead]); its
//     objects link with Refs ([MemfdRef], [Ref.In]); package list's
//     RefList is a list in one that all of them share. Linux only.
//   - [File]: a bump arena in a regular file mapped MAP_SHARED, built
//     once and reopened at any address with nothing to decode
//     ([CreateFile], [OpenFile]); [File.Commit] makes its state durable
//     atomically, [FileRoot] gives back the root a reopen starts from,
//     and its objects link with Refs ([FileRef], [Ref.InFile]); package
//     list's RefList lives in one too (list.OnFile). Linux only.
//
// Memory is zeroed when handed out, as Go's new does, except by
// [FreeList.Malloc], which leaves a reused block as this arena's last
// owner left it, as C's malloc does; bad sizes and
// alignments are errors that change nothing; every chunk is fenced by
// guard pages, so running off its end faults and is named
// (hardened.Catch). Hardened mode ([Options].Sample) sends one allocation
// in N of a Bump or FreeList to a fenced pool of package arena/hardened,
// which names an overflow, underflow or use after free, reset or close
// with both call stacks.
//
// An arena must outlive every pointer into it. [Bump.Close] drops the
// pages but keeps the range fenced in guard's quarantine, so a pointer
// kept past Close faults and is named a use after close instead of
// reading the next arena's objects, until newer ranges push it out. An
// arena dropped without Close is reported to the leak handler
// ([SetLeakHandler]) and keeps its memory, as a leak in C does. String and
// Bytes results die with the arena's next Reset or Close.
//
// Everyday code needs no unsafe: [Clone] and [CloneSlice] copy values
// in, [Append] and [Grow] grow a slice without it leaving the arena (the
// built-in append past cap moves it to the Go heap), and [FreeT] and
// [FreeSlice] give a FreeList's blocks back by typed pointer. Arena
// memory is invisible to the Go runtime's memory limit: [SetMemoryBudget]
// keeps the heap and the arenas within one limit, and [SetArenaCap]
// refuses arena growth with ErrLimit past a process-wide cap (from the
// container's limit, [CgroupMemoryMax]) before the kernel's OOM killer
// would act.
//
// An arena per request is cheapest from a [Pool]: Get hands out a kept,
// reset Bump and Put takes it back, with no system call and no Go heap
// allocation; Put ends the caller's use of the arena as Close would.
//
// Lifecycle: (1) [NewBump], [NewShared], [NewFreeList] or
// [NewSyncFreeList], or [Pool.Get]; (2) Alloc, [New], [MakeSlice], [String], [Bytes],
// [RefOf] and [Ref.Get] on a Bump, and Free on a FreeList; [Bump.Freeze] to make it read-only for a
// while, and State to ask where it stands; (3) Reset (Bump, Shared) to
// reuse the memory, Trim to give it back; (4) Close, or [Pool.Put],
// after the last use of every pointer into it. Growth, reset and release trade-offs, with
// their measurements, are told at [Options] and in the README.
package arena
