//go:build goexperiment.arenas

package arena_test

import (
	goarena "arena"
	"testing"
)

// Go's own experimental arena as a W1 peer. Build with
// GOEXPERIMENT=arenas to include it.
func init() {
	var a *goarena.Arena
	w1Extra = append(w1Extra, w1Case{
		name: "arena=goarena/state=cold",
		run: func(b *testing.B, n int) {
			a = goarena.NewArena()
			for i := range n {
				o := goarena.New[obj32](a)
				o.A = int64(i)
			}
		},
		teardown: func(*testing.B) { a.Free(); coldStart() },
	})
}
