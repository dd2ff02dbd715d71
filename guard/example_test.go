package guard_test

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
)

// A one-byte overflow off the end of a region hits its high guard page,
// and Catch names it instead of letting it corrupt a neighbour.
func Example() {
	r, err := guard.Map(100, &guard.Options{Name: "nodes"})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	fmt.Println("usable bytes:", r.Size()) // a 100-byte request costs a page
	b := r.Bytes()
	b[0] = 42
	end := unsafe.Add(r.Pointer(), r.Size())
	err = guard.Catch(func() { *(*byte)(end) = 1 })
	fmt.Println(err)
	// Output:
	// usable bytes: 4096
	// guard: fault 1 byte past the end of region "nodes" (high guard page)
}

// Reserve address space once and commit it as it is needed: the region
// grows in place, and its addresses never move.
func ExampleRegion_Commit() {
	r, err := guard.Map(4096, &guard.Options{Name: "log", Reserve: 1 << 30})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	fmt.Println(r.Committed(), "of", r.Size())
	if err := r.Commit(3 << 20); err != nil {
		panic(err)
	}
	fmt.Println(r.Committed(), "of", r.Size())
	// Output:
	// 4096 of 1073741824
	// 3145728 of 1073741824
}

// Punching a hole unmaps pages in the middle of a region; touching them
// afterwards is a named fault.
func ExampleRegion_Punch() {
	r, err := guard.Map(3*4096, &guard.Options{Name: "holey"})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	if err := r.Punch(4096, 4096); err != nil {
		panic(err)
	}
	hole := unsafe.Add(r.Pointer(), 4096+8)
	fmt.Println(guard.Catch(func() { _ = *(*byte)(hole) }))
	// Output:
	// guard: fault at offset 4104 of region "holey" (punched hole)
}

// Retire closes a region but keeps its range fenced in the quarantine, so
// that a stale pointer faults and is named instead of reaching whatever
// is mapped there next.
func ExampleRegion_Retire() {
	r, err := guard.Map(4096, &guard.Options{Name: "request"})
	if err != nil {
		panic(err)
	}
	stale := (*byte)(r.Pointer())
	*stale = 1
	if err := r.Retire("use after close", func() string { return "main.handle handler.go:42" }); err != nil {
		panic(err)
	}
	err = guard.Catch(func() { *stale = 2 })
	fmt.Println(err)
	fmt.Println(r.Close()) // leaves the quarantine now: unmapped
	// Output:
	// guard: fault at offset 0 of region "request" (closed region: use after close, retired at main.handle handler.go:42)
	// <nil>
}

// A cap on the bytes regions hold Ready: a Map past it is refused with
// an error the caller can test, and nothing is mapped.
func ExampleSetCommitLimit() {
	guard.SetCommitLimit(guard.Committed() + 1<<20) // 1 MiB more than held now
	defer guard.SetCommitLimit(0)
	_, err := guard.Map(2<<20, nil)
	fmt.Println(errors.Is(err, guard.ErrCommitLimit), errors.Is(err, unix.ENOMEM))
	r, err := guard.Map(1<<20, nil)
	fmt.Println(err)
	_ = r.Close()
	// Output:
	// true true
	// <nil>
}
