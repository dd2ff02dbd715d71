package guard_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// pageState is the model's view of one usable page.
type pageState uint8

const (
	pReady pageState = iota
	pReserved
	pProtected
	pPunched
)

var statePart = map[pageState]guard.Part{
	pReady: guard.PartUsable, pReserved: guard.PartReserved,
	pProtected: guard.PartProtected, pPunched: guard.PartPunched,
}

// FuzzRegionOps replays random sequences of Commit, Protect, Unprotect,
// Release, Punch and writes against a model of page states and contents.
// After each step it checks what Lookup says of every page, the contents
// of every accessible page, that one inaccessible page really faults, and
// that the kernel holds no more mappings for the region than guard
// charged to its budget.
func FuzzRegionOps(f *testing.F) {
	f.Add(byte(0), []byte{1, 0, 2, 5, 3, 4, 2, 2, 0, 12, 4, 6, 1})
	f.Add(byte(1), []byte{1, 1, 3, 4, 0, 2, 2, 1, 3, 0, 20, 5, 2, 9, 3, 2})
	f.Add(byte(1), []byte{0, 30, 4, 10, 5, 1, 12, 3, 5, 0, 1, 2, 1, 7, 2})
	const pages, reserve = 16, 24
	f.Fuzz(func(t *testing.T, fence byte, ops []byte) {
		if len(ops) > 3*64 {
			ops = ops[:3*64] // each step reads /proc/self/maps: keep runs short
		}
		opts := &guard.Options{Name: "fz", Reserve: reserve * ps, Fence: guard.FenceMprotect}
		if fence&1 == 1 {
			opts.Fence = guard.FenceAuto
		}
		r, err := guard.Map(pages/2*ps, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()

		state := make([]pageState, reserve)
		value := make([]byte, reserve) // first byte of each page
		for i := range state {
			if i >= pages/2 {
				state[i] = pReserved
			}
		}
		committed := pages / 2

		all := func(off, n int, ok ...pageState) bool {
			for i := off; i < off+n; i++ {
				match := false
				for _, s := range ok {
					match = match || state[i] == s
				}
				if !match {
					return false
				}
			}
			return true
		}
		set := func(off, n int, s pageState) {
			for i := off; i < off+n; i++ {
				state[i] = s
				value[i] = 0
			}
		}
		for len(ops) >= 3 {
			op, a, b := ops[0]%6, int(ops[1])%reserve, 1+int(ops[2])%4
			ops = ops[3:]
			if a+b > reserve {
				b = reserve - a
			}
			var err error
			var want bool // whether the model expects success
			switch op {
			case 0:
				err = r.Commit(a*ps + 1)
				n := a + 1
				want = n <= committed || all(committed, n-committed, pReserved)
				if want && n > committed {
					set(committed, n-committed, pReady)
					committed = n
				}
			case 1:
				err = r.Protect(a*ps, b*ps)
				if want = all(a, b, pReady, pProtected); want {
					set(a, b, pProtected)
				}
			case 2:
				err = r.Unprotect(a*ps, b*ps)
				if want = all(a, b, pReady, pProtected); want {
					for i := a; i < a+b; i++ {
						if state[i] == pProtected {
							state[i], value[i] = pReady, 0
						}
					}
				}
			case 3:
				err = r.Release(a*ps, b*ps)
				if want = all(a, b, pReady, pProtected); want {
					for i := a; i < a+b; i++ {
						value[i] = 0
					}
				}
			case 4:
				err = r.Punch(a*ps, b*ps)
				if want = all(a, b, pReady, pProtected, pReserved); want {
					set(a, b, pPunched)
				}
			case 5:
				want = true
				if state[a] == pReady {
					v := byte(b + len(ops))
					r.Bytes()[a*ps] = v
					value[a] = v
				}
			}
			if want != (err == nil) {
				t.Fatalf("op %d(%d, %d): err = %v, model expected success=%v; states %v", op, a, b, err, want, state)
			}
			if err != nil && !errors.Is(err, guard.ErrRange) {
				t.Fatalf("op %d(%d, %d): unexpected error %v", op, a, b, err)
			}
			if got := r.Committed(); got != committed*ps {
				t.Fatalf("Committed() = %d, model %d", got, committed*ps)
			}
			base := r.Addr()
			for i := range state {
				loc := guard.Lookup(base + uintptr(i*ps))
				if loc.Part != statePart[state[i]] || loc.Region != "fz" {
					t.Fatalf("page %d: Lookup says %v, model %v", i, loc, state[i])
				}
				if state[i] == pReady {
					if got := r.Bytes()[i*ps]; got != value[i] {
						t.Fatalf("page %d reads %d, model %d", i, got, value[i])
					}
				}
			}
			// One page the model calls inaccessible must fault.
			if state[a] != pReady {
				err := guard.Catch(func() { load(at(r, a*ps+b)) })
				var fe *guard.FaultError
				if !errors.As(err, &fe) || fe.Part != statePart[state[a]] {
					t.Fatalf("page %d (%v): Catch = %v", a, state[a], err)
				}
			}
			if runtime.GOOS == "linux" {
				checkMappings(t, r, state)
			}
		}
	})
}

// checkMappings compares the kernel's mappings over the region's mapped
// pages with what guard charged for it.
func checkMappings(t *testing.T, r *guard.Region, state []pageState) {
	t.Helper()
	ms, err := procmaps.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	g := uintptr(r.GuardSize())
	lo, hi := r.Addr()-g, r.Addr()+uintptr(r.Size())+g
	n := 0
	for _, m := range procmaps.Overlapping(ms, lo, hi) {
		// A line wholly inside a hole belongs to someone else now.
		inHole := true
		for a := max(m.Start, r.Addr()); a < min(m.End, hi-g); a += uintptr(ps) {
			inHole = inHole && state[(a-r.Addr())/uintptr(ps)] == pPunched
		}
		if m.Start < r.Addr() || m.End > hi-g {
			inHole = false // it covers a guard, which is never punched
		}
		if !inHole {
			n++
		}
	}
	if n > r.Mappings() {
		for _, m := range procmaps.Overlapping(ms, lo, hi) {
			t.Log(m.Line, "offset", int64(m.Start)-int64(r.Addr()))
		}
		t.Fatalf("kernel shows %d mappings for the region, guard charged %d", n, r.Mappings())
	}
}
