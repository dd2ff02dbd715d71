package arena

import _ "unsafe" // go:linkname

// A SyncFreeList and a Shared find the calling goroutine's shard by the
// id of the P (the scheduler's processor) it runs on, read with the
// runtime's procPin, which also keeps the goroutine on that P, not
// preempted, until procUnpin. sync.Pool finds its per-P caches the same
// way. The runtime keeps both functions linkable for packages outside
// it (they are marked "do not remove or change the type signature").
//
// Invariant: between procPin and procUnpin the goroutine must not block
// (no Lock that may wait, no channel, no system call that may park it)
// and must not run long; the scheduler throws if a pinned goroutine
// parks. The callers only TryLock, touch their shard's memory and
// return, and unpin before any path that may block.

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
