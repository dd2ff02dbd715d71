//go:build linux

package list_test

import (
	"fmt"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// ExampleOnMemfd keeps a list in a memfd arena: its head is a field of
// the arena's root, so a child that attaches the memfd (a.File() through
// exec.Cmd.ExtraFiles, then arena.AttachMemfd[root] and list.OnMemfd on
// its root.L) sees the same list and pushes on it under the same lock.
// guard maps a file once per process, so the example does not attach
// here; arenastat's tour runs the child for real.
func ExampleOnMemfd() {
	type root struct{ L list.RefHead[int64] }
	a, r, err := arena.CreateMemfd[root](nil)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	if err := a.Lock(); err != nil { // arena.ErrOwnerDead: l.Repair(), then a.MarkConsistent()
		panic(err)
	}
	defer a.Unlock()
	l, err := list.OnMemfd(a, &r.L)
	if err != nil {
		panic(err)
	}
	for v := range int64(4) {
		if _, err := l.PushBack(v); err != nil {
			panic(err)
		}
	}
	if _, err := l.Remove(l.Front()); err != nil { // its node goes to the free list, for any process's next push
		panic(err)
	}
	for e := range l.All() {
		fmt.Print(e.Value, " ")
	}
	fmt.Println(l.Len())
	// Output: 1 2 3 3
}
