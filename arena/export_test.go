package arena

import "github.com/mmarena/mmarena/guard"

// SetSampleFence makes sampling pools use fence f until the returned
// function is called, so tests can run them on mprotect as well.
func SetSampleFence(f guard.Fence) (restore func()) {
	old := sampleFence
	sampleFence = f
	return func() { sampleFence = old }
}

// FreedLargeKept is how many freed large blocks a FreeList remembers.
const FreedLargeKept = freedLargeKept
