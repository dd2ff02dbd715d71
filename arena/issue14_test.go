package arena_test

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestIssue14RefillSmallAfterLarge fills a Bump with 4 MiB, then refills
// it after each Reset with a small tree of 31 nodes, then with everything
// again in mixed sizes and alignments: every byte handed out reads zero,
// and a small refill leaves the old bytes a few KiB past what it used
// where they were, because a refill clears in strides sized by its own
// fill, not by the high-water mark of the large one (issue 14).
func TestIssue14RefillSmallAfterLarge(t *testing.T) {
	mapcheck.Baseline(t)
	const large = 4 << 20
	b := newBump(t, &arena.Options{Name: "refill", InitialSize: 8 << 20})
	fill := func(sizes []uintptr, aligns []uintptr, total uintptr) (first unsafe.Pointer, used uintptr) {
		t.Helper()
		for i := 0; used < total; i++ {
			size, al := sizes[i%len(sizes)], aligns[i%len(aligns)]
			p, err := b.Alloc(size, al)
			require.NoError(t, err)
			if first == nil {
				first = p
			}
			mem := bytesAt(p, size)
			require.True(t, isZero(mem), "allocation %d (%d bytes, align %d) at offset %d not zeroed",
				i, size, al, uintptr(p)-uintptr(first))
			for j := range mem {
				mem[j] = 0xEE
			}
			used = uintptr(p) - uintptr(first) + size
		}
		return first, used
	}
	base, _ := fill([]uintptr{1000}, []uintptr{8}, large)
	for round := range 3 {
		b.Reset()
		// A depth-4 binary tree, as in W7: 31 nodes of 16 bytes.
		p, used := fill([]uintptr{16}, []uintptr{8}, 31*16)
		require.Equal(t, base, p, "round %d: the refill starts where the large fill did", round)
		require.Equal(t, uintptr(31*16), used)
		rest := bytesAt(unsafe.Add(p, 4<<10), 60<<10)
		// Still the old bytes (or arenadebug's poison), not cleared.
		cleared := bytes.Count(rest, []byte{0})
		assert.Zero(t, cleared, "round %d: a 496-byte refill cleared bytes past 4 KiB", round)
	}
	// A refill as large as the first, in sizes and alignments that leave
	// padding, reads zero throughout, the old bytes and the padding both.
	b.Reset()
	fill([]uintptr{1, 7, 16, 33, 100, 4096, 5000, 24}, []uintptr{1, 8, 64, 16, 4096, 2, 32}, large)
	b.Reset()
	fill([]uintptr{16}, []uintptr{8}, large+(1<<20)) // past the old high-water mark too
}
