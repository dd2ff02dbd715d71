package align_test

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
)

func ExampleUp() {
	n, ok := align.Up(100, 4096)
	fmt.Println(n, ok)
	_, ok = align.Up(^uintptr(0), 4096) // would wrap: reported, not wrapped
	fmt.Println(ok)
	// Output:
	// 4096 true
	// false
}

func ExampleCheckAlignment() {
	for _, a := range []uintptr{64, 12} {
		err := align.CheckAlignment(a)
		fmt.Println(a, err, errors.Is(err, unix.EINVAL))
	}
	// Output:
	// 64 <nil> false
	// 12 align: alignment 12 is not a power of two true
}

// Memalign is posix_memalign over any allocator with an Alloc method;
// here a free-list arena. Errors are values, as in C.
func ExampleMemalign() {
	f, err := arena.NewFreeList(&arena.Options{Name: "aligned"})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	p, err := align.Memalign(f, 4096, 100)
	fmt.Println(uintptr(p)%4096, err)
	_, err = align.Memalign(f, 24, 100) // not a power of two
	fmt.Println(errors.Is(err, unix.EINVAL))
	_, err = align.Memalign(f, 2<<30, 100) // valid, but more than the arena can align to
	fmt.Println(errors.Is(err, unix.ENOMEM))
	// Output:
	// 0 <nil>
	// true
	// true
}
