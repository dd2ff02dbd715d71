//go:build linux

package guard_test

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
)

// FuzzSharedCommit replays random sequences of Commit (within and past
// the reservation) and writes on a shared region against a model: the
// file is as long as the committed part, the region never moves, every
// byte written reads back, the first page past the committed end faults
// and is named, and the kernel holds exactly the mappings guard charged
// (three: guard, file, reserved and guard).
func FuzzSharedCommit(f *testing.F) {
	f.Add(byte(1), []byte{0, 3, 1, 7, 2, 9, 4})
	f.Add(byte(3), []byte{2, 60, 1, 1, 0, 5})
	f.Add(byte(8), []byte{0, 0, 3, 30, 6, 1})
	const reserve = 8
	f.Fuzz(func(t *testing.T, initial byte, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64] // each step reads /proc/self/maps
		}
		pages := int(initial%reserve) + 1
		r, err := guard.MapShared(pages*ps-int(initial)%ps, &guard.Options{Name: "fz-shared", Reserve: reserve * ps})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		file, err := r.SharedFile()
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		addr := r.Addr()
		model := make([]byte, reserve) // the byte at the start of each page
		for i, op := range ops {
			switch arg := int(op / 3); op % 3 {
			case 0: // commit, sometimes past the reservation
				want := arg%(reserve+2) + 1
				err := r.Commit(want * ps)
				switch {
				case want > reserve && !errors.Is(err, guard.ErrRange):
					t.Fatalf("step %d: commit %d pages of %d: %v, want ErrRange", i, want, reserve, err)
				case want <= reserve && err != nil:
					t.Fatalf("step %d: commit %d pages: %v", i, want, err)
				case err == nil:
					pages = max(pages, want)
				}
			case 1: // write the first byte of a committed page
				p := arg % pages
				model[p] = byte(i + 1)
				r.Bytes()[p*ps] = byte(i + 1)
			case 2: // the first uncommitted page faults, named
				if pages == reserve {
					continue
				}
				err := guard.Catch(func() { load(at(r, pages*ps)) })
				var fe *guard.FaultError
				if !errors.As(err, &fe) || fe.Part != guard.PartReserved || fe.Region != "fz-shared" {
					t.Fatalf("step %d: load past %d committed pages: %v", i, pages, err)
				}
			}
			if r.Addr() != addr || r.Committed() != pages*ps || len(r.Bytes()) != pages*ps {
				t.Fatalf("step %d: region at %#x with %d committed, want %#x with %d", i, r.Addr(), r.Committed(), addr, pages*ps)
			}
			var st unix.Stat_t
			if err := unix.Fstat(int(file.Fd()), &st); err != nil || st.Size != int64(pages*ps) {
				t.Fatalf("step %d: file holds %d bytes (%v), want %d", i, st.Size, err, pages*ps)
			}
			for p := range pages {
				if r.Bytes()[p*ps] != model[p] {
					t.Fatalf("step %d: page %d holds %d, want %d", i, p, r.Bytes()[p*ps], model[p])
				}
			}
			const want = 3 // at full size: guard, file, guard
			if got := len(linesOf(t, r)); got != want || r.Mappings() != want {
				t.Fatalf("step %d: kernel has %d mappings, guard charged %d, want %d", i, got, r.Mappings(), want)
			}
		}
	})
}
