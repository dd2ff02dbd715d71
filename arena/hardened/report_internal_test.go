package hardened

import (
	"testing"

	"github.com/mmarena/mmarena/guard"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAttribute names made-up addresses against made-up blocks: no
// memory is mapped, so every case is exact.
func TestAttribute(t *testing.T) {
	const ps = 0x1000
	// Two pool slots of one page each, fence pages between them, as the
	// pool lays them out: slot A at 0x10000, its fence 0x11000, slot B at
	// 0x12000, its fence 0x13000. A is right-aligned, 48 bytes; B is
	// left-aligned, 100 bytes; C, far away, has a mapping of its own.
	a := block{addr: 0x11000 - 48, size: 48, lo: 0x10000, hi: 0x11000, state: blockLive}
	b := block{addr: 0x12000, size: 100, lo: 0x12000, hi: 0x13000, state: blockLive}
	c := block{addr: 0x40000, size: 5000, lo: 0x40000, hi: 0x42000, state: blockLive}
	with := func(s block, st blockState) block { s.state = st; return s }

	tests := []struct {
		name   string
		addr   uintptr
		blocks []block
		ok     bool
		kind   Kind
		block  uintptr
		dist   int64
	}{
		{"one past the end", 0x11000, []block{a, b}, true, KindOverflow, a.addr, 1},
		{"eight past the end", 0x11007, []block{a, b}, true, KindOverflow, a.addr, 8},
		{"one before the start", 0x11fff, []block{a, b}, true, KindUnderflow, b.addr, 1},
		// 0x11800 is 2049 past A and 2048 before B: B is nearer.
		{"nearer block wins", 0x11800, []block{a, b}, true, KindUnderflow, b.addr, 2048},
		{"nearer block wins, from below", 0x11000 + 0x800 - 1, []block{a, b}, true, KindOverflow, a.addr, 0x800},
		{"slot's fenced pages before a right-aligned block", 0x10000, []block{a}, true, KindUnderflow, a.addr, int64(a.addr - 0x10000)},
		{"below the first slot: its low guard", 0xffff, []block{a}, true, KindUnderflow, a.addr, int64(a.addr - 0xffff)},
		{"inside a live block is no sampling error", a.addr + 3, []block{a, b}, false, 0, 0, 0},
		{"use after free, inside", a.addr + 8, []block{with(a, blockFreed), b}, true, KindUseAfterFree, a.addr, 8},
		{"use after free, past the end", 0x11002, []block{with(a, blockFreed)}, true, KindUseAfterFree, a.addr, 50},
		{"use after reset", b.addr, []block{a, with(b, blockReset)}, true, KindUseAfterReset, b.addr, 0},
		{"use after close", c.addr + 4999, []block{a, b, with(c, blockClosed)}, true, KindUseAfterClose, c.addr, 4999},
		{"own mapping, one past", c.addr + 5000, []block{a, b, c}, true, KindOverflow, c.addr, 1},
		{"own mapping, high guard", 0x42000 + 0xfff, []block{c}, true, KindOverflow, c.addr, 0x2000 + 0xfff - 5000 + 1},
		{"beyond the fence", 0x43000, []block{c}, false, 0, 0, 0},
		{"far from every block", 0x90000, []block{a, b, c}, false, 0, 0, 0},
		{"no blocks", 0x11000, nil, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := attribute(tt.addr, ps, tt.blocks)
			assert.Equal(t, tt.ok, ok)
			if !tt.ok {
				return
			}
			assert.Equal(t, tt.kind, r.Kind, r.Kind.String())
			assert.Equal(t, tt.block, r.Block)
			assert.Equal(t, tt.dist, r.Distance)
			assert.Equal(t, tt.addr, r.Addr)
		})
	}
}

func TestReportText(t *testing.T) {
	r := &Report{Kind: KindUseAfterFree, Addr: 0x1008, Arena: "cache", Block: 0x1000, Size: 48, Distance: 8,
		Allocated: []string{"main.load /src/load.go:31", "main.main /src/main.go:9"},
		Freed:     []string{"main.evict /src/cache.go:77"}}
	assert.Equal(t, `arena: use after free: 8 bytes into a 48-byte block at 0x1000 of "cache", allocated at main.load /src/load.go:31, freed at main.evict /src/cache.go:77`, r.Error())
	assert.Contains(t, r.String(), "  allocated at:\n    main.load /src/load.go:31\n    main.main /src/main.go:9\n  freed at:\n    main.evict /src/cache.go:77\n")

	r = &Report{Kind: KindOverflow, Arena: "x", Block: 0x1000, Size: 13, Distance: 1, AtFree: true}
	assert.Equal(t, `arena: overflow: 1 byte past the end of a 13-byte block at 0x1000 of "x" (found by Free in the bytes alignment left before the fence)`, r.Error())
	r = &Report{Kind: KindUseAfterReset, Arena: "x", Block: 0x1000, Size: 16, Distance: -4, Freed: []string{"f a.go:1"}}
	assert.Equal(t, `arena: use after reset: 4 bytes before the start of a 16-byte block at 0x1000 of "x", reset at f a.go:1`, r.Error())
	assert.Equal(t, "Kind(9)", Kind(9).String())
}

