// Package inject makes system calls fail on purpose, for tests. guard's
// system-call shims ask Fail before each mmap, mprotect, madvise and
// munmap; while a test has armed the switch, every n-th of those calls
// (n drawn afresh, from a seeded generator, after each failure) fails
// with ENOMEM or EAGAIN instead of reaching the kernel, so that the error
// paths of guard, arena and list run as often as their happy paths.
//
// Disarmed, which is always the case outside tests, Fail costs one atomic
// load. Armed, calls are counted and drawn under a mutex, so a seed gives
// the same failures for the same sequence of calls. Arm and Disarm are
// safe for concurrent use, but a test that arms the switch must not run
// in parallel with tests that map memory: they would fail too.
package inject

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// An Op is a kind of system call guard makes.
type Op uint8

const (
	Mmap Op = iota
	Mprotect
	Madvise
	Munmap
	numOps
)

// String names the call.
func (op Op) String() string {
	return [...]string{"mmap", "mprotect", "madvise", "munmap", "?"}[min(op, numOps)]
}

var armed atomic.Bool

var state struct {
	mu      sync.Mutex
	rng     *rand.Rand         // guarded by mu; nil while disarmed
	every   int                // failures are 1 to every calls apart; guarded by mu
	next    int                // calls left before the next failure; guarded by mu
	calls   uint64             // calls seen while armed, ever; guarded by mu
	failed  [numOps]uint64     // failures injected, ever, by op; guarded by mu
	last    [numOps]unix.Errno // the errno of the last failure of each op; guarded by mu
	ops     [numOps]bool       // which ops may fail; guarded by mu
	plan    []bool             // ArmPlan: plan[i] says whether armed call i fails; guarded by mu
	planned bool               // the plan, not rng, decides; guarded by mu
}

// Arm makes one call in every 1 to every (uniformly drawn from seed)
// fail, among the calls of the given ops (all four if none are given).
// every < 1 is taken as 1: every call fails.
func Arm(seed uint64, every int, ops ...Op) {
	state.mu.Lock()
	defer state.mu.Unlock()
	state.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	state.every = max(every, 1)
	state.next = 1 + state.rng.IntN(state.every)
	state.planned, state.plan = false, nil
	state.ops = [numOps]bool{}
	for _, op := range ops {
		state.ops[op] = true
	}
	if len(ops) == 0 {
		state.ops = [numOps]bool{true, true, true, true}
	}
	armed.Store(true)
}

// ArmPlan makes the calls of the given ops fail as plan says, in order:
// the i-th such call fails with ENOMEM if plan[i] is true; calls past the
// plan succeed. For tests that need one exact sequence of failures.
func ArmPlan(plan []bool, ops ...Op) {
	Arm(0, 1, ops...)
	state.mu.Lock()
	defer state.mu.Unlock()
	state.planned, state.plan = true, plan
}

// Disarm stops injecting failures; calls reach the kernel again.
func Disarm() {
	state.mu.Lock()
	defer state.mu.Unlock()
	armed.Store(false)
	state.rng = nil
}

// Fail returns the errno the call op about to be made must fail with, or
// 0 if it is to be made. A call told to fail must not reach the kernel,
// and must be reported as the kernel's own failure would be. Safe for
// concurrent use; one atomic load while disarmed.
func Fail(op Op) unix.Errno {
	if !armed.Load() {
		return 0
	}
	return fail(op)
}

func fail(op Op) unix.Errno {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.rng == nil || !state.ops[op] {
		return 0
	}
	state.calls++
	if state.planned {
		if len(state.plan) == 0 {
			return 0
		}
		f := state.plan[0]
		state.plan = state.plan[1:]
		if !f {
			return 0
		}
		state.failed[op]++
		state.last[op] = unix.ENOMEM
		return unix.ENOMEM
	}
	if state.next--; state.next > 0 {
		return 0
	}
	state.next = 1 + state.rng.IntN(state.every)
	e := unix.ENOMEM
	if state.rng.IntN(2) == 0 {
		e = unix.EAGAIN
	}
	state.failed[op]++
	state.last[op] = e
	return e
}

// Stats are the counts since the process started.
type Stats struct {
	Calls    uint64            // calls seen while armed
	Failures uint64            // calls failed on purpose, all ops
	ByOp     map[string]uint64 // failures by op name
}

// Counts returns the counts since the process started.
func Counts() Stats {
	state.mu.Lock()
	defer state.mu.Unlock()
	s := Stats{Calls: state.calls, ByOp: make(map[string]uint64)}
	for op, n := range state.failed {
		s.Failures += n
		s.ByOp[Op(op).String()] = n
	}
	return s
}
