package guard

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmarena/mmarena/internal/maptrace"
)

// A Syscall is one system call guard made: the lecture's mmap, munmap,
// mprotect and madvise, made visible.
type Syscall struct {
	Op   string    `json:"op"`            // "mmap", "munmap", "mprotect(PROT_NONE)", "madvise(MADV_DONTNEED)", ...
	Addr uintptr   `json:"addr"`          // start of the range (0 for a failed mmap)
	Len  uintptr   `json:"len"`           // bytes
	Why  string    `json:"why"`           // what guard was doing: `commit in region "nodes"`
	When time.Time `json:"when"`          // when the call returned
	Err  string    `json:"err,omitempty"` // the errno, if it failed
}

// String formats the call as strace would, with the reason after it.
func (s Syscall) String() string {
	e := ""
	if s.Err != "" {
		e = " = " + s.Err
	}
	return fmt.Sprintf("%s(%#x, %d)%s  %s", s.Op, s.Addr, s.Len, e, s.Why)
}

// reason says why a system call is made: an operation and the region's
// name. Two strings, so that making one costs nothing when tracing is off.
type reason struct{ what, name string }

// String reads "commit in region \"nodes\"".
func (r reason) String() string {
	if r.name == "" {
		return r.what
	}
	return fmt.Sprintf("%s in region %q", r.what, r.name)
}

// tracer is a bounded ring of the last system calls, off by default.
var tracer struct {
	on   atomic.Bool
	mu   sync.Mutex
	ring []Syscall // guarded by mu; len is the capacity set by SetTrace
	n    uint64    // calls recorded since SetTrace; guarded by mu
}

// SetTrace starts keeping the last n system calls guard makes, readable
// with Trace; n <= 0 stops and forgets them. Recording costs a mutex and
// a clock read per call, next to a system call. Safe for concurrent use.
func SetTrace(n int) {
	tracer.mu.Lock()
	defer tracer.mu.Unlock()
	tracer.ring, tracer.n = nil, 0
	if n > 0 {
		tracer.ring = make([]Syscall, n)
	}
	tracer.on.Store(n > 0)
}

// Trace returns the recorded system calls, oldest first, and how many
// were recorded in all since SetTrace (more than returned once the ring
// has wrapped). Safe for concurrent use.
func Trace() ([]Syscall, uint64) {
	tracer.mu.Lock()
	defer tracer.mu.Unlock()
	size := uint64(len(tracer.ring))
	if size == 0 {
		return nil, 0
	}
	first := uint64(0)
	if tracer.n > size {
		first = tracer.n - size
	}
	out := make([]Syscall, 0, tracer.n-first)
	for i := first; i < tracer.n; i++ {
		out = append(out, tracer.ring[i%size])
	}
	return out, tracer.n
}

// A change says what a system call did to the set of ranges guard holds
// mapped, for the ledger the tests check (internal/maptrace).
type change uint8

const (
	keeps  change = iota // the mappings stay (mprotect, madvise, a file mapped over a range guard already holds)
	maps                 // a new mapping of [addr, addr+n)
	unmaps               // [addr, addr+n) is unmapped
)

// record notes one system call guard made, and is the only place that
// does, for both of its observers: the trace (SetTrace), when tracing is
// on, and, when the call succeeded and c is maps or unmaps, the ledger of
// mapped ranges that the tests' leak check reads (internal/maptrace).
// Every shim calls it once, after the call, failed or not.
func record(op string, c change, addr, n uintptr, why reason, err error) {
	if err == nil && c != keeps {
		maptrace.Record(c == maps, addr, addr+n)
	}
	if !tracer.on.Load() {
		return
	}
	s := Syscall{Op: op, Addr: addr, Len: n, Why: why.String(), When: time.Now()}
	if err != nil {
		s.Err = err.Error()
	}
	tracer.mu.Lock()
	if size := uint64(len(tracer.ring)); size > 0 {
		tracer.ring[tracer.n%size] = s
		tracer.n++
	}
	tracer.mu.Unlock()
}
