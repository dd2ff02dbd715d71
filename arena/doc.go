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
//     same for many goroutines, sharded per P (see Sharding below).
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
// # Sharding
//
// The two arenas made for many goroutines, [Shared] and [SyncFreeList],
// give each P (the scheduler's processor: GOMAXPROCS of them) a shard
// of its own, so that goroutines running at once on different cores
// never wait for each other nor pull each other's cache lines. A
// SyncFreeList does so only once goroutines have met: it starts with
// one shard in use, which every P is routed to, and doubles the shards
// in use (up to one per P, P i going to shard i modulo their number)
// each time a goroutine finds its shard's mutex held by another
// goroutine (Stats, Trim and Close, which take every mutex, do not
// count). A lone goroutine never meets another, so however often the
// scheduler moves it between Ps its blocks stay on one shard, and it
// pays one uncontended mutex per call, as the unsharded arena did; two
// goroutines busy at once are on two shards after their first
// collision. Until then the shard keeps no live bitmap (below): every
// Free takes its mutex, and no atomic operation beyond the mutex's is
// made.
//
//   - How a goroutine finds its shard: by the id of the P it runs on,
//     read with the runtime's procPin, which also keeps it on that P for
//     the few instructions that take the shard (sync.Pool finds its
//     per-P caches the same way). It costs two calls of a few
//     instructions. A sync.Pool of caches was the alternative: its Get
//     and Put cost as much as the allocation, and it may hand a cache to
//     another P or drop it at a GC; a hash of the goroutine's stack
//     address, which Shared used before, sent two goroutines to one
//     shard now and then.
//   - What one goroutine's burst costs the others: nothing but the
//     system calls it makes. A shard that runs out cuts spans and maps
//     chunks of its own; only filing a new chunk in the arena's index
//     (once per 4 MiB) takes a mutex all shards share. Ps past a
//     SyncFreeList's shards (fixed at NewSyncFreeList, from GOMAXPROCS)
//     share a shard and its mutex, which stays correct and costs a lock
//     handoff.
//   - Frees across shards: a SyncFreeList block stays its shard's for
//     life. Free takes the block's shard's mutex when it is free, from
//     whatever P, and frees the block there at once. When another
//     goroutine holds it, the block is claimed with one atomic AND in its
//     span's live bitmap (so two Frees of it at once give one nil and one
//     [ErrDoubleFree]) and its span is pushed on its shard's lock-free
//     list; the shard frees it when it next allocates, or in Stats or
//     Trim. Until then it counts as in use and is not reused.
//   - What a goroutine moved between Ps costs once shards have grown: it
//     allocates from its new P's shard and frees into the old one, which
//     hands those blocks out again only to its own P's goroutines. So a
//     shard about to cut a span for a class it has no free block of
//     first takes one from another shard (TryLock only) whose free
//     blocks of the class fill two or more partly used spans: in W8 (two
//     goroutines, machine loaded) that kept peak RSS at 63-70 MB where
//     it had reached 63-87 MB, the single mutex's being 60.
//   - What the caches hold, and how it returns: a SyncFreeList shard
//     keeps, per size class it used, the free blocks of its partly used
//     spans and at most one empty spare span (64 KiB, or 256 KiB above 8
//     KiB blocks); the pages of other emptied spans go back to the OS as
//     a FreeList's do. [SyncFreeList.Trim] collects every shard's
//     pending frees and gives back every empty span and cached large
//     block. A Shared holds at most one 64 KiB slab per P, partly used,
//     until Reset.
//   - What the stats show: [SyncFreeList.Stats] collects the pending
//     frees first, so its totals are exact, and lists each shard in
//     Stats.Shards (its allocs, frees, frees from other Ps, bytes in
//     use, bytes held free, chunks' bytes); TakeSnapshot's Summary.Shards
//     carries the same, which arenastat watch prints under the arena's
//     row.
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
