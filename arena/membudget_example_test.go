package arena_test

import (
	"errors"
	"fmt"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
)

// A cap on what all arenas hold together turns running out into an
// error the caller can answer, before the kernel's OOM killer acts. In
// a container, derive it from arena.CgroupMemoryMax().
func ExampleSetArenaCap() {
	arena.SetArenaCap(arena.CommittedBytes() + 8<<20) // 8 MiB more than arenas hold now
	defer arena.SetArenaCap(0)

	b, err := arena.NewBump(&arena.Options{Name: "capped"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	_, err = arena.MakeSlice[byte](b, 16<<20, 16<<20)
	fmt.Println(errors.Is(err, arena.ErrLimit), errors.Is(err, unix.ENOMEM))
	_, err = arena.MakeSlice[byte](b, 1<<20, 1<<20)
	fmt.Println(err)
	// Output:
	// true true
	// <nil>
}

// With a budget, the Go runtime's memory limit leaves room for the
// arenas: it is the budget less what they hold, and moves as they map
// and close chunks.
func ExampleSetMemoryBudget() {
	arena.SetMemoryBudget(1 << 30) // the heap and the arenas share 1 GiB
	defer arena.SetMemoryBudget(0) // restores the limit the program had

	b, err := arena.NewBump(&arena.Options{Name: "budgeted", InitialSize: 64 << 20})
	if err != nil {
		panic(err)
	}
	if _, err := arena.New[int64](b); err != nil { // maps the 64 MiB chunk
		panic(err)
	}
	held := debug.SetMemoryLimit(-1) // -1 reads the limit
	fmt.Println(held <= 1<<30-64<<20)
	if err := b.Close(); err != nil {
		panic(err)
	}
	fmt.Println(debug.SetMemoryLimit(-1)-held >= 64<<20) // given back
	// Output:
	// true
	// true
}
