//go:build linux

package arena_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mmarena/mmarena/arena"
)

// ExampleCreateFile builds a list in a file arena, commits it, closes
// the file and opens it again, read-only, at another address: the list
// is there with nothing to decode.
func ExampleCreateFile() {
	type node struct {
		next arena.Ref[node]
		v    int64
	}
	type root struct{ head arena.Ref[node] }
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
	for v := range int64(3) {
		n, err := arena.New[node](a)
		if err != nil {
			panic(err)
		}
		n.v, n.next = v, r.head
		if r.head, err = arena.FileRef(a, n); err != nil {
			panic(err)
		}
	}
	if err := arena.SetFileRoot(a, r); err != nil {
		panic(err)
	}
	if err := a.Commit(); err != nil { // msync the data, then the header slot
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
	for p := r.head.InFile(a); p != nil; p = p.next.InFile(a) {
		fmt.Print(p.v, " ")
	}
	fmt.Println()
	// Output: 2 1 0
}
