//go:build race

package main

// raceEnabled makes TestMain build arenastat with -race too.
const raceEnabled = true
