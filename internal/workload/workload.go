package workload

import (
	"unsafe"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// The full sizes, as the benchmarks run them.
const (
	W1Objects = 10_000_000 // W1: objects, 320 MB
	W2Live    = 100_000    // W2: live blocks
	W3Nodes   = 10_000_000 // W3: nodes in the list
	W4Nodes   = 20_000_000 // W4: nodes held live during the churn
	W4Churn   = 20_000_000 // W4: churn iterations
)

// allocator is what a list is built in: any arena. It names no arena
// type, so that any arena kind, now or later, can hold the W3 list.
type allocator interface {
	Alloc(size, align uintptr) (unsafe.Pointer, error)
}

// An Object is W1's object: 32 bytes, no Go pointers.
type Object struct{ A, B, C, D int64 }

// W1Heap is W1 on the Go heap: it allocates len(keep) Objects one at a
// time, writes A of each, and keeps them in keep.
func W1Heap(keep []*Object) {
	for i := range keep {
		o := new(Object)
		o.A = int64(i)
		keep[i] = o
	}
}

// W1Bump is W1 in a bump arena: it allocates n Objects from b one at a
// time and writes A of each; b keeps them until its Reset or Close. It
// stops at the first error.
func W1Bump(b *arena.Bump, n int) error {
	for i := range n {
		o, err := arena.New[Object](b)
		if err != nil {
			return err
		}
		o.A = int64(i)
	}
	return nil
}

// Rand is W2's fixed-seed random source (Marsaglia's xorshift64).
type Rand uint64

// W2Seed is the seed every W2 run starts from.
const W2Seed Rand = 88172645463325252

// Next returns the next number.
func (x *Rand) Next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// W2Size returns W2's next block size: uniform in 8..1024.
func (x *Rand) W2Size() uintptr { return uintptr(8 + x.Next()%1017) }

// W2Heap is W2 on the Go heap: the live set is Go slices, and a step
// drops one and makes a new one.
type W2Heap struct {
	rng  Rand
	live [][]byte // the live set; never shrinks
}

// NewW2Heap makes the live set: live slices of W2 sizes (at least one).
func NewW2Heap(live int) *W2Heap {
	w := &W2Heap{rng: W2Seed, live: make([][]byte, max(live, 1))}
	for i := range w.live {
		w.live[i] = make([]byte, w.rng.W2Size())
	}
	return w
}

// Step replaces a random live slice with a new one of a W2 size, writing
// its first and last byte.
func (w *W2Heap) Step() {
	k := w.rng.Next() % uint64(len(w.live))
	s := make([]byte, w.rng.W2Size())
	s[0], s[len(s)-1] = 1, 1
	w.live[k] = s
}

// W2FreeList is W2 in a free-list arena: the live set is blocks of f,
// and a step frees one and allocates another.
type W2FreeList struct {
	f      *arena.FreeList
	rng    Rand
	live   []unsafe.Pointer // the live set, blocks of f
	malloc bool             // Step allocates with Malloc, uncleared, as C's malloc
}

// NewW2FreeList allocates the live set from f: live blocks of W2 sizes
// (at least one). On error the blocks allocated so far stay in f, which
// its Close gives back.
func NewW2FreeList(f *arena.FreeList, live int) (*W2FreeList, error) {
	w := &W2FreeList{f: f, rng: W2Seed, live: make([]unsafe.Pointer, max(live, 1))}
	for i := range w.live {
		p, err := f.Alloc(w.rng.W2Size(), 8)
		if err != nil {
			return nil, err
		}
		w.live[i] = p
	}
	return w, nil
}

// NewW2FreeListMalloc is NewW2FreeList whose Steps allocate with
// FreeList.Malloc, which leaves a reused block uncleared, as C's malloc
// does: the harness's malloc peers' contract. The live set is made with
// Alloc, as NewW2FreeList makes it, so both start alike.
func NewW2FreeListMalloc(f *arena.FreeList, live int) (*W2FreeList, error) {
	w, err := NewW2FreeList(f, live)
	if err != nil {
		return nil, err
	}
	w.malloc = true
	return w, nil
}

// Step frees a random live block and allocates one of a W2 size in its
// place, writing its first and last byte.
func (w *W2FreeList) Step() error {
	k := w.rng.Next() % uint64(len(w.live))
	if err := w.f.Free(w.live[k]); err != nil {
		return err
	}
	n := w.rng.W2Size()
	var p unsafe.Pointer
	var err error
	if w.malloc {
		p, err = w.f.Malloc(n, 8)
	} else {
		p, err = w.f.Alloc(n, 8)
	}
	if err != nil {
		return err
	}
	*(*byte)(p), *(*byte)(unsafe.Add(p, n-1)) = 1, 1 // ok: p holds n >= 8 bytes
	w.live[k] = p
	return nil
}

// Free frees the whole live set, leaving f as it was before
// NewW2FreeList. w must not be used after.
func (w *W2FreeList) Free() error {
	for _, p := range w.live {
		if err := w.f.Free(p); err != nil {
			return err
		}
	}
	w.live = nil
	return nil
}

// A Node is the Go heap's W3 and W4 list node: a value and one link, 16
// bytes.
type Node struct {
	Val  int64
	Next *Node
}

// HeapList is W3's build on the Go heap: n nodes pushed to the front,
// values 0 to n-1, the last pushed returned first.
func HeapList(n int) *Node {
	var head *Node
	for i := range n {
		head = &Node{Val: int64(i), Next: head}
	}
	return head
}

// Sum is W3's traversal: the sum of the values from h to the end.
func (h *Node) Sum() int64 {
	var s int64
	for p := h; p != nil; p = p.Next {
		s += p.Val
	}
	return s
}

// BuildList is W3's build in an arena: a new list in a with n values,
// 0 to n-1, pushed to the front. It stops at the first error.
func BuildList(a allocator, n int) (*list.List[int64], error) {
	l, err := list.New[int64](a, nil)
	if err != nil {
		return nil, err
	}
	for i := range n {
		if _, err := l.PushFront(int64(i)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// SumList is W3's traversal of a list: the sum of its values.
func SumList(l *list.List[int64]) int64 {
	var s int64
	for e := l.Front(); e != nil; e = e.Next() {
		s += e.Value
	}
	return s
}

// churnSink and churnMap make Churn's allocations escape, as a real
// program's would.
var (
	churnSink []byte
	churnMap  = make(map[int][]byte, 64)
)

// Churn is W4's heap churn: per iteration, a short-lived 64-byte slice,
// held for a moment in a small map. It leaves nothing reachable.
func Churn(n int) {
	for i := range n {
		buf := make([]byte, 64)
		buf[0] = byte(i)
		churnMap[i&63] = buf
		delete(churnMap, (i+32)&63)
		churnSink = buf
	}
	clear(churnMap)
	churnSink = nil
}
