package list_test

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// The lecture's mmap-list.c: list_init(1000), list_add of 42, 17 and 13,
// list_visit. The lecture then forks, and parent and child each add to
// the list they share up to that point; here the child's list is a copy,
// and the two diverge from the common prefix.
func Example() {
	b, err := arena.NewBump(&arena.Options{Name: "lecture"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	visit := func(l *list.List[int64]) string {
		var s []string
		for e := range l.All() {
			s = append(s, fmt.Sprint(e.Value))
		}
		return strings.Join(s, " ")
	}

	parent, err := list.New[int64](b, &list.Options{Capacity: 1000}) // list_init
	if err != nil {
		panic(err)
	}
	for _, v := range []int64{42, 17, 13} {
		if _, err := parent.PushFront(v); err != nil { // list_add
			panic(err)
		}
	}
	fmt.Println(visit(parent)) // list_visit

	child, err := list.New[int64](b, &list.Options{Capacity: 1000})
	if err != nil {
		panic(err)
	}
	if err := child.PushBackList(parent); err != nil { // what fork gave the child
		panic(err)
	}
	if _, err := child.PushFront(7); err != nil {
		panic(err)
	}
	if _, err := parent.PushFront(99); err != nil {
		panic(err)
	}
	fmt.Println("parent:", visit(parent))
	fmt.Println("child: ", visit(child))
	// Output:
	// 13 17 42
	// parent: 99 13 17 42
	// child:  7 13 17 42
}

// A bounded list refuses a push past its capacity with an error that
// matches unix.ENOMEM, as list_alloc1 does when list_init's nodes are
// used up; a removed node makes room again, and is the one reused.
func ExampleList_PushBack() {
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	l, err := list.New[int64](b, &list.Options{Capacity: 2})
	if err != nil {
		panic(err)
	}
	first, _ := l.PushBack(1)
	l.PushBack(2)
	_, err = l.PushBack(3)
	fmt.Println(err)
	fmt.Println(errors.Is(err, list.ErrFull), errors.Is(err, unix.ENOMEM))
	l.Remove(first)
	again, err := l.PushBack(3)
	fmt.Println(err, again == first, l.Len())
	// Output:
	// list: full: all 2 elements of its capacity are in use
	// true true
	// <nil> true 2
}

// Elements of another list, elements removed twice and lists whose arena
// is closed get errors, never corruption.
func ExampleList_Remove() {
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	l, _ := list.New[int64](b, nil)
	other, _ := list.New[int64](b, nil)
	e, _ := l.PushBack(1)
	o, _ := other.PushBack(2)
	_, err = l.Remove(o)
	fmt.Println(err)
	v, err := l.Remove(e)
	fmt.Println(v, err)
	_, err = l.Remove(e)
	fmt.Println(err)
	b.Close()
	_, err = l.PushBack(3)
	fmt.Println(err, errors.Is(err, arena.ErrClosed), l.Len())
	// Output:
	// list: element is not in this list
	// 1 <nil>
	// list: element was removed
	// list: arena: use after Close true 0
}
