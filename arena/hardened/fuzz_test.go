package hardened_test

import (
	"testing"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// FuzzSampledOverflow runs off the end (or, placed against the lower
// fence, the start) of a sampled block by a random distance, or reads it
// after Free, and checks that every such access is caught and named with
// the right kind, block and distance: by a fault when it reaches a fenced
// page, by Free when it lands in the bytes alignment left before the
// fence. Distances stay within a page of the block's pages, where the
// pool or the block's own mapping guarantees a fence.
func FuzzSampledOverflow(f *testing.F) {
	f.Add(uint16(48), uint8(3), uint16(0), false, false)       // one past a 48-byte block
	f.Add(uint16(13), uint8(3), uint16(1), false, false)       // into the 3 bytes before the fence
	f.Add(uint16(100), uint8(4), uint16(0), true, false)       // one before a left-aligned block
	f.Add(uint16(20000), uint8(0), uint16(4095), false, false) // a block with its own mapping, far end of its guard
	f.Add(uint16(64), uint8(3), uint16(17), false, true)       // use after free
	f.Fuzz(func(t *testing.T, size16 uint16, alShift uint8, dist16 uint16, under, afterFree bool) {
		mapcheck.Baseline(t)
		ps := align.PageSize()
		size := int(size16)%40000 + 1
		al := uintptr(1) << (alShift % 7)
		d := int(dist16) % ps
		fl, err := arena.NewFreeList(&arena.Options{Name: "fuzz-sampled", Sample: &hardened.Options{Every: 1, Underflow: under, Slots: 4}})
		if err != nil {
			t.Fatal(err)
		}
		defer fl.Close()
		p, err := fl.Alloc(uintptr(size), al)
		if err != nil {
			t.Fatal(err)
		}
		if uintptr(p)%al != 0 {
			t.Fatalf("%p is not aligned to %d", p, al)
		}
		check := func(r *hardened.Report, kind hardened.Kind, dist int64) {
			t.Helper()
			if r.Kind != kind || r.Distance != dist || r.Block != uintptr(p) || r.Size != uintptr(size) || r.Arena != "fuzz-sampled" {
				t.Fatalf("size %d align %d: got %v (kind %v, distance %d), want %v at distance %d", size, al, r, r.Kind, r.Distance, kind, dist)
			}
			if len(r.Allocated) == 0 {
				t.Fatalf("no allocation site in %v", r)
			}
		}
		caught := func(off int) *hardened.Report {
			t.Helper()
			var r *hardened.Report
			err := hardened.Catch(func() { poke(p, off, 0x5A) })
			if err == nil {
				return nil
			}
			r, ok := err.(*hardened.Report)
			if !ok {
				t.Fatalf("size %d align %d offset %d: %v is not a report", size, al, off, err)
			}
			if r.Addr != uintptr(p)+uintptr(off) {
				t.Fatalf("fault at %#x, want %#x", r.Addr, uintptr(p)+uintptr(off))
			}
			return r
		}
		switch {
		case afterFree:
			if err := fl.Free(p); err != nil {
				t.Fatal(err)
			}
			off := d % size
			r := caught(off)
			if r == nil {
				t.Fatalf("read %d bytes into a freed %d-byte block: no fault", off, size)
			}
			check(r, hardened.KindUseAfterFree, int64(off))
			if len(r.Freed) == 0 {
				t.Fatalf("no free site in %v", r)
			}
		case under:
			r := caught(-1 - d)
			if r == nil {
				t.Fatalf("%d bytes before a left-aligned block: no fault", d+1)
			}
			check(r, hardened.KindUnderflow, int64(d+1))
			if err := fl.Free(p); err != nil {
				t.Fatalf("Free after a caught underflow: %v", err)
			}
		default:
			end := uintptr(p) + uintptr(size)
			fence, _ := align.Up(end, uintptr(ps))
			r := caught(size + d)
			if end+uintptr(d) >= fence {
				if r == nil {
					t.Fatalf("%d bytes past a %d-byte block, in its fence: no fault", d+1, size)
				}
				check(r, hardened.KindOverflow, int64(d+1))
				if err := fl.Free(p); err != nil {
					t.Fatalf("Free after a caught overflow: %v", err)
				}
				break
			}
			if r != nil {
				t.Fatalf("a write between the block and its fence faulted: %v", r)
			}
			err := fl.Free(p)
			fr, ok := err.(*hardened.Report)
			if !ok || !fr.AtFree {
				t.Fatalf("a write %d bytes past a %d-byte block, before its fence: Free says %v", d+1, size, err)
			}
			check(fr, hardened.KindOverflow, int64(d+1))
		}
	})
}
