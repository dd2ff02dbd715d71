package hardened_test

import (
	"unsafe"

	"github.com/mmarena/mmarena/internal/arenatest"
)

// The helpers the pool's tests share with arena's, which drive pools
// through the arenas that sample into them.
var (
	newBump     = arenatest.NewBump
	newFreeList = arenatest.NewFreeList
	bytesAt     = arenatest.BytesAt
	isZero      = arenatest.IsZero
	allocFree   = arenatest.AllocFree
)

var sink byte

//go:noinline
func load(p unsafe.Pointer) { sink = *(*byte)(p) }
