// Package hardened is mmarena's hardened mode: a pool that places each
// block flush against a fenced page (PROT_NONE or a guard marker) and
// records the call stacks that allocated and freed it, and the reports
// that turn a fault near such a block into words: an overflow,
// underflow, use after free, use after reset or use after close, how
// far, and both call sites. GWP-ASan calls this a guarded pool; used
// alone it is Electric Fence.
//
// When it is worth it: to find the memory error behind a crash. A block
// costs a system call or two and two pages of address space, so an
// arena samples (arena.Options.Sample): one allocation in Every goes to
// the pool, the rest are served as usual, and one in a thousand costs
// about 8% on a workload of small objects.
//
// Safety promised: an access past a block's end (or before its start,
// with Options.Underflow) faults at once; a freed block stays fenced
// until every other slot was used since, so a use after free faults; a
// write into the bytes alignment leaves before the fence is found by
// Free. Where it stops: a block not sampled is not fenced, an access
// that jumps over the fence lands elsewhere, and a slot handed out again
// no longer names its old block.
//
// Layers: the pool maps its slots through package guard, in segments of
// 16, and never imports package arena; [Explain] and [Catch] look at
// every pool, live or among the last 16 closed, and at the ranges any
// arena retired into guard's quarantine, so that they name a use after
// close of any arena.
//
// Live sampled blocks, by the call stack that allocated them, form the
// runtime/pprof profile [ProfileName]: net/http/pprof serves it, and go
// tool pprof reads it, like the heap profile the arenas are absent from.
//
// Lifecycle: (1) [New]; (2) [Pool.Alloc] and [Pool.Free], as often as
// needed, or [Pool.Reset] to fence every live block at once; (3)
// [Pool.Close], after which the ranges wait, fenced, in guard's
// quarantine; (4) [Catch] or [Explain] at any time to name a fault.
package hardened
