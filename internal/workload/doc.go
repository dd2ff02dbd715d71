// Package workload defines mmarena's four reference workloads once, for
// both of their users: the benchmarks (BenchmarkW1 and BenchmarkW2 in
// arena, BenchmarkW3 and BenchmarkW4 in list), which time them with
// testing.B, and arenastat bench (and the tour's side-by-side step),
// which times them with a clock and prints a table. Each user adds its
// own timing, sizes and reporting; the work itself is here, so that the
// two cannot drift apart.
//
//	W1  small objects: n 32-byte Objects allocated one at a time, a field
//	    of each written, all kept to the end (W1Heap, W1Bump).
//	W2  churn: a live set of blocks of 8..1024 bytes; each step frees one
//	    at random and allocates another, writing its first and last byte,
//	    from a fixed-seed xorshift (W2Heap, W2FreeList).
//	W3  a linked list of int64 built by PushFront, then traversed and
//	    summed (HeapList, BuildList, Node.Sum, SumList).
//	W4  the W3 list held live while Churn makes short-lived garbage.
//
// The Go heap's version of each sits beside the arena's, doing the same
// work with new and make. Functions return errors rather than failing a
// test, and nothing here keeps a global reference to what it made,
// except Churn's sinks, which it clears. None of it is safe for concurrent
// use: each value belongs to the goroutine running the workload.
//
// Lifecycle: (1) make the arena (or nothing, for the Go heap); (2) run
// the workload's functions, timing what the caller wants timed; (3) keep
// the result reachable until measured, then drop it or close the arena.
package workload
