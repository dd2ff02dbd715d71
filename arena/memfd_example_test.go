//go:build linux

package arena_test

import (
	"fmt"

	"github.com/mmarena/mmarena/arena"
)

// ExampleCreateMemfd builds a list in a memfd arena. A child process
// would get the memfd from a.File() through exec.Cmd.ExtraFiles and call
// arena.AttachMemfd[root](os.NewFile(3, "arena"), nil); guard maps a file
// once per process, so the example does not attach here.
func ExampleCreateMemfd() {
	type node struct {
		next arena.Ref[node]
		v    int64
	}
	type root struct{ head arena.Ref[node] }
	a, r, err := arena.CreateMemfd[root](nil)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	if err := a.Lock(); err != nil { // arena.ErrOwnerDead: repair, then a.MarkConsistent()
		panic(err)
	}
	for v := range int64(3) {
		n, err := arena.New[node](a)
		if err != nil {
			panic(err)
		}
		n.v, n.next = v, r.head
		if r.head, err = arena.MemfdRef(a, n); err != nil {
			panic(err)
		}
	}
	for p := r.head.In(a); p != nil; p = p.next.In(a) {
		fmt.Print(p.v, " ")
	}
	a.Unlock()
	fmt.Println()
	// Output: 2 1 0
}
