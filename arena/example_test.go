package arena_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
)

// A request's scratch objects in a bump arena: allocated one by one,
// never scanned by the GC, freed together.
func Example() {
	type point struct{ X, Y float64 }
	b, err := arena.NewBump(&arena.Options{Name: "request"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	p, err := arena.New[point](b)
	if err != nil {
		panic(err)
	}
	p.X, p.Y = 3, 4
	path, err := arena.MakeSlice[point](b, 0, 1000)
	if err != nil {
		panic(err)
	}
	path = append(path, *p, point{6, 8})
	fmt.Println(len(path), path[1].Y, b.Stats().Allocs)
	_, err = arena.New[struct{ Name string }](b)
	fmt.Println(errors.Is(err, arena.ErrPointers))
	b.Reset() // everything above is gone; the memory is reused
	// Output:
	// 2 8 2
	// true
}

func ExampleBump_Alloc() {
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	p, err := b.Alloc(100, 64)
	fmt.Println(err, uintptr(p)%64)
	_, err = b.Alloc(100, 12)
	fmt.Println(err)
	// Output:
	// <nil> 0
	// arena: alignment 12 is not a power of two
}

// A server puts each request's arena in its context.
func ExampleNewContext() {
	b, err := arena.NewBump(&arena.Options{Name: "req-42"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	handle := func(ctx context.Context) {
		a, _ := arena.FromContext(ctx)
		buf, _ := arena.MakeSlice[byte](a, 512, 512)
		fmt.Println(len(buf))
	}
	handle(arena.NewContext(context.Background(), b))
	// Output:
	// 512
}

// A free-list arena with the posix_memalign contract: errors are values,
// and a double free is caught and changes nothing.
func ExampleFreeList() {
	f, err := arena.NewFreeList(&arena.Options{Name: "cache"})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	p, err := align.Memalign(f, 64, 1000) // 64-byte aligned, zeroed
	fmt.Println(uintptr(p)%64, err)
	fmt.Println(f.Free(p))
	fmt.Println(errors.Is(f.Free(p), arena.ErrDoubleFree))
	_, err = align.Memalign(f, 12, 1000)
	fmt.Println(errors.Is(err, unix.EINVAL))
	// Output:
	// 0 <nil>
	// <nil>
	// true
	// true
}

// A string String put in an arena dies with the arena's next Reset: its
// bytes are handed out again. Here a map keyed by one loses its key,
// which now reads as the next string allocated; strings.Clone the key to
// keep it.
func ExampleString() {
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	key, err := arena.String(b, "apple")
	if err != nil {
		panic(err)
	}
	stock := map[string]int{key: 3}
	kept := map[string]int{strings.Clone(key): 3}

	b.Reset()
	if _, err := arena.String(b, "melon"); err != nil { // reuses key's bytes
		panic(err)
	}
	_, found := stock["apple"]
	fmt.Println(found, key)
	for k := range stock {
		fmt.Println(len(stock), k) // one key, and it reads "melon"
	}
	fmt.Println(kept["apple"])
	// Output:
	// false melon
	// 1 melon
	// 3
}
