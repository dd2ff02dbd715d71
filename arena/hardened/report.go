package hardened

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/callers"
)

// A Kind names what a memory error did. It is a value, safe to use
// from any goroutine.
type Kind uint8

const (
	KindOverflow      Kind = iota + 1 // an access past a live block's end
	KindUnderflow                     // an access before a live block's start
	KindUseAfterFree                  // an access to a block after Free
	KindUseAfterReset                 // an access to a block after its arena's Reset
	KindUseAfterClose                 // an access to a block after its arena's Close
)

var kindNames = [...]string{
	KindOverflow:      "overflow",
	KindUnderflow:     "underflow",
	KindUseAfterFree:  "use after free",
	KindUseAfterReset: "use after reset",
	KindUseAfterClose: "use after close",
}

// String names the kind as reports do: "use after free".
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// A Report explains a fault at or near a block of a Pool, or in the range
// of an arena closed since: what kind of error it was, which block, how
// far from it, and the call stacks that allocated and freed the block.
// Once returned it belongs to the caller and is not written again; it
// may be read from any goroutine and copied.
type Report struct {
	Kind  Kind
	Addr  uintptr // the faulting address
	Arena string  // the arena's name
	Block uintptr // the block's first byte
	Size  uintptr // the block's size, as requested
	// Distance is how many bytes past the block's end (overflow) or
	// before its start (underflow) Addr is, counting the first byte
	// outside as 1; for the use-after kinds it is Addr's offset from the
	// block's start, which may be negative or past its size. An access
	// through a struct pointer may fault at the struct's first byte, where
	// Go probes a pointer for nil, rather than at the field.
	Distance int64
	// AtFree is true when the overflow was found by Free, in the bytes
	// between the block's end and the fence that alignment left, rather
	// than by a fault.
	AtFree    bool
	Allocated []string          // "function file:line", innermost first; the arena's own frames left out
	Freed     []string          // likewise, for the Free, Reset or Close; nil while the block is live
	Fault     *guard.FaultError // the fault the report explains; nil for one made by Free
}

// Error reads like `arena: use after free: 8 bytes into a 48-byte block
// at 0x7f3c2a401fd0 of "cache", allocated at main.load (load.go:31),
// freed at main.evict (cache.go:77)`.
func (r *Report) Error() string {
	var b strings.Builder
	b.WriteString("arena: ")
	b.WriteString(r.Kind.String())
	b.WriteString(": ")
	b.WriteString(r.where())
	if len(r.Allocated) > 0 {
		b.WriteString(", allocated at ")
		b.WriteString(r.Allocated[0])
	}
	if len(r.Freed) > 0 {
		b.WriteString(", ")
		b.WriteString(r.freedWord())
		b.WriteString(" at ")
		b.WriteString(r.Freed[0])
	}
	return b.String()
}

// where says where the address was, relative to the block.
func (r *Report) where() string {
	blk := fmt.Sprintf("%d-byte block at %#x of %q", r.Size, r.Block, r.Arena)
	switch r.Kind {
	case KindOverflow:
		s := fmt.Sprintf("%s past the end of a %s", bytesWord(r.Distance), blk)
		if r.AtFree {
			s += " (found by Free in the bytes alignment left before the fence)"
		}
		return s
	case KindUnderflow:
		return fmt.Sprintf("%s before the start of a %s", bytesWord(r.Distance), blk)
	}
	switch {
	case r.Distance < 0:
		return fmt.Sprintf("%s before the start of a %s", bytesWord(-r.Distance), blk)
	case r.Distance >= int64(r.Size):
		return fmt.Sprintf("%s past the end of a %s", bytesWord(r.Distance-int64(r.Size)+1), blk)
	}
	return fmt.Sprintf("%s into a %s", bytesWord(r.Distance), blk)
}

func (r *Report) freedWord() string {
	switch r.Kind {
	case KindUseAfterReset:
		return "reset"
	case KindUseAfterClose:
		return "closed"
	}
	return "freed"
}

// String is the report over several lines, with the call stacks.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", r.Kind, r.where())
	stack := func(what string, fs []string) {
		if len(fs) == 0 {
			return
		}
		fmt.Fprintf(&b, "  %s at:\n", what)
		for _, f := range fs {
			fmt.Fprintf(&b, "    %s\n", f)
		}
	}
	stack("allocated", r.Allocated)
	stack(r.freedWord(), r.Freed)
	return b.String()
}

// Unwrap returns the fault, if the report was made from one.
func (r *Report) Unwrap() error {
	if r.Fault == nil {
		return nil
	}
	return r.Fault
}

