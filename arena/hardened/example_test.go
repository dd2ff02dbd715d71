package hardened_test

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// Hardened mode: every allocation fenced (Sample: 1; in production, one in
// a thousand), so a read after Free faults and Catch explains it.
func ExampleCatch() {
	f, err := arena.NewFreeList(&arena.Options{Name: "sessions", Sample: &hardened.Options{Every: 1}})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s, err := arena.New[[4]int64](f)
	if err != nil {
		panic(err)
	}
	s[0] = 42
	fmt.Println(f.Free(unsafe.Pointer(s)))
	err = hardened.Catch(func() { fmt.Println(s[0]) })
	var r *hardened.Report
	if errors.As(err, &r) {
		fmt.Println(r.Kind, r.Distance, r.Size)
		fmt.Println(len(r.Allocated) > 0, len(r.Freed) > 0) // file:line of New and Free
	}
	// Output:
	// <nil>
	// use after free 0 32
	// true true
}

// A Pool on its own is an Electric-Fence allocator, and an
// align.Allocator: every block sits flush against a fenced page, so the
// first byte past its end faults and is named.
func ExamplePool() {
	p, err := hardened.NewPool(&hardened.Options{Name: "fenced"})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	var a align.Allocator = p
	q, err := align.Memalign(a, 16, 48)
	if err != nil {
		panic(err)
	}
	*(*byte)(unsafe.Add(q, 47)) = 1 // the last byte is the block's
	err = hardened.Catch(func() { *(*byte)(unsafe.Add(q, 48)) = 1 })
	var r *hardened.Report
	if errors.As(err, &r) {
		fmt.Println(r.Kind, r.Distance, r.Size, r.Arena)
	}
	status, err := p.Free(q)
	fmt.Println(status, err)
	status, _ = p.Free(q)
	fmt.Println(status)
	// Output:
	// overflow 1 48 fenced
	// freed <nil>
	// double free
}