// TestExplainRemapped: after an arena's Close its addresses may be mapped
// again; a fault there belongs to the new owner, not to the closed block.
func TestExplainRemapped(t *testing.T) {
	s := &Pool{name: "old", ps: 0x1000, closed: true,
		solo: map[uintptr]*block{0x40000: {addr: 0x40000, size: 64, lo: 0x40000, hi: 0x41000, state: blockClosed, slot: -1}}}
	for _, tt := range []struct {
		part   guard.Part
		region string
		ok     bool
	}{
		{guard.PartClosed, "old (sampled)", true},
		{guard.PartUnknown, "", true},
		{guard.PartHighGuard, "new", false},
		{guard.PartUsable, "new", false},
		// Retired since by another arena: that arena's use after close.
		{guard.PartClosed, "new", false},
	} {
		r, ok := explainIn(0x40010, []*Pool{s}, func(uintptr) guard.Location { return guard.Location{Part: tt.part, Region: tt.region} })
		assert.Equal(t, tt.ok, ok, "%s of %q", tt.part, tt.region)
		if ok {
			assert.Equal(t, KindUseAfterClose, r.Kind)
			assert.Equal(t, "old", r.Arena)
			assert.EqualValues(t, 16, r.Distance)
		}
	}
}

// TestIssue11LiveOwnerWins: a closed arena's block that was freed (or
// overflowed) before the Close is not blamed either for an address a live
// region now owns; before, only use-after-close reports were checked, and
// a fault in a live region came back as "use after free" of the old
// arena.
func TestIssue11LiveOwnerWins(t *testing.T) {
	for _, state := range []blockState{blockFreed, blockLive, blockReset} {
		s := &Pool{name: "old", ps: 0x1000, closed: true,
			solo: map[uintptr]*block{0x40000: {addr: 0x40000, size: 64, lo: 0x40000, hi: 0x41000, state: state, slot: -1}}}
		for _, tt := range []struct {
			part   guard.Part
			region string
			ok     bool
		}{
			{guard.PartClosed, "old (sampled)", true},
			{guard.PartUsable, "new", false},
			{guard.PartHighGuard, "new", false},
			{guard.PartProtected, "new", false},
			{guard.PartClosed, "new", false},
		} {
			addr := uintptr(0x40010)
			if state == blockLive {
				addr = 0x40040 // one past the end: an overflow if it were still live
			}
			_, ok := explainIn(addr, []*Pool{s}, func(uintptr) guard.Location { return guard.Location{Part: tt.part, Region: tt.region} })
			assert.Equal(t, tt.ok, ok, "block state %d, address %s of %q", state, tt.part, tt.region)
		}
	}
	// A live arena's freed block keeps its report: its pages are its own.
	live := &Pool{name: "live", ps: 0x1000,
		solo: map[uintptr]*block{0x40000: {addr: 0x40000, size: 64, lo: 0x40000, hi: 0x41000, state: blockFreed, slot: -1}}}
	r, ok := explainIn(0x40010, []*Pool{live}, func(uintptr) guard.Location { return guard.Location{Part: guard.PartProtected} })
	require.True(t, ok)
	assert.Equal(t, KindUseAfterFree, r.Kind)
}

// TestRetiredReport: ranges an arena retired are explained from guard's
// Location; others are not.
func TestRetiredReport(t *testing.T) {
	loc := guard.Location{Part: guard.PartClosed, Region: "req", Offset: 40, Size: 65536, Reason: "use after close", Site: "main.f f.go:9"}
	r, ok := retiredReport(0x50028, loc)
	require.True(t, ok)
	assert.Equal(t, KindUseAfterClose, r.Kind)
	assert.Equal(t, uintptr(0x50000), r.Block)
	assert.Equal(t, `arena: use after close: 40 bytes into a 65536-byte block at 0x50000 of "req", closed at main.f f.go:9`, r.Error())
	loc.Reason = "use after free"
	r, _ = retiredReport(0x50028, loc)
	assert.Equal(t, KindUseAfterFree, r.Kind)
	loc.Reason = ""
	_, ok = retiredReport(0x50028, loc)
	assert.False(t, ok, "a region closed by someone else")
	loc.Reason, loc.Part = "use after close", guard.PartUsable
	_, ok = retiredReport(0x50028, loc)
	assert.False(t, ok)
}

// TestIssue11RetiredLaterWins: an address in a closed sampler's old pool
// that a later Close or Free retired is that later owner's use after
// close or free, not the old arena's (a -race run found "freelist" named
// for a freed large block of "images").
func TestIssue11RetiredLaterWins(t *testing.T) {
	s := &Pool{name: "freelist", ps: 0x1000, closed: true,
		solo: map[uintptr]*block{0x40000: {addr: 0x40000, size: 64, lo: 0x40000, hi: 0x41000, state: blockClosed, slot: -1}}}
	loc := guard.Location{Part: guard.PartClosed, Region: "images", Offset: 0x10, Size: 0x19000, Reason: "use after free", Site: "f x.go:1"}
	r, ok := explainIn(0x40010, []*Pool{s}, func(uintptr) guard.Location { return loc })
	require.True(t, ok)
	assert.Equal(t, "images", r.Arena)
	assert.Equal(t, KindUseAfterFree, r.Kind)
}
