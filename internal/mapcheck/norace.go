//go:build !race

package mapcheck

const raceEnabled = false
