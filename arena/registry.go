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

// A Summary is what the process-wide registry knows of one live arena,
// as of Updated. Nothing is assembled on an arena's hot path: the
// registry asks when a snapshot is taken (TakeSnapshot, the expvar
// handler, arenastat watch), and each kind answers in its own way.
//
//   - A SyncFreeList or a Shared is asked at snapshot time, under its
//     lock, and is never behind.
//   - A Bump belongs to one goroutine, whose plain counters no other may
//     read. TakeSnapshot shows what it last published, and asks it for
//     fresh numbers; the Bump answers at its next Reset, Trim, Stats or
//     new chunk (one atomic load when nobody asked), so a Bump in use is
//     at most one snapshot behind, and Updated says since when. It also
//     publishes whenever its chunks change.
//   - A plain FreeList publishes its counters every 1024 Allocs and Frees
//     and at Stats (see freelist_stats.go).
//   - A Memfd publishes the file's cursor and size, which every process
//     attached to it moves, at its next Unlock or Stats after a snapshot
//     asked (see memfd_stats.go): at most one snapshot behind.
//
// Site, where the arena was created, is formatted the first time a
// snapshot shows it, once per call site in the process.
type Summary struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"` // "bump", "shared", "freelist", "memfd"
	Site      string    `json:"site"` // where it was created
	InUse     uint64    `json:"in_use"`
	Committed uint64    `json:"committed"`
	Chunks    int       `json:"chunks"`           // mappings: chunks and large blocks
	Cached    uint64    `json:"cached,omitempty"` // a FreeList's freed large blocks kept for reuse, in Committed
	Allocs    uint64    `json:"allocs"`
	Resets    uint64    `json:"resets"`
	Ranges    []Range   `json:"ranges"` // usable address ranges of its mappings
	Updated   time.Time `json:"updated"`
	// Classes are a FreeList's size classes with at least one span,
	// smallest first, as in Stats.Classes; nil for the other kinds. A
	// plain FreeList builds them at a Stats call, or at its next
	// publication after a snapshot asked, so they may be one snapshot
	// behind the rest of its row.
	Classes []ClassStats `json:"classes,omitempty"`
	// Sample describes hardened mode's sampled blocks (Options.Sample);
	// nil when it is off.
	Sample *hardened.Stats `json:"sample,omitempty"`
	// Shards holds a SyncFreeList's shards, one per P, as Stats.Shards;
	// empty for other arenas.
	Shards []ShardStats `json:"shards,omitempty"`
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
	arenas map[uint64]*regEntry // guarded by mu
}

// regEntry is one arena in the registry.
type regEntry struct {
	slot atomic.Pointer[Summary] // the latest summary the arena stored
	// live, when set, assembles the arena's summary at snapshot time, in
	// place of slot's. It must be safe to call from any goroutine, and
	// must not take registry.mu. Guarded by registry.mu.
	live func() Summary
	pc   uintptr // the creation site, for a summary whose Site is ""; never changes
}

// asks counts the snapshots taken: a Bump whose last answer is older
// than the latest ask publishes at its next Reset, Trim or new chunk
// (Bump.publish).
var asks atomic.Uint64

// registerAt adds an arena created at pc, whose Site is formatted only
// when a snapshot first shows it, and stores its id and the slot its
// summaries go in in *id and *slot. live, if not nil, is called by
// TakeSnapshot for the arena's summary (see regEntry.live) in place of
// slot's. The stores are made under the registry's lock, so that live
// may read them from TakeSnapshot's goroutine: assigned after the call
// returns, they would race with a snapshot taken meanwhile, which could
// find the slot still nil.
func registerAt(s Summary, pc uintptr, live func() Summary, id *uint64, slot **atomic.Pointer[Summary]) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.arenas == nil {
		registry.arenas = make(map[uint64]*regEntry)
	}
	registry.next++
	s.ID, s.Updated = registry.next, time.Now()
	e := &regEntry{live: live, pc: pc}
	e.slot.Store(&s)
	registry.arenas[s.ID] = e
	*id, *slot = s.ID, &e.slot
}

// setLive replaces the function TakeSnapshot calls for arena id's
// summary.
func setLive(id uint64, live func() Summary) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if e := registry.arenas[id]; e != nil {
		e.live = live
	}
}

// unregister removes a closed arena.
func unregister(id uint64) {
	registry.mu.Lock()
	delete(registry.arenas, id)
	registry.mu.Unlock()
}

// TakeSnapshot returns the summaries of all live arenas, oldest first;
// each says when it was assembled (Summary.Updated). Safe for concurrent
// use, including with the arenas' own goroutines. It waits for each
// SyncFreeList's lock, one at a time, and never for anything else an
// arena holds.
func TakeSnapshot() Snapshot {
	type asked struct {
		e    *regEntry
		live func() Summary
	}
	asks.Add(1) // every Bump answers at its next event: the next snapshot has its numbers
	registry.mu.Lock()
	entries := make([]asked, 0, len(registry.arenas))
	for _, e := range registry.arenas {
		entries = append(entries, asked{e, e.live})
	}
	registry.mu.Unlock()
	// The arenas are asked without registry.mu: a SyncFreeList's Close
	// takes registry.mu under its own lock, and live takes that lock.
	arenas := make([]Summary, 0, len(entries))
	for _, a := range entries {
		var s Summary
		if a.live != nil {
			s = a.live()
		} else {
			s = *a.e.slot.Load()
		}
		if s.Site == "" {
			s.Site = site(a.e.pc)
		}
		arenas = append(arenas, s)
	}
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
