//go:build linux

package list_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// ExampleOnFile keeps a list in a file arena: built, committed, closed
// and opened again read-only, at another address, the list is there
// with nothing to decode.
func ExampleOnFile() {
	type root struct{ L list.RefHead[int64] }
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "list.arena")

	a, err := arena.CreateFile[root](path, nil)
	if err != nil {
		panic(err)
	}
	r, err := arena.New[root](a)
	if err != nil {
		panic(err)
	}
	if err := arena.SetFileRoot(a, r); err != nil {
		panic(err)
	}
	l, err := list.OnFile(a, &r.L) // no lock: a File has one writer, by flock
	if err != nil {
		panic(err)
	}
	for v := range int64(4) {
		if _, err := l.PushBack(v); err != nil {
			panic(err)
		}
	}
	if err := a.Commit(); err != nil { // pushes after the last Commit are not kept by a reopen
		panic(err)
	}
	a.Close()

	a, err = arena.OpenFile[root](path, &arena.Options{ReadOnly: true})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	r, err = arena.FileRoot[root](a)
	if err != nil {
		panic(err)
	}
	l, err = list.OnFile(a, &r.L)
	if err != nil {
		panic(err)
	}
	for e := l.Front(); e != nil; e = l.Next(e) {
		fmt.Print(e.Value, " ")
	}
	_, err = l.PushBack(4)
	fmt.Println(l.Len(), errors.Is(err, arena.ErrFrozen))
	// Output: 0 1 2 3 4 true
}
