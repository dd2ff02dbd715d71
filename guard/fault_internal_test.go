package guard

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAttribute exercises the attribution on made-up addresses, with no
// memory mapped at all: it is a pure function of the address and the
// snapshots.
func TestAttribute(t *testing.T) {
	const pg = 0x1000
	// "nodes": [guard][4 usable pages, page 2 protected][guard] at 0x10000.
	nodes := &info{id: 1, name: "nodes", addr: 0x10000, total: 6 * pg, guard: pg, size: 4 * pg, committed: 4 * pg,
		spans: spans{}.set(0, 6*pg, PartUsable, protRW).
			set(0, pg, PartLowGuard, protNone).
			set(5*pg, pg, PartHighGuard, protNone).
			set(3*pg, pg, PartProtected, protNone)}
	// "grow": 1 committed page of 8 reserved, page 0 of usable punched, no guards.
	grow := &info{id: 2, name: "grow", addr: 0x40000, total: 8 * pg, size: 8 * pg, committed: 2 * pg,
		spans: spans{}.set(0, 8*pg, PartReserved, protNone).
			set(0, 2*pg, PartUsable, protRW).
			set(0, pg, PartPunched, protHole)}
	// "other" was mapped later inside grow's hole.
	other := &info{id: 3, name: "other", addr: 0x40000, total: pg, size: pg, committed: pg,
		spans: spans{}.set(0, pg, PartUsable, protRW)}
	old := &info{id: 4, name: "old", addr: 0x80000, total: 3 * pg, guard: pg, size: pg, committed: pg}
	newer := &info{id: 5, name: "newer", addr: 0x80000, total: 3 * pg, guard: pg, size: pg, committed: pg}
	// "req" was retired into the quarantine: still reserved, all PROT_NONE.
	req := &info{id: 6, name: "req", addr: 0xa0000, total: 3 * pg, guard: pg, size: pg, committed: pg,
		spans: spans{}.set(0, 3*pg, PartClosed, protNone), why: "use after close", site: func() string { return "main.h h.go:7" }}
	// "now" lives where "old" was, after "old" left the quarantine.
	now := &info{id: 7, name: "now", addr: 0x80000, total: 3 * pg, guard: pg, size: pg, committed: pg,
		spans: spans{}.set(0, 3*pg, PartUsable, protRW).set(0, pg, PartLowGuard, protNone).set(2*pg, pg, PartHighGuard, protNone)}

	tests := []struct {
		addr   uintptr
		live   []*info
		closed []*info
		part   Part
		name   string
		off    int64
		msg    string
	}{
		{0x15000, []*info{nodes}, nil, PartHighGuard, "nodes", 4 * pg, `1 byte past the end of region "nodes" (high guard page)`},
		{0x15002, []*info{nodes}, nil, PartHighGuard, "nodes", 4*pg + 2, `3 bytes past the end of region "nodes" (high guard page)`},
		{0x10fff, []*info{nodes}, nil, PartLowGuard, "nodes", -1, `1 byte before the start of region "nodes" (low guard page)`},
		{0x10000, []*info{nodes}, nil, PartLowGuard, "nodes", -pg, `4096 bytes before the start of region "nodes" (low guard page)`},
		{0x11000, []*info{nodes}, nil, PartUsable, "nodes", 0, `at offset 0 of region "nodes" (usable page)`},
		{0x13010, []*info{nodes}, nil, PartProtected, "nodes", 2*pg + 16, `at offset 8208 of region "nodes" (protected page)`},
		{0x16000, []*info{nodes}, nil, PartUnknown, "", 0, `at 0x16000, outside every region`},
		{0x0fff, []*info{nodes}, nil, PartUnknown, "", 0, `at 0xfff, outside every region`},
		{0x40010, []*info{grow}, nil, PartPunched, "grow", 16, `at offset 16 of region "grow" (punched hole)`},
		{0x40010, []*info{grow, other}, nil, PartUsable, "other", 16, `at offset 16 of region "other" (usable page)`},
		{0x40010, []*info{other, grow}, nil, PartUsable, "other", 16, `at offset 16 of region "other" (usable page)`},
		{0x42000, []*info{grow}, nil, PartReserved, "grow", 2 * pg, `1 byte past the committed end of region "grow" (reserved page)`},
		{0x47fff, []*info{grow}, nil, PartReserved, "grow", 8*pg - 1, `24576 bytes past the committed end of region "grow" (reserved page)`},
		{0x81008, nil, []*info{newer, old}, PartClosed, "newer", 8, `at offset 8 of region "newer" (closed region: use after Close)`},
		{0x81008, []*info{nodes}, []*info{old}, PartClosed, "old", 8, `at offset 8 of region "old" (closed region: use after Close)`},
		{0x83000, nil, []*info{old}, PartUnknown, "", 0, `at 0x83000, outside every region`},
		{0xa1010, []*info{nodes, req}, nil, PartClosed, "req", 16, `at offset 16 of region "req" (closed region: use after close, retired at main.h h.go:7)`},
		{0xa0000, []*info{req}, nil, PartClosed, "req", -pg, `at offset -4096 of region "req" (closed region: use after close, retired at main.h h.go:7)`},
		{0x82000, []*info{now}, []*info{old, newer}, PartHighGuard, "now", pg, `1 byte past the end of region "now" (high guard page)`},
	}
	for _, tt := range tests {
		loc := attribute(tt.addr, tt.live, tt.closed)
		assert.Equal(t, tt.part, loc.Part, "%#x", tt.addr)
		assert.Equal(t, tt.name, loc.Region, "%#x", tt.addr)
		assert.Equal(t, tt.addr, loc.Addr)
		if tt.part != PartUnknown {
			assert.Equal(t, tt.off, loc.Offset, "%#x", tt.addr)
		}
		assert.Equal(t, tt.msg, loc.String())
	}
}

