package expvarpub

import (
	"expvar"
	"sync"

	"github.com/mmarena/mmarena/arena"
)

// Name is the expvar name the snapshot is published under.
const Name = "mmarena"

var once sync.Once

// Publish publishes arena.TakeSnapshot under the expvar name Name, so a
// service that serves /debug/vars shows its arenas beside memstats.
// Calling it again does nothing. Safe for concurrent use.
func Publish() {
	once.Do(func() {
		expvar.Publish(Name, expvar.Func(func() any { return arena.TakeSnapshot() }))
	})
}