func bytesWord(n int64) string {
	if n == 1 {
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

// attribute is the pure core of Explain: it names addr against the
// sampled blocks near it. A block's neighbourhood is its pages and the
// fence page on either side; where two neighbourhoods overlap (the fence
// between two slots) the nearer block wins, and the lower one on a tie.
// An access inside a live block is not a sampling error: ok is false.
func attribute(addr, pageSize uintptr, blocks []block) (r Report, ok bool) {
	best, bestDist := -1, uintptr(0)
	for i := range blocks {
		b := &blocks[i]
		if addr+pageSize < b.lo || addr >= b.hi+pageSize {
			continue
		}
		var d uintptr
		switch {
		case addr < b.addr:
			d = b.addr - addr
		case addr >= b.addr+b.size:
			d = addr - (b.addr + b.size) + 1
		}
		if best < 0 || d < bestDist || d == bestDist && b.addr < blocks[best].addr {
			best, bestDist = i, d
		}
	}
	if best < 0 {
		return Report{}, false
	}
	b := &blocks[best]
	r = Report{Addr: addr, Block: b.addr, Size: b.size, Distance: int64(addr) - int64(b.addr)}
	switch b.state {
	case blockFreed:
		r.Kind = KindUseAfterFree
	case blockReset:
		r.Kind = KindUseAfterReset
	case blockClosed:
		r.Kind = KindUseAfterClose
	default:
		switch {
		case bestDist == 0:
			return Report{}, false
		case addr < b.addr:
			r.Kind = KindUnderflow
		default:
			r.Kind = KindOverflow
		}
		r.Distance = int64(bestDist)
	}
	return r, true
}

// Explain names addr if it lies in or next to a sampled block of any
// arena, live or among the last 16 closed (the kind of error, the block,
// the distance, and where the block was allocated and freed), or in the
// range of any arena that was closed, or of a large FreeList block that
// was freed, while that range waits in guard's quarantine: a use after
// close or after free, with the arena's name and the Close or Free call
// site (Block and Size are then the whole mapping's). An address that now
// belongs to a live mapping or a live block is never blamed on a closed
// arena: the live owner wins. Safe for concurrent use.
func Explain(addr uintptr) (*Report, bool) {
	return explainIn(addr, allPools(), guard.Lookup)
}

// explainIn is Explain over the given pools. A closed arena's address
// space may since have been mapped again by someone else: an address that
// lookup places in a live region is not blamed on a closed arena's block,
// whatever that block's state was when the arena closed.
func explainIn(addr uintptr, pools []*Pool, lookup func(uintptr) guard.Location) (*Report, bool) {
	var where *guard.Location
	at := func() guard.Location {
		if where == nil {
			loc := lookup(addr)
			where = &loc
		}
		return *where
	}
	for _, p := range pools {
		r, ok := p.explain(addr)
		if !ok {
			continue
		}
		if r.Kind == KindUseAfterClose || p.isClosed() {
			// The pool's pages may since have left guard's quarantine and
			// been mapped again, by a live region or by one retired later
			// (an arena closed since, a large block freed since): then
			// that owner is named, not this closed arena.
			loc := at()
			if loc.Part != guard.PartUnknown && (loc.Part != guard.PartClosed || loc.Region != p.regionName()) {
				continue
			}
		}
		return r, true
	}
	return retiredReport(addr, at())
}

// retiredReport explains an address in a range an arena (or a pool)
// retired into guard's quarantine with a Kind's words as the reason
// (guard.Region.Retire), from what guard recorded: any arena's range, not
// only a sampling one's.
func retiredReport(addr uintptr, loc guard.Location) (*Report, bool) {
	if loc.Part != guard.PartClosed {
		return nil, false
	}
	var k Kind
	switch loc.Reason {
	case KindUseAfterClose.String():
		k = KindUseAfterClose
	case KindUseAfterFree.String():
		k = KindUseAfterFree
	case KindUseAfterReset.String():
		k = KindUseAfterReset
	default:
		return nil, false // a region someone else closed
	}
	r := &Report{Kind: k, Addr: addr, Arena: loc.Region, Block: addr - uintptr(loc.Offset), Size: uintptr(loc.Size), Distance: loc.Offset}
	if loc.Site != "" {
		r.Freed = []string{loc.Site}
	}
	return r, true
}

// explain is Explain for one pool.
func (p *Pool) explain(addr uintptr) (*Report, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var near []block
	for _, seg := range p.segs {
		if addr+p.ps < seg.addr || addr >= seg.addr+uintptr(seg.r.Size())+p.ps {
			continue
		}
		// The fence page at addr may belong to the slot below or above.
		i := int((addr + p.ps - seg.addr) / p.stride)
		for _, j := range []int{i - 1, i} {
			if j >= 0 && j < segSlots && seg.first+j < p.nslots && p.slots[seg.first+j] != nil {
				near = append(near, *p.slots[seg.first+j])
			}
		}
	}
	for _, b := range p.solo {
		near = append(near, *b)
	}
	r, ok := attribute(addr, p.ps, near)
	if !ok {
		return nil, false
	}
	r.Arena = p.name
	for i := range near {
		if near[i].addr == r.Block {
			r.Allocated = frames(near[i].allocPC[:])
			if near[i].state != blockLive {
				r.Freed = frames(near[i].freePC[:])
			}
		}
	}
	return &r, true
}

// report builds the report of b for an error found without a fault.
// p.mu must be held.
func (p *Pool) report(b *block, k Kind, addr uintptr) *Report {
	r := &Report{Kind: k, Addr: addr, Arena: p.name, Block: b.addr, Size: b.size, Allocated: frames(b.allocPC[:])}
	r.Distance = int64(addr - (b.addr + b.size) + 1)
	return r
}

// Catch runs fn like guard.Catch, and when Explain can name the fault (at
// or near a sampled block, or in the range of an arena closed since) it
// returns a *Report explaining it (whose Unwrap gives the
// *guard.FaultError); any other fault is returned as guard.Catch returns
// it. Like guard.Catch, it catches faults of the calling
// goroutine only.
func Catch(fn func()) error {
	err := guard.Catch(fn)
	var fe *guard.FaultError
	if errors.As(err, &fe) {
		if r, ok := Explain(fe.Addr); ok {
			r.Fault = fe
			return r
		}
	}
	return err
}

// frames and firstSite format recorded call stacks for reports.
var (
	frames    = callers.Frames
	firstSite = callers.First
)
