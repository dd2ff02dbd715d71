package inject

import (
	"testing"

	"golang.org/x/sys/unix"
)

// draw returns which of n calls fail, and with what, for a seed.
func draw(seed uint64, every, n int, ops ...Op) []unix.Errno {
	Arm(seed, every, ops...)
	defer Disarm()
	out := make([]unix.Errno, n)
	for i := range out {
		out[i] = Fail(Op(i % int(numOps)))
	}
	return out
}

func TestArm(t *testing.T) {
	if e := Fail(Mmap); e != 0 {
		t.Fatalf("disarmed: Fail = %v", e)
	}
	a, b := draw(42, 5, 200), draw(42, 5, 200)
	failed := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("call %d: %v, then %v: a seed must repeat its failures", i, a[i], b[i])
		}
		if a[i] != 0 {
			failed++
			if a[i] != unix.ENOMEM && a[i] != unix.EAGAIN {
				t.Fatalf("call %d failed with %v", i, a[i])
			}
		}
	}
	if failed < 200/5 || failed > 200/1 {
		t.Fatalf("%d of 200 calls failed with every=5", failed)
	}
	for i, e := range draw(1, 1, 20) {
		if e == 0 {
			t.Fatalf("every=1: call %d did not fail", i)
		}
	}
	for i, e := range draw(1, 1, 20, Munmap) {
		if (e != 0) != (Op(i%int(numOps)) == Munmap) {
			t.Fatalf("only munmap armed: call %d (%v) got %v", i, Op(i%int(numOps)), e)
		}
	}
	if e := Fail(Munmap); e != 0 {
		t.Fatalf("after Disarm: Fail = %v", e)
	}
}

// BenchmarkFailDisarmed is the cost every guard system call pays.
func BenchmarkFailDisarmed(b *testing.B) {
	for b.Loop() {
		if Fail(Munmap) != 0 {
			b.Fatal("armed")
		}
	}
}
