package expvarpub_test

import (
	"encoding/json"
	"expvar"
	"fmt"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
)

// A service publishes its arenas once at start-up; whatever reads
// /debug/vars (arenastat watch) then sees every live arena. Here the
// variable is read in-process, as the HTTP handler would.
func Example() {
	expvarpub.Publish()
	b, err := arena.NewBump(&arena.Options{Name: "sessions"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if _, err := arena.New[[64]byte](b); err != nil {
		panic(err)
	}
	var snap arena.Snapshot
	if err := json.Unmarshal([]byte(expvar.Get(expvarpub.Name).String()), &snap); err != nil {
		panic(err)
	}
	for _, a := range snap.Arenas {
		if a.Name == "sessions" {
			fmt.Println(snap.Format, a.Name, a.Kind)
		}
	}
	// Output:
	// arenastat-1 sessions bump
}
