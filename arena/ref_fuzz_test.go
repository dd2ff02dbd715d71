package arena_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
)

// FuzzRefs drives allocations, RefOf, Get, Reset, Trim and forged Refs
// across two Bumps with small chunks (so Refs span many slots and a large
// block several) against a model: a Ref of the current generation
// resolves in its own arena to its node with its value, never in the
// other; a Ref kept across a Reset resolves to nil, unless the 8-bit
// generation has wrapped; any Ref, forged ones included, resolves to nil
// or to memory its arena maps now. Ops, one byte each and their
// arguments after: 0 new node, 1 large block, 2 check a Ref, 3 Reset,
// 4 Trim, 5 forged Ref (8 bytes), 6 link two nodes and follow the link.
func FuzzRefs(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 0, 2, 1, 3, 0, 2, 0, 0, 0, 2, 2})
	f.Add([]byte{1, 0, 200, 2, 0, 3, 0, 4, 0, 0, 0, 2, 1})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var bumps [2]*arena.Bump
		for i := range bumps {
			b, err := arena.NewBump(&arena.Options{Name: "fuzz-refs", InitialSize: 16 << 10, MaxChunk: 64 << 10, Limit: 8 << 20, Quarantine: i})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			bumps[i] = b
		}
		type entry struct {
			arena int
			r     arena.Ref[refNode]
			p     *refNode
			v     int64
			gen   int // resets[arena] when made
		}
		var live []entry
		var resets [2]int
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			c := ops[0]
			ops = ops[1:]
			return c
		}
		// check asserts what Get may return for r in arena x.
		check := func(r arena.Ref[refNode], x int) *refNode {
			p := r.Get(bumps[x])
			if p != nil && !arena.Mapped(bumps[x], unsafe.Pointer(p), unsafe.Sizeof(*p)) {
				t.Fatalf("Ref %#x resolved in arena %d to %p, outside its chunks", arena.RefBits(r), x, p)
			}
			return p
		}
		add := func(x int, p *refNode) {
			r, err := arena.RefOf(bumps[x], p)
			if err != nil {
				t.Fatalf("RefOf: %v", err)
			}
			p.v = int64(len(live))*7 + 1
			live = append(live, entry{x, r, p, p.v, resets[x]})
		}
		pick := func() (entry, bool) {
			if len(live) == 0 {
				return entry{}, false
			}
			return live[int(next())%len(live)], true
		}
		for n := 0; len(ops) > 0 && n < 2000; n++ {
			op, x := next()%7, int(next()&1)
			switch op {
			case 0:
				p, err := arena.New[refNode](bumps[x])
				if errors.Is(err, arena.ErrLimit) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				add(x, p)
			case 1:
				s, err := arena.MakeSlice[refNode](bumps[x], 1+int(next())*64, 1+int(next())*64)
				if errors.Is(err, arena.ErrLimit) || errors.Is(err, arena.ErrSize) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				add(x, &s[len(s)-1])
			case 2:
				e, ok := pick()
				if !ok {
					continue
				}
				p := check(e.r, e.arena)
				switch d := resets[e.arena] - e.gen; {
				case d == 0 && (p != e.p || p.v != e.v):
					t.Fatalf("Ref %#x of the current generation resolved to %p (v %d), want %p (v %d)", arena.RefBits(e.r), p, vOf(p), e.p, e.v)
				case d != 0 && d%256 != 0 && p != nil:
					t.Fatalf("Ref %#x kept across %d Resets resolved to %p", arena.RefBits(e.r), d, p)
				}
				if q := check(e.r, 1-e.arena); q != nil {
					t.Fatalf("Ref %#x of arena %d resolved in arena %d to %p", arena.RefBits(e.r), e.arena, 1-e.arena, q)
				}
			case 3:
				bumps[x].Reset()
				resets[x]++
			case 4:
				if err := bumps[x].Trim(); err != nil {
					t.Fatal(err)
				}
			case 5:
				var w [8]byte
				for i := range w {
					w[i] = next()
				}
				v := binary.LittleEndian.Uint64(w[:])
				if e, ok := pick(); ok && v>>56 == 0 {
					// Keep e's tag and generation, so the offset is what
					// is tested: past the chunk, in a free slot, anywhere.
					v = arena.RefBits(e.r)&^(1<<arena.RefOffBits-1) | v&(1<<arena.RefOffBits-1)
				}
				check(arena.RefFromBits[refNode](v), 0)
				check(arena.RefFromBits[refNode](v), 1)
			case 6:
				e, ok1 := pick()
				g, ok2 := pick()
				if !ok1 || !ok2 || e.arena != g.arena || resets[e.arena] != e.gen || resets[g.arena] != g.gen {
					continue
				}
				e.p.next = g.r
				if got := e.p.next.Get(bumps[e.arena]); got != g.p {
					t.Fatalf("link resolved to %p, want %p", got, g.p)
				}
			}
		}
		for i, b := range bumps {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			for _, e := range live {
				if e.arena == i && e.r.Get(b) != nil {
					t.Fatalf("Ref %#x resolved after Close", arena.RefBits(e.r))
				}
			}
		}
	})
}

func vOf(p *refNode) int64 {
	if p == nil {
		return -1
	}
	return p.v
}
