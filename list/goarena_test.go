//go:build goexperiment.arenas

package list_test

import (
	goarena "arena"
	"testing"
)

// Go's own experimental arena as a W3 peer: the same {val; next} nodes
// as the Go heap peer, allocated with arena.New. Build with
// GOEXPERIMENT=arenas to include it.
func init() {
	var a *goarena.Arena
	w3Extra = append(w3Extra, w3Case{
		name: "list=goarena",
		build: func(b *testing.B, n int) {
			a = goarena.NewArena()
			var head *heapNode
			for i := range n {
				p := goarena.New[heapNode](a)
				p.Val, p.Next = int64(i), head
				head = p
			}
			goarenaHead = head
		},
		sum: func() int64 {
			return goarenaHead.Sum()
		},
		free: func(*testing.B) { goarenaHead = nil; a.Free() },
	})
}

// goarenaHead keeps the Go arena's list reachable during the op.
var goarenaHead *heapNode
