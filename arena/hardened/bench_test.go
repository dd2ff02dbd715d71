package hardened_test

import (
	"testing"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// BenchmarkSampled measures an Alloc and Free pair of 64 bytes when every
// allocation is fenced (Sample 1, Electric Fence style), against none:
// the price of the system calls that unfence a slot and fence it again,
// and of recording two call stacks.
func BenchmarkSampled(b *testing.B) {
	run := func(b *testing.B, opts *arena.Options) {
		mapcheck.Baseline(b)
		f, err := arena.NewFreeList(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.ReportAllocs()
		allocFree(b, f, 64, true) // touched: a fenced slot's fresh page faults in
		if s := f.Stats().Sample; s != nil {
			if s.Sampled != uint64(b.N) {
				b.Fatalf("%d of %d allocations sampled", s.Sampled, b.N)
			}
			b.ReportMetric(float64(s.Syscalls)/float64(b.N), "guard-calls/op")
		}
	}
	b.Run("sample=0", func(b *testing.B) { run(b, nil) })
	for _, f := range []guard.Fence{guard.FenceMarkers, guard.FenceMprotect} {
		b.Run("sample=1/fence="+f.String(), func(b *testing.B) {
			defer hardened.SetFence(f)()
			run(b, &arena.Options{Sample: &hardened.Options{Every: 1}})
		})
	}
}
