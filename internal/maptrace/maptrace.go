// Package maptrace remembers the address ranges guard has reserved, so
// that the mapping-leak check of the tests (internal/mapcheck) can tell a
// mapping of mmarena's from one the Go runtime made of its own accord.
// It keeps the last Kept reservations; recording costs one mutex
// round-trip per guard.Map, which already makes system calls.
package maptrace

import "sync"

// Kept is how many reservations are remembered.
const Kept = 1 << 12

// A Range is one reservation, [Start, End).
type Range struct{ Start, End uintptr }

var ring struct {
	mu sync.Mutex
	r  [Kept]Range // guarded by mu
	n  uint64      // reservations recorded ever; guarded by mu
}

// Record remembers a reservation.
func Record(start, end uintptr) {
	ring.mu.Lock()
	ring.r[ring.n%Kept] = Range{start, end}
	ring.n++
	ring.mu.Unlock()
}

// Since returns the reservations recorded after the mark returned by
// Mark, and false if some have been forgotten since.
func Since(mark uint64) ([]Range, bool) {
	ring.mu.Lock()
	defer ring.mu.Unlock()
	if ring.n-mark > Kept {
		return nil, false
	}
	out := make([]Range, 0, ring.n-mark)
	for i := mark; i < ring.n; i++ {
		out = append(out, ring.r[i%Kept])
	}
	return out, true
}

// Mark returns a position to pass to Since.
func Mark() uint64 {
	ring.mu.Lock()
	defer ring.mu.Unlock()
	return ring.n
}
