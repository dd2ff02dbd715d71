package arena

import (
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// SnapshotFormat names the layout of Snapshot's JSON; it changes when a
// field changes meaning, so tools can refuse what they do not know.
const SnapshotFormat = "arenastat-1"

// A Summary is what the process-wide registry knows of one live arena.
// The arena refreshes it at its slow-path events (a new chunk, span or
// large block, Reset, Trim, Stats) rather than on every allocation, which
// would cost the fast path; between events it may lag.
type Summary struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // "bump", "shared", "freelist"
	Site      string    `json:"site"` // where it was created
	InUse     uint64    `json:"in_use"`
	Committed uint64    `json:"committed"`
	Chunks    int       `json:"chunks"` // mappings: chunks and large blocks
	Allocs    uint64    `json:"allocs"`
	Resets    uint64    `json:"resets"`
	Ranges    []Range   `json:"ranges"` // usable address ranges of its mappings
	Updated   time.Time `json:"updated"`
	// Sample describes hardened mode's sampled blocks (Options.Sample);
	// nil when it is off.
	Sample *hardened.Stats `json:"sample,omitempty"`
	// Leaked is set when the arena became unreachable without Close. It
	// stays listed, with its last numbers: its memory stays mapped.
	Leaked bool `json:"leaked,omitempty"`
}

// A Range is the usable part of one mapping, [Start, End).
type Range struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
}

// A Snapshot is the state of every live arena in the process, with
// guard's mapping budget and, if tracing is on (guard.SetTrace), the last
// system calls made.
type Snapshot struct {
	Format string    `json:"format"`
	Time   time.Time `json:"time"`
	PID    int       `json:"pid"`
	Arenas []Summary `json:"arenas"`
	// Budget is guard's count of the kernel mappings it holds, and its
	// limit (guard.Budget).
	Budget struct {
		Limit int `json:"limit"`
		Held  int `json:"held"`
	} `json:"budget"`
	// Quarantine is guard's quarantine of closed arenas' ranges: what it
	// holds, its bound, its evictions and its oldest entry.
	Quarantine guard.QuarantineStats `json:"quarantine"`
	Syscalls   []guard.Syscall       `json:"syscalls,omitempty"`
}

// registry holds each live arena's latest summary. Entries are added by
// the constructors and removed by Close (or by the leak cleanup).
var registry struct {
	mu     sync.Mutex
	next   uint64
	arenas map[uint64]*atomic.Pointer[Summary] // guarded by mu
}

// register adds an arena and returns its id and the slot its summaries go
// in.
func register(s Summary) (uint64, *atomic.Pointer[Summary]) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.arenas == nil {
		registry.arenas = make(map[uint64]*atomic.Pointer[Summary])
	}
	registry.next++
	s.ID, s.Updated = registry.next, time.Now()
	slot := new(atomic.Pointer[Summary])
	slot.Store(&s)
	registry.arenas[s.ID] = slot
	return s.ID, slot
}

// unregister removes a closed arena.
func unregister(id uint64) {
	registry.mu.Lock()
	delete(registry.arenas, id)
	registry.mu.Unlock()
}

// TakeSnapshot returns the summaries of all live arenas, oldest first.
// Safe for concurrent use, including with the arenas' own goroutines.
func TakeSnapshot() Snapshot {
	registry.mu.Lock()
	arenas := make([]Summary, 0, len(registry.arenas))
	for _, slot := range registry.arenas {
		arenas = append(arenas, *slot.Load())
	}
	registry.mu.Unlock()
	sort.Slice(arenas, func(i, j int) bool { return arenas[i].ID < arenas[j].ID })
	calls, _ := guard.Trace()
	snap := Snapshot{Format: SnapshotFormat, Time: time.Now(), PID: os.Getpid(),
		Arenas: arenas, Quarantine: guard.Quarantined(), Syscalls: calls}
	snap.Budget.Limit, snap.Budget.Held = guard.Budget()
	return snap
}

// markLeaked flags an arena's summary as leaked: it stays in the
// registry, since its memory stays mapped.
func markLeaked(slot *atomic.Pointer[Summary]) {
	s := *slot.Load()
	s.Leaked, s.Updated = true, time.Now()
	slot.Store(&s)
}
