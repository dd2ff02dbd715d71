package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/procmaps"
	"github.com/mmarena/mmarena/list"
)

// stepList is the lecture's mmap-list.c on a real arena: list_init,
// list_add, list_visit and the list_free it left as an exercise, with the
// nodes' real addresses and the /proc/self/maps line of the mapping they
// sit in. The arena is closed before it returns.
func stepList(w io.Writer) error {
	b, err := arena.NewBump(&arena.Options{Name: "tour-list"})
	if err != nil {
		return err
	}
	defer b.Close()
	const capacity = 1000
	l, err := list.New[int64](b, &list.Options{Capacity: capacity})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   list_init(%d): list.New[int64] with Capacity %d; a node is %d bytes (next, prev, Value)\n",
		capacity, capacity, unsafe.Sizeof(list.Element[int64]{}))
	var first uintptr
	for _, v := range []int64{42, 17, 13} {
		e, err := l.PushFront(v)
		if err != nil {
			return err
		}
		at := listNodeAddr(e)
		if first == 0 {
			first = at
		}
		fmt.Fprintf(w, "   list_add(%d): PushFront, node at %#x (+%d)\n", v, at, at-first)
	}
	fmt.Fprintf(w, "   list_visit: %s\n", listVisit(l))
	fmt.Fprintln(w, "   the nodes sit back to back in one slab of the arena's mapping:")
	if err := listPrintMapping(w, first); err != nil {
		return err
	}

	mid := l.Front().Next()
	removed := listNodeAddr(mid)
	v, err := l.Remove(mid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   list_free: Remove(%d) puts node %#x on the list's free list; visit: %s\n", v, removed, listVisit(l))
	_, err = l.Remove(mid)
	fmt.Fprintf(w, "   removing it twice: %v\n", err)
	e, err := l.PushBack(99)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   PushBack(99) reuses it: node %#x (same node: %v); visit: %s\n",
		listNodeAddr(e), listNodeAddr(e) == removed, listVisit(l))

	for l.Len() < capacity {
		if _, err := l.PushBack(int64(l.Len())); err != nil {
			return err
		}
	}
	_, err = l.PushBack(-1)
	fmt.Fprintf(w, "   push %d: %v (ENOMEM: %v), as list_alloc1 fails past list_init's nodes\n",
		capacity+1, err, errors.Is(err, unix.ENOMEM))
	st := b.Stats()
	fmt.Fprintf(w, "   the arena holds %d bytes for %d nodes: %d per node, the GC scans none of them\n",
		st.InUse, capacity, st.InUse/capacity)

	if err := b.Close(); err != nil {
		return err
	}
	_, err = l.PushFront(1)
	fmt.Fprintf(w, "   after the arena's Close: Len %d, PushFront: %v\n", l.Len(), err)
	return nil
}

// listNodeAddr returns e's address, to print.
func listNodeAddr(e *list.Element[int64]) uintptr { return uintptr(unsafe.Pointer(e)) }

// listVisit returns the list's values, front to back, as list_visit
// prints them.
func listVisit(l *list.List[int64]) string {
	var s []string
	for e := range l.All() {
		s = append(s, fmt.Sprint(e.Value))
	}
	return strings.Join(s, " ")
}

// listPrintMapping prints the /proc/self/maps line of the mapping that
// holds addr.
func listPrintMapping(w io.Writer, addr uintptr) error {
	ms, err := procmaps.Read(0)
	if err != nil {
		fmt.Fprintf(w, "   (no /proc/self/maps here: %v)\n", err)
		return nil
	}
	for _, m := range procmaps.Overlapping(ms, addr, addr+1) {
		fmt.Fprintf(w, "     %s\n", m.Line)
		return nil
	}
	return fmt.Errorf("no mapping of /proc/self/maps holds the node at %#x", addr)
}