func TestSpans(t *testing.T) {
	const pg = 0x1000
	s := spans{}.set(0, 10*pg, PartUsable, protRW)
	assert.Equal(t, 1, s.vmas(nil))
	s = s.set(2*pg, pg, PartProtected, protNone)
	assert.Equal(t, 3, s.vmas(nil))
	assert.Len(t, s, 3)
	s = s.set(2*pg, pg, PartUsable, protRW)
	assert.Len(t, s, 1, "equal neighbours merge")
	s = s.set(4*pg, 2*pg, PartPunched, protHole)
	assert.Equal(t, 2, s.vmas(nil))
	s = s.set(0, pg, PartProtected, protRW) // a marker: no split
	assert.Equal(t, 2, s.vmas(nil))
	assert.True(t, s.only(6*pg, 4*pg, PartUsable))
	assert.False(t, s.only(3*pg, 2*pg, PartUsable))
	sp, ok := s.at(5*pg + 7)
	assert.True(t, ok)
	assert.Equal(t, PartPunched, sp.part)
	_, ok = s.at(10 * pg)
	assert.False(t, ok)
	// Spans cover [0, 10 pages) without gaps.
	var end uintptr
	for _, sp := range s {
		assert.Equal(t, end, sp.off)
		end += sp.n
	}
	assert.Equal(t, uintptr(10*pg), end)
}

func TestSplitsCount(t *testing.T) {
	const pg = 0x1000
	s := spans{}.set(0, 10*pg, PartUsable, protRW)
	// A fence at pages 3-4 and back: the kernel may keep three mappings.
	splits := addSplits(nil, 3*pg, 5*pg)
	assert.Equal(t, []uintptr{3 * pg, 5 * pg}, splits)
	assert.Equal(t, 3, s.vmas(splits))
	assert.Equal(t, splits, addSplits(splits, 5*pg, 3*pg), "no duplicates")
	// A split at a prot boundary or beside a hole adds nothing.
	h := s.set(5*pg, 5*pg, PartPunched, protHole)
	assert.Equal(t, 2, h.vmas(splits))
	assert.Equal(t, 1, s.vmas([]uintptr{0, 10 * pg}))
}
