package hardened

import "github.com/mmarena/mmarena/guard"

// SetFence makes pools use fence f until the returned function is
// called, so tests can run them on mprotect as well.
func SetFence(f guard.Fence) (restore func()) {
	old := fence
	fence = f
	return func() { fence = old }
}
