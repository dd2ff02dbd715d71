package hardened

import "errors"

// A Status is what Free made of a pointer. Every status but Freed means
// Free changed nothing. It is a value, safe to use from any goroutine.
type Status uint8

const (
	Freed      Status = iota // the block was live and is now fenced
	NotOwned                 // the pointer is not in the pages of any block of the pool
	NotStart                 // the pointer is inside a block but not at its start
	DoubleFree               // the block was freed already and is still fenced
)

var statusNames = [...]string{Freed: "freed", NotOwned: "not owned", NotStart: "not the start of a block", DoubleFree: "double free"}

// String names the status: "double free".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + itoa(int(s)) + ")"
}

// The errors Alloc returns for a block it does not place; they are
// allocated once, since an arena asks again at every sample.
var (
	errPoolFull = errors.New("hardened: every slot is live")
	errStopped  = errors.New("hardened: stopped, out of mappings (Stats.Stopped says why)")
	errClosed   = errors.New("hardened: pool closed")
	errSize     = errors.New("hardened: size 0, or larger than the address space")
)
