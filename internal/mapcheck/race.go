//go:build race

package mapcheck

// raceEnabled: the race detector's runtime maps and unmaps memory of its
// own at addresses of the kernel's choosing, often reusing ranges guard
// just gave back, so the kernel's list cannot be attributed under -race.
const raceEnabled = true
