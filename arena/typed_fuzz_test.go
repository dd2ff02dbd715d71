package arena_test

import (
	"errors"
	"testing"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// FuzzSliceOps replays Append, Grow, CloneSlice and FreeSlice sequences
// on a Bump, a FreeList or a sampled FreeList (ops[0]%3) against a plain
// Go slice: the arena's slice
// always holds the model's elements, its room past len reads zero, and
// a refused Grow leaves it unchanged. Op bytes: kind%5 picks the op, the
// next byte its size.
func FuzzSliceOps(f *testing.F) {
	f.Add([]byte{0, 0, 5, 0, 16, 0, 16, 1, 200, 0, 3})
	f.Add([]byte{1, 0, 16, 0, 16, 2, 0, 0, 16, 3, 0, 1, 255})
	f.Add([]byte{1, 1, 127, 0, 1, 1, 128, 0, 16, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		var a align.Allocator
		var freeSlice func([]uint32) error
		if ops[0]%3 == 0 {
			b, err := arena.NewBump(&arena.Options{Name: "fuzz-slices", InitialSize: 16 << 10, MaxChunk: 64 << 10, Limit: 8 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			a, freeSlice = b, func([]uint32) error { return nil }
		} else {
			opts := &arena.Options{Name: "fuzz-slices", Limit: 16 << 20}
			if ops[0]%3 == 2 {
				// One block in three fenced: a read of an array the
				// helpers gave up faults.
				opts.Sample = &hardened.Options{Every: 3}
			}
			fl, err := arena.NewFreeList(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer fl.Close()
			a, freeSlice = fl, func(s []uint32) error { return arena.FreeSlice(fl, s) }
		}
		var s, model []uint32
		next := uint32(1)
		for i := 1; i+1 < len(ops); i += 2 {
			n := int(ops[i+1])
			switch ops[i] % 5 {
			case 0: // append n elements
				vs := make([]uint32, n%17)
				for j := range vs {
					vs[j], next = next, next+1
				}
				got, err := arena.Append(a, s, vs...)
				if errors.Is(err, arena.ErrLimit) {
					continue
				}
				if err != nil {
					t.Fatalf("Append: %v", err)
				}
				s, model = got, append(model, vs...)
			case 1: // grow by a signed amount, scaled
				m := int(int8(ops[i+1])) * 37
				got, err := arena.Grow(a, s, m)
				switch {
				case m < 0 && !errors.Is(err, arena.ErrSize):
					t.Fatalf("Grow(%d): %v, want ErrSize", m, err)
				case err != nil && !errors.Is(err, arena.ErrSize) && !errors.Is(err, arena.ErrLimit):
					t.Fatalf("Grow(%d): %v", m, err)
				case err != nil:
					if len(got) != len(s) || cap(got) != cap(s) {
						t.Fatalf("a refused Grow changed the slice")
					}
				case cap(got)-len(got) < m:
					t.Fatalf("Grow(%d): room %d", m, cap(got)-len(got))
				default:
					s = got
				}
			case 2: // free and start again
				if err := freeSlice(s); err != nil {
					t.Fatalf("FreeSlice: %v", err)
				}
				s, model = nil, nil
			case 3: // clone, free the original
				c, err := arena.CloneSlice(a, s)
				if errors.Is(err, arena.ErrLimit) {
					continue
				}
				if err != nil {
					t.Fatalf("CloneSlice: %v", err)
				}
				if err := freeSlice(s); err != nil {
					t.Fatalf("FreeSlice: %v", err)
				}
				s = c
			case 4: // append a tail of s to s itself
				k := 0
				if len(s) > 0 {
					k = n % len(s)
				}
				got, err := arena.Append(a, s, s[k:]...)
				if errors.Is(err, arena.ErrLimit) {
					continue
				}
				if err != nil {
					t.Fatalf("Append to itself: %v", err)
				}
				s, model = got, append(model, model[k:]...)
			}
			if len(s) != len(model) {
				t.Fatalf("op %d: len %d, model %d", i, len(s), len(model))
			}
			for j := range model {
				if s[j] != model[j] {
					t.Fatalf("op %d: element %d is %d, model %d", i, j, s[j], model[j])
				}
			}
			for j, v := range s[len(s):cap(s)] {
				if v != 0 {
					t.Fatalf("op %d: room element %d reads %d, not zero", i, j, v)
				}
			}
		}
	})
}
