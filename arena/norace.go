//go:build !race

package arena

// raceEnabled is false: see race.go.
const raceEnabled = false
