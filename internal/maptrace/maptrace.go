// Package maptrace is guard's ledger of the address ranges it has mapped
// and unmapped, kept so that the mapping-leak check of the tests
// (internal/mapcheck) can prove that everything mapped during a test was
// given back, and tell mmarena's mappings from those the Go runtime or
// the C library make of their own accord in the ranges it freed. It keeps
// the last Kept events; recording costs one mutex round-trip per mmap or
// munmap, which are system calls anyway. guard feeds it from the same
// record that feeds its public trace (guard.SetTrace), one per call.
package maptrace

import (
	"slices"
	"sync"
)

// Kept is how many events are remembered.
const Kept = 1 << 14

// An Event is one successful mmap (Map true) or munmap of [Start, End).
type Event struct {
	Map        bool
	Start, End uintptr
}

var ring struct {
	mu sync.Mutex
	ev [Kept]Event // guarded by mu
	n  uint64      // events recorded ever; guarded by mu
}

// Record remembers an event.
func Record(mapped bool, start, end uintptr) {
	ring.mu.Lock()
	ring.ev[ring.n%Kept] = Event{mapped, start, end}
	ring.n++
	ring.mu.Unlock()
}

// Mark returns a position to pass to Since.
func Mark() uint64 {
	ring.mu.Lock()
	defer ring.mu.Unlock()
	return ring.n
}

// Since returns the events recorded after mark, oldest first, and false
// if some have been forgotten since.
func Since(mark uint64) ([]Event, bool) {
	ring.mu.Lock()
	defer ring.mu.Unlock()
	if ring.n-mark > Kept {
		return nil, false
	}
	out := make([]Event, 0, ring.n-mark)
	for i := mark; i < ring.n; i++ {
		out = append(out, ring.ev[i%Kept])
	}
	return out, true
}

// A Range is [Start, End).
type Range struct{ Start, End uintptr }

// Left returns the ranges the events mapped and did not unmap again,
// replaying them in order, sorted and merged.
func Left(events []Event) []Range {
	var held []Range
	for _, e := range events {
		if e.Map {
			held = append(held, Range{e.Start, e.End})
			continue
		}
		var next []Range
		for _, r := range held {
			if r.End <= e.Start || r.Start >= e.End {
				next = append(next, r)
				continue
			}
			if r.Start < e.Start {
				next = append(next, Range{r.Start, e.Start})
			}
			if r.End > e.End {
				next = append(next, Range{e.End, r.End})
			}
		}
		held = next
	}
	slices.SortFunc(held, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	var out []Range
	for _, r := range held {
		if k := len(out) - 1; k >= 0 && out[k].End >= r.Start {
			out[k].End = max(out[k].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}
