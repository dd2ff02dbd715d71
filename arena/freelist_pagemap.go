package arena

import "math/bits"

// A FreeList finds the chunk of an address, and the large blocks near
// it, through a page map: a two-level table indexed by the address's
// 4 MiB granule (address >> chunkShift), as mimalloc's segment map and
// Go's own heap arena index do. A lookup is two loads and no hashing,
// whatever the number of chunks; a leaf is allocated the first time a
// granule under it is filed, so an arena pays for the table only where
// its memory is.
//
// User addresses on linux/amd64 lie below 2^47 (4-level paging; the
// kernel maps higher only when asked with a hint, which guard never
// gives), so a granule number has 47-22 = 25 bits: 13 index the top
// level, 12 a leaf. An address at or above 2^47 is in no granule: a
// lookup of it finds nothing, and filing a mapping there fails.
const (
	pmAddrBits = 47
	pmLeafBits = 12
	pmTopBits  = pmAddrBits - chunkShift - pmLeafBits
	pmLeafLen  = 1 << pmLeafBits
)

// granuleMap maps a granule number to a T; the zero granuleMap is empty.
// Its top level costs 64 KiB of Go heap from the first set on, and each
// leaf 4096 Ts.
type granuleMap[T any] struct {
	top *[1 << pmTopBits]*[pmLeafLen]T
}

// get returns the entry of granule g, or nil when nothing under its leaf
// was ever set. O(1).
func (m *granuleMap[T]) get(g uintptr) *T {
	if m.top == nil || g>>pmLeafBits >= 1<<pmTopBits {
		return nil
	}
	leaf := m.top[g>>pmLeafBits]
	if leaf == nil {
		return nil
	}
	return &leaf[g&(pmLeafLen-1)]
}

// at returns the entry of granule g, allocating its leaf if need be, or
// nil when g is beyond the table (an address at or above 2^47). O(1).
func (m *granuleMap[T]) at(g uintptr) *T {
	if g>>pmLeafBits >= 1<<pmTopBits {
		return nil
	}
	if m.top == nil {
		m.top = new([1 << pmTopBits]*[pmLeafLen]T)
	}
	leaf := m.top[g>>pmLeafBits]
	if leaf == nil {
		leaf = new([pmLeafLen]T)
		m.top[g>>pmLeafBits] = leaf
	}
	return &leaf[g&(pmLeafLen-1)]
}

// granules returns the granule numbers of the first and last byte of
// [addr, addr+n); n > 0.
func granules(addr, n uintptr) (first, last uintptr) {
	return addr >> chunkShift, (addr + n - 1) >> chunkShift
}

// fileLarge records b in the large-block index of every granule it
// overlaps, so that a pointer into it is found without looking at other
// blocks. It returns false, filing nothing, for a block beyond the table.
// O(granules of b).
func (st *flState) fileLarge(b *largeBlock) bool {
	first, last := granules(b.addr, b.size)
	if st.largeMap.at(last) == nil {
		return false
	}
	for g := first; g <= last; g++ {
		e := st.largeMap.at(g)
		*e = append(*e, b)
	}
	return true
}

// unfileLarge removes b from the large-block index. O(granules of b +
// the blocks sharing them): a granule holds at most 4 MiB / 4 KiB of
// blocks, however many live elsewhere.
func (st *flState) unfileLarge(b *largeBlock) {
	first, last := granules(b.addr, b.size)
	for g := first; g <= last; g++ {
		e := st.largeMap.get(g)
		for i, c := range *e {
			if c == b {
				n := len(*e) - 1
				(*e)[i], (*e)[n] = (*e)[n], nil
				*e = (*e)[:n]
				if n == 0 {
					*e = nil // a granule that empties gives its list back
				}
				break
			}
		}
	}
}

// largeAt returns the live large block holding addr, or nil. O(blocks
// sharing addr's granule), at most 1024.
func (st *flState) largeAt(addr uintptr) *largeBlock {
	e := st.largeMap.get(addr >> chunkShift)
	if e == nil {
		return nil
	}
	for _, b := range *e {
		if addr-b.addr < b.size {
			return b
		}
	}
	return nil
}

// chunkAt returns the chunk holding addr, or nil. O(1). It is
// chunkMap.get spelled out to return the entry itself: through get's
// pointer, Free's fast path paid a test and two jumps more.
func (st *flState) chunkAt(addr uintptr) *flChunk {
	g, top := addr>>chunkShift, st.chunkMap.top
	if top == nil || g>>pmLeafBits >= 1<<pmTopBits {
		return nil
	}
	if leaf := top[g>>pmLeafBits]; leaf != nil {
		return leaf[g&(pmLeafLen-1)]
	}
	return nil
}

// recip returns the reciprocal of d for divide: ⌊(2^64-1)/d⌋+1.
func recip(d uintptr) uint64 { return ^uint64(0)/uint64(d) + 1 }

// divide returns n/d and n%d without a division, given m = recip(d):
// the high word of m*n is n/d for every n and d below 2^32 (Lemire,
// Kaser and Kurz, "Faster remainder by direct computation", 2019).
// TestDivide checks every offset in a span for every class.
func divide(n uintptr, d uintptr, m uint64) (q, r uintptr) {
	hi, _ := bits.Mul64(m, uint64(n))
	q = uintptr(hi)
	return q, n - q*d
}
