package arena

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/mmarena/mmarena/arena/hardened"
)

// Stats describe an arena of any kind at one moment. Byte counts are
// exact; Resident is asked of the kernel (mincore) and is 0 where that is
// unsupported. A field that does not apply to the arena's kind is zero,
// as its comment says. A value: safe to read from any goroutine and to
// copy.
type Stats struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`      // "bump", "shared", "freelist" or "memfd"
	Requested uint64 `json:"requested"` // bytes asked for, ever; 0 for a Shared, which does not count
	InUse     uint64 `json:"in_use"`    // bytes handed out and not freed: since the last Reset, alignment padding included; a FreeList's live blocks at their block size
	Peak      uint64 `json:"peak"`      // the highest InUse seen; 0 for a FreeList
	Committed uint64 `json:"committed"` // usable bytes of all mappings: chunks, quarantined ones included, and a FreeList's large blocks
	Reserved  uint64 `json:"reserved"`  // address space held, guard pages included; 0 for a FreeList
	Resident  uint64 `json:"resident"`  // bytes of the mappings in RAM
	Chunks    int    `json:"chunks"`    // chunks mapped and kept, quarantined included; 0 for a FreeList (see Large and Classes)
	Mappings  int    `json:"mappings"`  // kernel mappings the chunks cost; 0 for a FreeList
	Allocs    uint64 `json:"allocs"`    // allocations of one byte or more, ever; 0 for a Shared, which does not count
	Resets    uint64 `json:"resets"`    // 0 for a FreeList, which has no Reset
	Closed    bool   `json:"closed"`

	// The numbers of a FreeList (and SyncFreeList) only; zero for a Bump
	// or a Shared.
	Frees         uint64       `json:"frees,omitempty"`         // successful frees, ever
	Released      uint64       `json:"released,omitempty"`      // bytes given back to the OS, ever
	Syscalls      uint64       `json:"syscalls,omitempty"`      // calls made to map, release and unmap memory, ever
	Large         int          `json:"large,omitempty"`         // blocks with a mapping of their own, allocated
	Cached        uint64       `json:"cached,omitempty"`        // bytes of freed large blocks kept mapped for reuse (Options.LargeCache); in Committed, not in InUse
	Retired       uint64       `json:"retired,omitempty"`       // blocks withdrawn after a write after free (CheckFreed)
	Fragmentation float64      `json:"fragmentation,omitempty"` // Committed / InUse; 0 when nothing is in use
	Classes       []ClassStats `json:"classes,omitempty"`       // classes with at least one span, smallest first
	// Shards holds a SyncFreeList's shards, one per P, in P order; their
	// numbers are in the totals above, but for the central FreeList's
	// (large blocks). Shards not yet in use (one is, until goroutines
	// collide) show zeros. Empty for other arenas.
	Shards []ShardStats `json:"shards,omitempty"`

	// Sample describes the sampled allocations (Options.Sample), which
	// the counts above include; nil when sampling is off, and for a
	// Shared, which does not sample.
	Sample *hardened.Stats `json:"sample,omitempty"`
}

// ClassStats describe one size class of a FreeList.
type ClassStats struct {
	Size  uint64 `json:"size"`   // block size in bytes
	InUse uint64 `json:"in_use"` // blocks allocated
	Free  uint64 `json:"free"`   // free blocks in the class's spans
	Spans int    `json:"spans"`  // spans, the spare included
	Bytes uint64 `json:"bytes"`  // bytes of those spans
}

// ShardStats describe one shard of a SyncFreeList: the cache of small
// blocks of the goroutines running on one P. Held is what the shard
// keeps that only it can hand out: the free blocks of its spans, empty
// spans included until they are released or trimmed. A value: safe to
// read from any goroutine and to copy.
type ShardStats struct {
	Allocs    uint64 `json:"allocs"`    // blocks it handed out, ever
	Frees     uint64 `json:"frees"`     // its blocks freed, ever, Remote included
	Remote    uint64 `json:"remote"`    // of those, freed from another P and collected
	InUse     uint64 `json:"in_use"`    // bytes of its live blocks, at block size
	Held      uint64 `json:"held"`      // bytes of free blocks in its spans
	Committed uint64 `json:"committed"` // bytes of its chunks
}

// String formats the statistics as a small table with human sizes; a
// FreeList's as its totals, then a table of the classes in use.
func (s Stats) String() string {
	if s.Kind == kindFreeList {
		return s.freeListString()
	}
	var b strings.Builder
	state := ""
	if s.Closed {
		state = " (closed)"
	}
	fmt.Fprintf(&b, "%s arena %q%s\n", s.Kind, s.Name, state)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-10s %s\n", k, v) }
	size := func(n uint64) string { return humanize.IBytes(n) }
	row("requested", size(s.Requested))
	row("in use", size(s.InUse)+" (peak "+size(s.Peak)+")")
	row("committed", size(s.Committed))
	row("reserved", size(s.Reserved))
	row("resident", size(s.Resident))
	row("chunks", fmt.Sprintf("%d (%d kernel mappings)", s.Chunks, s.Mappings))
	row("allocs", humanize.Comma(int64(s.Allocs)))
	row("resets", humanize.Comma(int64(s.Resets)))
	return b.String()
}
