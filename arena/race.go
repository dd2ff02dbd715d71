//go:build race

package arena

// raceEnabled: the race detector ignores atomics on memory the Go
// runtime did not allocate, such as a Memfd's shared lock word, so
// under -race a Memfd also takes a sync.Mutex to show it the order its
// lock already imposes (see Memfd.mu).
const raceEnabled = true
