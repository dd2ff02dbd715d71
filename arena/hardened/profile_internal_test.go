package hardened

import (
	"runtime"
	"testing"
)

// BenchmarkProfileAdd measures what the profile adds to each sampled
// allocation: the call stack recorded again by runtime/pprof, the
// allocator frames counted, and the entry added and removed.
func BenchmarkProfileAdd(b *testing.B) {
	var blk block
	runtime.Callers(1, blk.allocPC[:])
	b.ReportAllocs()
	for b.Loop() {
		profileAdd(&blk)
		profileRemove(&blk)
	}
}
