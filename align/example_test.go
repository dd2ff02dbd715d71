package align_test

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
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
