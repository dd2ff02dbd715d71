package hardened_test

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strings"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// The live sampled blocks, by allocation site, are a pprof profile like
// the heap's: net/http/pprof serves it, and WriteTo writes it (debug 0
// for go tool pprof, 1 for text, as here).
func ExampleProfileName() {
	f, err := arena.NewFreeList(&arena.Options{Name: "profiled", Sample: &hardened.Options{Every: 1}})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	type order struct{ ID, Qty int64 }
	o, err := arena.New[order](f) // sampled: Every is 1
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := pprof.Lookup(hardened.ProfileName).WriteTo(&buf, 1); err != nil {
		panic(err)
	}
	text := buf.String()
	fmt.Println(strings.HasPrefix(text, "mmarena.sampled profile: total "))
	fmt.Println(strings.Contains(text, "hardened_test.ExampleProfileName"))
	if err := arena.FreeT(f, o); err != nil {
		panic(err)
	}
	// Output:
	// true
	// true
}
