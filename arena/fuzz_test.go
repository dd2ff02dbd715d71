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

// fuzzArena is what FuzzArenaOps drives: a Bump or a Shared.
type fuzzArena interface {
	align.Allocator
	Reset()
	Close() error
	Stats() arena.Stats
}

// FuzzArenaOps replays random sequences of Alloc, New, MakeSlice, String,
// Reset and Close on a Bump or a Shared with a small limit, against a
// model of live allocations: every result is aligned, zeroed, disjoint
// from the other live ones, keeps its bytes until Reset, and the arena
// never maps past its limit; after Close every call fails with ErrClosed
// and every mapping is returned. Bit 0 of kind picks Shared; bit 1 makes
// a Bump hardened (Options.Sample), which must keep the same model.
func FuzzArenaOps(f *testing.F) {
	f.Add(byte(0), []byte{0, 10, 3, 1, 0, 0, 2, 5, 9, 0, 200, 12, 3, 0, 0, 0, 7, 6})
	f.Add(byte(1), []byte{0, 255, 12, 0, 255, 12, 0, 255, 12, 3, 0, 0, 0, 1, 0, 4, 0, 0})
	f.Add(byte(0), []byte{0, 0, 3, 0, 1, 13, 0, 1, 0, 0, 250, 255, 5, 17, 0, 4, 0, 0, 0, 1, 3})
	f.Add(byte(2), []byte{0, 10, 3, 1, 0, 0, 2, 5, 9, 0, 200, 12, 4, 0, 0, 0, 7, 6, 0, 90, 3})
	f.Fuzz(func(t *testing.T, kind byte, ops []byte) {
		const limit = 256 << 10
		if err := guard.FlushQuarantine(); err != nil {
			t.Fatal(err)
		}
		_, held := guard.Budget()
		opts := &arena.Options{Name: "fuzz", Limit: limit, InitialSize: 16 << 10, MaxChunk: 64 << 10}
		var a fuzzArena
		var err error
		if kind&1 == 0 {
			if kind&2 != 0 { // hardened: every other allocation fenced, in 8 slots
				opts.Sample = &hardened.Options{Every: 2, Slots: 8}
			}
			a, err = arena.NewBump(opts)
		} else {
			a, err = arena.NewShared(opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		type live struct {
			p    unsafe.Pointer
			n    uintptr
			tag  byte
			addr uintptr
		}
		var lives []live
		closed := false
		tag := byte(0)
		check := func(p unsafe.Pointer, n, al uintptr) {
			t.Helper()
			if n == 0 {
				return
			}
			addr := uintptr(p)
			if !align.IsAligned(addr, al) {
				t.Fatalf("%#x not aligned to %d", addr, al)
			}
			mem := bytesAt(p, n)
			if !isZero(mem) {
				t.Fatalf("allocation of %d bytes at %#x not zeroed", n, addr)
			}
			for _, l := range lives {
				if addr < l.addr+l.n && addr+n > l.addr {
					t.Fatalf("[%#x, +%d) overlaps live [%#x, +%d)", addr, n, l.addr, l.n)
				}
			}
			tag++
			for i := range mem {
				mem[i] = tag
			}
			lives = append(lives, live{p, n, tag, addr})
		}
		for len(ops) >= 3 {
			op, x, y := ops[0]%6, uintptr(ops[1]), uintptr(ops[2])
			ops = ops[3:]
			var err error
			var wantAlign, argChecked bool
			switch op {
			case 0: // Alloc with any size and alignment, valid or not
				size := x * x * 8 // up to ~512 KiB, past the limit
				al := uintptr(1) << (y % 14)
				if y >= 200 {
					al = y // not a power of two, mostly
				}
				wantAlign = !align.IsPowerOfTwo(al) || al > uintptr(align.PageSize())
				var p unsafe.Pointer
				p, err = a.Alloc(size, al)
				if err == nil {
					check(p, size, al)
				}
			case 1:
				var p *node
				p, err = arena.New[node](a)
				if err == nil {
					check(unsafe.Pointer(p), unsafe.Sizeof(node{}), unsafe.Alignof(node{}))
				}
			case 2:
				n, c := int(x)-8, int(x)+int(y)
				var s []point
				s, err = arena.MakeSlice[point](a, n, c)
				if n < 0 {
					if !errors.Is(err, arena.ErrSize) && !errors.Is(err, arena.ErrClosed) {
						t.Fatalf("MakeSlice(%d, %d): %v", n, c, err)
					}
					err, argChecked = nil, true
				} else if err == nil && c > 0 {
					check(unsafe.Pointer(unsafe.SliceData(s)), uintptr(c)*unsafe.Sizeof(point{}), unsafe.Alignof(point{}))
				}
			case 3:
				var s string
				s, err = arena.String(a, string(make([]byte, x)))
				if err == nil && len(s) != int(x) {
					t.Fatalf("String: len %d, want %d", len(s), x)
				}
			case 4:
				a.Reset()
				lives = lives[:0]
			case 5:
				if y%8 == 0 { // rarely: the rest of the run checks use after Close
					if err := a.Close(); err != nil {
						t.Fatal(err)
					}
					closed = true
					lives = nil
				}
			}
			switch {
			case argChecked:
			case wantAlign && !errors.Is(err, align.ErrAlignment): // arguments are checked first, even after Close
				t.Fatalf("op %d: err = %v, want align.ErrAlignment", op, err)
			case closed && !wantAlign && op < 4 && !errors.Is(err, arena.ErrClosed) && !(op == 3 && x == 0):
				t.Fatalf("op %d after Close: err = %v, want ErrClosed", op, err)
			case !closed && err != nil && !wantAlign && !errors.Is(err, arena.ErrLimit):
				t.Fatalf("op %d: unexpected error %v", op, err)
			}
			for _, l := range lives {
				mem := bytesAt(l.p, l.n)
				for i := range mem {
					if mem[i] != l.tag {
						t.Fatalf("live allocation at %#x lost byte %d", l.addr, i)
					}
				}
			}
			if st := a.Stats(); st.Committed > limit {
				t.Fatalf("committed %d past the limit %d", st.Committed, limit)
			}
		}
		if err := a.Close(); err != nil {
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
