package arena_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
)

// ptrNode links by address: what users write today with Alloc and an
// unsafe cast, since New refuses its pointer.
type ptrNode struct {
	next *ptrNode
	v    int64
}

// offNode links by byte offset from the start of one contiguous block:
// what a Ref costs in an arena that is one reservation (a shared or file
// arena), base plus offset and a bound.
type offNode struct {
	next uint64
	v    int64
}

const traversalNodes = 10_000_000

var traversalPerm = sync.OnceValues(func() ([]int32, []int32) {
	seq := make([]int32, traversalNodes)
	for i := range seq {
		seq[i] = int32(i)
	}
	shuf := append([]int32(nil), seq...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
	return seq, shuf
})

// BenchmarkRefTraversal follows a 10M-node singly linked list in a Bump,
// linked by pointer, by Ref, or by offset from one base, with the nodes
// linked in allocation order (order=seq: each next is the neighbour, the
// prefetcher's best case and the one where an extra instruction shows
// most) or in a random order (order=shuffled: each step a cache miss, as
// in a tree built from unsorted keys). One op is a whole traversal;
// ns/node is the figure to compare: benchstat -col /via.
func BenchmarkRefTraversal(b *testing.B) {
	seq, shuf := traversalPerm()
	for _, order := range []struct {
		name string
		perm []int32
	}{{"seq", seq}, {"shuffled", shuf}} {
		b.Run("via=pointer/order="+order.name, func(b *testing.B) {
			a := refBump(b, nil)
			nodes := make([]*ptrNode, traversalNodes) // on the Go heap during the build only
			for i := range nodes {
				p, err := a.Alloc(unsafe.Sizeof(ptrNode{}), unsafe.Alignof(ptrNode{}))
				if err != nil {
					b.Fatal(err)
				}
				nodes[i] = (*ptrNode)(p)
				nodes[i].v = int64(i)
			}
			for i := 0; i < len(order.perm)-1; i++ {
				nodes[order.perm[i]].next = nodes[order.perm[i+1]]
			}
			head := nodes[order.perm[0]]
			nodes = nil
			b.ReportAllocs()
			var sum int64
			for b.Loop() {
				sum = 0
				for p := head; p != nil; p = p.next {
					sum += p.v
				}
			}
			report(b, sum)
		})
		b.Run("via=ref/order="+order.name, func(b *testing.B) {
			a := refBump(b, nil)
			refs := make([]arena.Ref[refNode], traversalNodes)
			for i := range refs {
				p, err := arena.New[refNode](a)
				if err != nil {
					b.Fatal(err)
				}
				p.v = int64(i)
				if refs[i], err = arena.RefOf(a, p); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < len(order.perm)-1; i++ {
				refs[order.perm[i]].Get(a).next = refs[order.perm[i+1]]
			}
			head := refs[order.perm[0]]
			refs = nil
			b.ReportAllocs()
			var sum int64
			for b.Loop() {
				sum = 0
				for p := head.Get(a); p != nil; p = p.next.Get(a) {
					sum += p.v
				}
			}
			report(b, sum)
		})
		b.Run("via=offset/order="+order.name, func(b *testing.B) {
			a := refBump(b, nil)
			nodes, err := arena.MakeSlice[offNode](a, traversalNodes, traversalNodes)
			if err != nil {
				b.Fatal(err)
			}
			const size = uint64(unsafe.Sizeof(offNode{}))
			for i := range nodes {
				nodes[i].v = int64(i)
				nodes[i].next = ^uint64(0)
			}
			for i := 0; i < len(order.perm)-1; i++ {
				nodes[order.perm[i]].next = uint64(order.perm[i+1]) * size
			}
			base, limit := unsafe.Pointer(&nodes[0]), uint64(len(nodes)-1)*size
			head := uint64(order.perm[0]) * size
			nodes = nil
			b.ReportAllocs()
			var sum int64
			for b.Loop() {
				sum = 0
				for off := head; off <= limit; {
					p := (*offNode)(unsafe.Add(base, off))
					sum += p.v
					off = p.next
				}
			}
			report(b, sum)
		})
	}
}

// report checks the traversal visited every node and reports ns/node.
func report(b *testing.B, sum int64) {
	if want := int64(traversalNodes) * (traversalNodes - 1) / 2; sum != want {
		b.Fatalf("sum %d, want %d", sum, want)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/traversalNodes, "ns/node")
}
