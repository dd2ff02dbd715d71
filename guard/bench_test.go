package guard_test

import (
	"fmt"
	"testing"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// benchFences names the fences compared; markers only where the kernel
// has them.
func benchFences(b *testing.B) []guard.Fence {
	out := []guard.Fence{guard.FenceMprotect}
	if r, err := guard.Map(1, &guard.Options{Fence: guard.FenceMarkers}); err == nil {
		r.Close()
		out = append(out, guard.FenceMarkers)
	}
	return out
}

var heapSink []byte

// BenchmarkMapClose measures a guarded region's whole life: Map, a write
// to its first page, Close. The goheap line is the Go heap's answer to
// the same request, for scale.
func BenchmarkMapClose(b *testing.B) {
	for _, size := range []int{ps, 64 * ps} {
		b.Run(fmt.Sprintf("fence=goheap/size=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				heapSink = make([]byte, size)
				heapSink[0] = 1
			}
		})
		for _, f := range benchFences(b) {
			b.Run(fmt.Sprintf("fence=%s/size=%d", fenceName(f), size), func(b *testing.B) {
				mapcheck.Baseline(b)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				opts := &guard.Options{Fence: f}
				var maps int
				for b.Loop() {
					r, err := guard.Map(size, opts)
					if err != nil {
						b.Fatal(err)
					}
					r.Bytes()[0] = 1
					maps = r.Mappings()
					if err := r.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(maps), "mappings/region")
			})
		}
	}
}

// BenchmarkProtectPair measures fencing one page in the middle of a
// region and opening it again: mprotect (which splits and re-merges the
// kernel mapping) against guard markers (which split nothing).
func BenchmarkProtectPair(b *testing.B) {
	for _, f := range benchFences(b) {
		b.Run("fence="+fenceName(f), func(b *testing.B) {
			mapcheck.Baseline(b)
			r, err := guard.Map(64*ps, &guard.Options{Fence: f})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ReportAllocs()
			var peak int
			for b.Loop() {
				if err := r.Protect(32*ps, ps); err != nil {
					b.Fatal(err)
				}
				peak = r.Mappings()
				if err := r.Unprotect(32*ps, ps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(peak), "mappings/fenced")
		})
	}
}
