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

// BenchmarkRetireReuse measures what an arena's chunk costs guard per
// request once the quarantine is full: Map 64 KiB, write its first page,
// Retire it. With the reuse cache each Map takes back a range that left
// the quarantine (one madvise or mprotect to unfence it, then the fence
// at Retire and the page fault: the floor under NewBump+Alloc+Close);
// without it each Map is an mmap and guard markers, and each eviction a
// munmap.
func BenchmarkRetireReuse(b *testing.B) {
	const size = 64 << 10
	for _, cache := range []bool{false, true} {
		for _, f := range benchFences(b) {
			b.Run(fmt.Sprintf("cache=%v/fence=%s", cache, fenceName(f)), func(b *testing.B) {
				mapcheck.Baseline(b)
				defer guard.SetQuarantine(guard.SetQuarantine(256 * (size + 2*int64(ps))))
				if !cache {
					defer guard.SetCache(guard.SetCache(0))
				}
				opts := &guard.Options{Name: "request", Fence: f}
				cycle := func() {
					r, err := guard.Map(size, opts)
					if err != nil {
						b.Fatal(err)
					}
					r.Bytes()[0] = 1
					if err := r.Retire("use after close", nil); err != nil {
						b.Fatal(err)
					}
				}
				for range 300 { // fill the quarantine
					cycle()
				}
				q0 := guard.Quarantined()
				b.ReportAllocs()
				for b.Loop() {
					cycle()
				}
				b.ReportMetric(float64(guard.Quarantined().Reused-q0.Reused)/float64(b.N), "reused/op")
			})
		}
	}
}
