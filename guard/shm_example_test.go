//go:build linux

package guard_test

import (
	"fmt"

	"github.com/mmarena/mmarena/guard"
)

// A shared region is a memfd mapped MAP_SHARED inside a reservation that
// growth fills in place. Another process gets the descriptor
// (exec.Cmd.ExtraFiles or SCM_RIGHTS) and maps the same bytes at its own
// address with guard.AttachShared(fd, need, opts).
func ExampleMapShared() {
	r, err := guard.MapShared(4096, &guard.Options{Name: "shared", Reserve: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	copy(r.Bytes(), "seen by every process that maps the file")
	addr := r.Addr()
	if err := r.Commit(64 << 10); err != nil { // ftruncate, then map the new pages in place
		panic(err)
	}
	fmt.Println(r.Committed(), r.Addr() == addr, string(r.Bytes()[:7]))
	// Output: 65536 true seen by
}
