package arena_test

import (
	"fmt"
	"slices"

	"github.com/mmarena/mmarena/arena"
)

// A user record for the cache example: plain values, no Go pointers.
type user struct {
	ID     int64
	Visits int64
	Score  float64
}

// Example_cache keeps a cache's entries in a FreeList with no unsafe in
// sight: Clone puts a value in, FreeT evicts it, and Append grows a
// slice without leaving the arena. The map may hold pointers into the
// arena (the collector ignores them); the arena must hold no Go pointers.
func Example_cache() {
	f, err := arena.NewFreeList(&arena.Options{Name: "users"})
	if err != nil {
		panic(err)
	}
	defer f.Close()

	cache := map[int64]*user{}
	for id := range int64(1000) {
		u, err := arena.Clone(f, user{ID: id, Score: float64(id) / 2})
		if err != nil {
			panic(err)
		}
		cache[id] = u
	}
	cache[42].Visits++

	for id, u := range cache {
		if id%10 != 2 { // keep one user in ten
			if err := arena.FreeT(f, u); err != nil {
				panic(err)
			}
			delete(cache, id)
		}
	}

	var ids []int64 // nil: the first Append moves it into the arena
	for id := range cache {
		if ids, err = arena.Append(f, ids, id); err != nil {
			panic(err)
		}
	}
	slices.Sort(ids)
	fmt.Println(len(cache), "users kept, the first:", ids[:3])
	fmt.Println("user 42:", *cache[42])
	if err := arena.FreeSlice(f, ids); err != nil {
		panic(err)
	}
	st := f.Stats()
	fmt.Println("live blocks:", st.Allocs-st.Frees) // the ids' old arrays were freed as they grew
	// Output:
	// 100 users kept, the first: [2 12 22]
	// user 42: {42 1 21}
	// live blocks: 100
}
