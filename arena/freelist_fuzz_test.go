package arena_test

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// FuzzFreeListOps replays random sequences of Alloc, Free, Realloc,
// Calloc, bad frees and Memalign on a FreeList with a limit, against a
// model of live blocks: every block is aligned, zeroed when handed out,
// disjoint from the others, and keeps its bytes until it is freed; every
// bad free is refused with the right error and changes nothing; and Close
// returns every mapping. checked turns on both CheckFreed and sampling
// (every third allocation fenced, in 8 slots, so the pool fills and slots
// are reused), and the same model must hold. Unchecked, freed large
// blocks go to a 1 MiB cache, so sequences reuse cached blocks, evict
// them past the bound and move pages in large Reallocs (op 7); when the
// first byte is odd, cached blocks give their pages back at Free.
func FuzzFreeListOps(f *testing.F) {
	f.Add(false, []byte{0, 10, 3, 0, 200, 4, 1, 0, 0, 2, 1, 9, 3, 0, 0, 4, 0, 0})
	f.Add(true, []byte{0, 255, 2, 0, 5, 13, 1, 0, 0, 1, 0, 0, 5, 7, 0, 2, 0, 255})
	f.Add(false, []byte{6, 14, 40, 6, 20, 3, 1, 0, 0, 1, 1, 0, 0, 0, 0, 3, 0, 0})
	f.Add(false, []byte{6, 20, 0, 7, 0, 40, 1, 0, 0, 6, 30, 0, 7, 0, 90, 3, 0, 0, 7, 0, 9, 3, 0, 1})
	f.Fuzz(func(t *testing.T, checked bool, ops []byte) {
		if len(ops) > 3*200 {
			ops = ops[:3*200]
		}
		const limit = 16 << 20
		if err := guard.FlushQuarantine(); err != nil {
			t.Fatal(err)
		}
		_, held := guard.Budget()
		opts := &arena.Options{Name: "fuzz", Limit: limit, CheckFreed: checked}
		if !checked {
			opts.LargeCache = 1 << 20
			if len(ops) > 0 && ops[0]&1 == 1 {
				opts.LargeDecay = -1
			}
		}
		if checked {
			opts.Sample = &hardened.Options{Every: 3, Slots: 8}
			// Close reports the blocks still live; they are the model's.
			defer arena.SetLeakHandler(arena.SetLeakHandler(func(arena.LeakReport) {}))
		}
		fl, err := arena.NewFreeList(opts)
		if err != nil {
			t.Fatal(err)
		}
		type live struct {
			p   unsafe.Pointer
			n   uintptr
			tag byte
		}
		var lives []live
		var freed []unsafe.Pointer
		tag := byte(0)
		add := func(p unsafe.Pointer, n, al uintptr) {
			t.Helper()
			if p == nil || n == 0 {
				return
			}
			addr := uintptr(p)
			if !align.IsAligned(addr, al) {
				t.Fatalf("%#x not aligned to %d", addr, al)
			}
			if !holds(p, n, 0) {
				t.Fatalf("%d-byte block at %#x not zeroed", n, addr)
			}
			if u, err := fl.UsableSize(p); err != nil || u < n {
				t.Fatalf("UsableSize of a %d-byte block = %d, %v", n, u, err)
			}
			for _, l := range lives {
				if addr < uintptr(l.p)+l.n && addr+n > uintptr(l.p) {
					t.Fatalf("[%#x, +%d) overlaps a live block at %#x", addr, n, uintptr(l.p))
				}
			}
			tag++
			fill(p, n, tag)
			lives = append(lives, live{p, n, tag})
		}
		remove := func(i int) {
			freed = append(freed, lives[i].p)
			lives[i] = lives[len(lives)-1]
			lives = lives[:len(lives)-1]
		}
		for len(ops) >= 3 {
			op, x, y := ops[0]%8, uintptr(ops[1]), uintptr(ops[2])
			ops = ops[3:]
			switch op {
			case 0, 6: // Alloc: small, medium, large, aligned
				size := x*x + y
				if op == 6 {
					size = x << 12
				}
				al := uintptr(1) << (y % 22)
				p, err := fl.Alloc(size, al)
				if err != nil {
					if !errors.Is(err, arena.ErrLimit) {
						t.Fatalf("Alloc(%d, %d): %v", size, al, err)
					}
					continue
				}
				add(p, size, al)
			case 1: // Free a live block
				if len(lives) == 0 {
					continue
				}
				i := int(x) % len(lives)
				if err := fl.Free(lives[i].p); err != nil {
					t.Fatalf("Free of a live block: %v", err)
				}
				remove(i)
			case 2, 7: // Realloc a live block; 7: to a large size, up to 4 MiB
				if len(lives) == 0 {
					continue
				}
				i := int(x) % len(lives)
				l := lives[i]
				n := y * y * 3
				if op == 7 {
					n = y<<14 + x
				}
				q, err := fl.Realloc(l.p, n)
				if err != nil {
					if !errors.Is(err, arena.ErrLimit) {
						t.Fatalf("Realloc: %v", err)
					}
					continue
				}
				keep := min(l.n, n)
				if !holds(q, keep, l.tag) {
					t.Fatalf("Realloc lost the first %d bytes", keep)
				}
				lives[i] = lives[len(lives)-1]
				lives = lives[:len(lives)-1]
				if n == 0 {
					continue
				}
				if q != l.p {
					freed = append(freed, l.p)
				}
				if !holds(add2(q, keep), n-keep, 0) {
					t.Fatalf("Realloc's new bytes are not zero")
				}
				fill(q, n, 0)
				al := uintptr(16) // a moved block
				if q == l.p {
					al = 8 // kept in place: the alignment it had
				}
				add(q, n, al)
			case 3: // free something already freed, or an interior pointer
				if len(freed) > 0 && x%2 == 0 {
					p := freed[int(y)%len(freed)]
					still := false
					for _, l := range lives {
						still = still || l.p == p
					}
					if !still {
						if err := fl.Free(p); !errors.Is(err, arena.ErrDoubleFree) && !errors.Is(err, arena.ErrInvalidFree) && !errors.Is(err, arena.ErrNotOwned) {
							t.Fatalf("second Free of %#x: %v", uintptr(p), err)
						}
					}
				} else if len(lives) > 0 {
					l := lives[int(y)%len(lives)]
					if off := 1 + x%l.n; off < l.n {
						if err := fl.Free(add2(l.p, off)); !errors.Is(err, arena.ErrInvalidFree) {
							t.Fatalf("interior Free: %v", err)
						}
					}
				}
			case 4: // Calloc
				p, err := fl.Calloc(x, y)
				if err != nil {
					if !errors.Is(err, arena.ErrLimit) {
						t.Fatalf("Calloc: %v", err)
					}
					continue
				}
				add(p, x*y, 16)
			case 5: // Memalign, with alignments good and bad
				al := y
				p, err := align.Memalign(fl, al, x+1)
				if align.CheckAlignment(al) != nil {
					if err == nil {
						t.Fatalf("Memalign accepted alignment %d", al)
					}
					continue
				}
				if err != nil {
					if !errors.Is(err, arena.ErrLimit) {
						t.Fatalf("Memalign(%d, %d): %v", al, x+1, err)
					}
					continue
				}
				add(p, x+1, al)
			}
			for _, l := range lives {
				if !holds(l.p, l.n, l.tag) {
					t.Fatalf("live block at %#x lost its bytes", uintptr(l.p))
				}
			}
			if st := fl.Stats(); st.Committed > limit {
				t.Fatalf("committed %d past the limit", st.Committed)
			}
		}
		if err := fl.Close(); err != nil {
			t.Fatal(err)
		}
		// Closed ranges wait in the quarantine; past it, nothing is left.
		if err := guard.FlushQuarantine(); err != nil {
			t.Fatal(err)
		}
		if _, now := guard.Budget(); now != held {
			t.Fatalf("guard holds %d mappings after Close, %d before", now, held)
		}
	})
}

func add2(p unsafe.Pointer, n uintptr) unsafe.Pointer { return unsafe.Add(p, n) }
