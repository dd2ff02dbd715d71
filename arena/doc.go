// Package arena hands out memory the Go garbage collector never scans:
// objects carved from private anonymous mappings made by package guard.
//
// **No Go pointer may be stored in arena memory**; the GC does not scan
// it, so a heap object referenced only from an arena would be freed under
// your feet. New and MakeSlice refuse types that hold Go pointers
// (pointers, strings, slices, maps, interfaces, channels, functions,
// unsafe.Pointer) with ErrPointers, naming the field. Pointers *into*
// arena memory are safe anywhere: the GC ignores them.
//
// A Bump arena is the fastest allocator a Go program can use for objects
// that die together (a request's scratch space, a parser's nodes, an index
// rebuilt wholesale): an allocation is an add and a compare, with no
// system call, no lock and no Go heap allocation, and Reset frees
// everything at once in O(1). When to use it: millions of small objects
// that would otherwise each cost the GC on every cycle. When not to: a few
// objects, or objects with pointers to the heap.
//
// Safety promised: memory is zeroed when handed out, as Go's new is; bad
// sizes, alignments and lengths are errors that change nothing; every
// chunk is fenced by guard pages, so running off its end faults and is
// named (Catch); use after Close returns ErrClosed.
//
// **An arena must outlive every pointer into it; a leaked one keeps its
// memory.** Close drops the pages but keeps the address range reserved
// and fenced in guard's process-wide quarantine (1 GiB of address space
// by default, first in first out; guard.SetQuarantine), so a pointer
// kept past Close faults, and Catch names it a use after close of that
// arena with the Close call site, instead of reading the next arena's
// objects. An arena dropped without Close (say a function returned a
// slice it filled, and the GC cannot know the slice needs the arena) is
// reported to the leak handler and never unmapped: a leak, as in C.
// Where it stops: a range leaves the quarantine when newer ones push it
// out, and then a stale pointer into it is as wild as in C; a pointer
// kept past Reset points at reused memory, unless the Quarantine option
// fences reset memory ("use after reset") while debugging.
//
// A Shared arena is the variant for many goroutines at once: goroutines
// allocate from per-shard slabs with a compare-and-swap, so two cores do
// not fight over one cache line.
//
// A FreeList arena is malloc and free: blocks die one at a time, in size
// classes. Bad frees are refused with an error, but a double free is
// caught only while the block's memory has not been handed out again; a
// stale Free after that frees the new owner's block, in every mode
// (Hardened and sampling narrow the window; the FreeList doc says how).
//
// String and Bytes copy into the arena, and what they return lives and
// dies with it: after the arena's next Reset or Close its bytes belong
// to someone else. A map keyed by such a string then holds keys that
// change under it, and lookups miss (see ExampleString).
//
// Growth uses chained chunks, each a guarded mapping, doubling from
// Options.InitialSize up to Options.MaxChunk. Chunks rather than one
// reservation committed in place: many arenas live at once (one per
// request), and a fixed multi-GiB reservation each would exhaust the
// address space; chunks also let Trim return whole mappings. With guard
// markers a chunk costs one kernel mapping. Fresh chunk memory is faulted
// in a stride ahead of the allocations with MADV_POPULATE_WRITE, which
// made W1 cold as fast as a raw bump over a Go byte slice.
//
// Reset keeps the pages and zeroes them as they are handed out again, in
// strides that grow to 32 MiB (where memclr streams past the cache),
// rather than dropping them with MADV_DONTNEED and taking a page fault on
// each: refilling 64 MiB was faster that way (BenchmarkResetRefill).
// Options.ResetRelease chooses the other trade, and Trim returns memory
// on demand.
//
// Hardened mode (Options.Sample) places every Nth allocation of a Bump or
// FreeList flush against a fenced page and records its call stack; Free,
// Reset and Close fence it again and record theirs. A fault there is
// turned by Catch or Explain into a Report naming the kind (overflow,
// underflow, use after free, use after reset, use after close), the
// distance, the block and both stacks. One sample in a thousand made
// W2 about 8% slower (BenchmarkW2SampleOverhead); every allocation fenced
// costs a system call or two each (BenchmarkSampled).
//
// Lifecycle: (1) NewBump or NewShared; (2) Alloc, New, MakeSlice, String,
// Bytes; (3) Reset to reuse the memory, as often as needed, and Trim to
// give it back; (4) Close, after the last use of every pointer into it;
// the range then waits, fenced, in guard's quarantine.
package arena
