package arena_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

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

// A server gives each request a pooled arena, in the request's context.
func ExampleNewContext() {
	pool, err := arena.NewPool(&arena.PoolOptions{Arena: &arena.Options{Name: "request"}})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	handle := func(ctx context.Context) {
		a, _ := arena.FromContext(ctx)
		buf, _ := arena.MakeSlice[byte](a, 512, 512)
		fmt.Println(len(buf))
	}
	b, err := pool.Get()
	if err != nil {
		panic(err)
	}
	handle(arena.NewContext(context.Background(), b))
	fmt.Println(pool.Put(b)) // the request is over, and so is all it allocated
	// Output:
	// 512
	// <nil>
}

// The request pattern at its cheapest: each request takes an arena from
// the pool and gives it back, reset, when it is done, and a handler that
// works in phases Resets between them. Once the pool keeps an arena,
// Get, Reset and Put make no system call and no Go heap allocation; here
// one arena serves all three requests.
func ExamplePool() {
	pool, err := arena.NewPool(&arena.PoolOptions{Arena: &arena.Options{Name: "request"}})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	type item struct{ ID, Qty int64 }
	serve := func(id int64) error {
		a, err := pool.Get()
		if err != nil {
			return err
		}
		defer pool.Put(a) // every pointer into a dies here
		var total int64
		for phase := range int64(3) {
			items, err := arena.MakeSlice[item](a, 0, 100)
			if err != nil {
				return err
			}
			for i := range int64(100) {
				items = append(items, item{id, i + phase})
			}
			for _, it := range items {
				total += it.Qty
			}
			a.Reset() // this phase's items are gone; the next reuses their memory
		}
		fmt.Println(id, total, a.Stats().Resets)
		return nil
	}
	for id := range int64(3) {
		if err := serve(id); err != nil {
			panic(err)
		}
	}
	// Output:
	// 0 15150 3
	// 1 15150 7
	// 2 15150 11
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

// MakeSlice gives a slice whose backing array lives in the arena; append
// past its capacity moves it to the Go heap, as append always may.
func ExampleMakeSlice() {
	b, err := arena.NewBump(&arena.Options{Name: "ids"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ids, err := arena.MakeSlice[int64](b, 3, 8)
	if err != nil {
		panic(err)
	}
	ids[0], ids[1], ids[2] = 7, 8, 9
	fmt.Println(ids, len(ids), cap(ids))
	_, err = arena.MakeSlice[int64](b, 9, 8)
	fmt.Println(errors.Is(err, arena.ErrSize))
	// Output:
	// [7 8 9] 3 8
	// true
}

// Many goroutines allocate from one Shared arena at once; Close waits for
// none of them, so it comes after they are done.
func ExampleShared() {
	s, err := arena.NewShared(&arena.Options{Name: "workers"})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	sums := make([]int64, 4)
	for w := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				n, err := arena.New[int64](s)
				if err != nil {
					panic(err)
				}
				*n = int64(i)
				sums[w] += *n
			}
		}()
	}
	wg.Wait()
	fmt.Println(sums)
	// Output:
	// [499500 499500 499500 499500]
}

// A SyncFreeList is a FreeList many goroutines may use at once: blocks
// may be allocated by one goroutine and freed by another.
func ExampleSyncFreeList() {
	f, err := arena.NewSyncFreeList(&arena.Options{Name: "handoff"})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	blocks := make(chan unsafe.Pointer, 100)
	go func() {
		defer close(blocks)
		for range 100 {
			p, err := f.Alloc(64, 8)
			if err != nil {
				panic(err)
			}
			blocks <- p
		}
	}()
	freed := 0
	for p := range blocks {
		if f.Free(p) == nil {
			freed++
		}
	}
	st := f.Stats()
	fmt.Println(freed, st.Allocs, st.Frees, st.InUse)
	// Output:
	// 100 100 100 0
}

// Trim gives back what a SyncFreeList's shards keep for reuse: after
// every block is freed, no shard holds free blocks, and Stats.Shards has
// one entry per P.
func ExampleSyncFreeList_Trim() {
	f, err := arena.NewSyncFreeList(&arena.Options{Name: "bursts"})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var ps []unsafe.Pointer
			for i := range 10000 {
				p, err := f.Alloc(uintptr(16+i%500), 8)
				if err != nil {
					panic(err)
				}
				ps = append(ps, p)
			}
			for _, p := range ps {
				if err := f.Free(p); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	if err := f.Trim(); err != nil {
		panic(err)
	}
	st := f.Stats()
	var held uint64
	for _, sh := range st.Shards {
		held += sh.Held
	}
	fmt.Println(st.Allocs, st.Frees, st.InUse, held, len(st.Shards) == runtime.GOMAXPROCS(0))
	// Output:
	// 40000 40000 0 0 true
}

// Realloc keeps a block's contents, in place when its size class still
// fits, and leaves the block untouched when it fails.
func ExampleFreeList_Realloc() {
	f, err := arena.NewFreeList(&arena.Options{Name: "buffers"})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	p, err := f.Alloc(100, 8)
	if err != nil {
		panic(err)
	}
	copy(unsafe.Slice((*byte)(p), 100), "hello")
	q, err := f.Realloc(p, 104) // the same 104-byte class: in place
	fmt.Println(q == p, err)
	r, err := f.Realloc(q, 5000) // a larger class: moved, contents kept
	fmt.Println(string(unsafe.Slice((*byte)(r), 5)), err)
	fmt.Println(errors.Is(f.Free(q), arena.ErrDoubleFree)) // q went with the move
	// Output:
	// true <nil>
	// hello <nil>
	// true
}

// TakeSnapshot lists the live arenas and what guard's quarantine holds;
// arena/expvarpub serves the same document over HTTP.
func ExampleTakeSnapshot() {
	b, err := arena.NewBump(&arena.Options{Name: "snapshot-demo"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if _, err := arena.MakeSlice[int64](b, 1000, 1000); err != nil {
		panic(err)
	}
	b.Stats() // publishes the latest numbers
	for _, a := range arena.TakeSnapshot().Arenas {
		if a.Name == "snapshot-demo" {
			fmt.Println(a.Kind, a.InUse, a.Allocs)
		}
	}
	// Output:
	// bump 8000 1
}

// A binary search tree in a Bump, linked by Refs: the node type holds no
// Go pointer, so New accepts it, and no unsafe is needed to link nodes.
func ExampleRef() {
	type node struct {
		left, right arena.Ref[node]
		key         int64
	}
	b, err := arena.NewBump(nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	var root arena.Ref[node] // the zero Ref: an empty tree
	insert := func(key int64) error {
		n, err := arena.New[node](b)
		if err != nil {
			return err
		}
		n.key = key
		r, err := arena.RefOf(b, n)
		if err != nil {
			return err
		}
		at := &root
		for p := at.Get(b); p != nil; p = at.Get(b) {
			if key < p.key {
				at = &p.left
			} else {
				at = &p.right
			}
		}
		*at = r
		return nil
	}
	for _, k := range []int64{50, 30, 70, 20, 40, 60, 80} {
		if err := insert(k); err != nil {
			panic(err)
		}
	}
	var keys []int64
	var walk func(r arena.Ref[node])
	walk = func(r arena.Ref[node]) {
		if n := r.Get(b); n != nil {
			walk(n.left)
			keys = append(keys, n.key)
			walk(n.right)
		}
	}
	walk(root)
	fmt.Println(keys)
	b.Reset() // the tree is gone, and its Refs with it
	fmt.Println(root.Get(b) == nil)
	// Output:
	// [20 30 40 50 60 70 80]
	// true
}
