package list

import "fmt"

// validate panics if l's structure is broken, in arenadebug builds only.
func (l *List[T]) validate() {
	if invariantsEnabled {
		if err := l.verify(); err != nil {
			panic(err)
		}
	}
}

// verify walks l and returns an error naming the first broken invariant:
// the links both ways, the ends, the counts, and that every node reached
// lies in l's slabs in the state its list says. The walks stop after
// l.nodes steps, so a cycle is reported rather than followed forever.
// It reads every node, so the arena must be open or l already dropped.
// O(nodes).
func (l *List[T]) verify() error {
	size := nodeSize[T]()
	if l.closed && (l.front != nil || l.back != nil || l.free != nil || l.len != 0 || l.nodes != 0 || len(l.spans) != 0) {
		return fmt.Errorf("list: closed list still holds nodes: len %d, nodes %d, spans %d", l.len, l.nodes, len(l.spans))
	}
	if (l.front == nil) != (l.len == 0) || (l.back == nil) != (l.len == 0) {
		return fmt.Errorf("list: len %d with front %p and back %p", l.len, l.front, l.back)
	}
	var prev *Element[T]
	n := 0
	for e := l.front; e != nil; e = e.next {
		if n++; n > l.nodes {
			return fmt.Errorf("list: more than %d live elements reached from the front: a cycle", l.nodes)
		}
		if err := l.member(e); err != nil {
			return fmt.Errorf("list: element %d (%p) reached from the front: %w", n-1, e, err)
		}
		if e.prev != prev {
			return fmt.Errorf("list: element %d (%p) has prev %p, want %p", n-1, e, e.prev, prev)
		}
		prev = e
	}
	if prev != l.back {
		return fmt.Errorf("list: walk from the front ends at %p, back is %p", prev, l.back)
	}
	if n != l.len {
		return fmt.Errorf("list: %d elements reached, len is %d", n, l.len)
	}
	f := 0
	for e := l.free; e != nil; e = e.prev {
		if f++; f > l.nodes {
			return fmt.Errorf("list: more than %d free nodes: a cycle", l.nodes)
		}
		if !holds(l.spans, e) || !e.free() {
			return fmt.Errorf("list: free node %d (%p) is not a free node of this list", f-1, e)
		}
	}
	if f != l.nfree {
		return fmt.Errorf("list: %d free nodes reached, nfree is %d", f, l.nfree)
	}
	if l.len+l.nfree+l.left != l.nodes {
		return fmt.Errorf("list: len %d + free %d + uncarved %d != nodes %d", l.len, l.nfree, l.left, l.nodes)
	}
	if l.capacity > 0 && l.nodes > l.capacity {
		return fmt.Errorf("list: %d nodes taken, capacity %d", l.nodes, l.capacity)
	}
	var total uintptr
	for i, s := range l.spans {
		if s.hi <= s.lo || (s.hi-s.lo)%size != 0 || i > 0 && l.spans[i-1].hi > s.lo {
			return fmt.Errorf("list: span %d [%#x, %#x) is empty, ragged or out of order", i, s.lo, s.hi)
		}
		total += s.hi - s.lo
	}
	if total != uintptr(l.nodes)*size {
		return fmt.Errorf("list: spans hold %d bytes, %d nodes need %d", total, l.nodes, uintptr(l.nodes)*size)
	}
	return nil
}
