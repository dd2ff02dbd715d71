package main

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWatchShards checks that watch prints a SyncFreeList's shards on a
// line of their own under the table: one entry per P, with its bytes in
// use and held, its allocations and its remote frees.
func TestWatchShards(t *testing.T) {
	mapcheck.Baseline(t)
	url, _ := liveService(t, "watched-too")
	f, err := arena.NewSyncFreeList(&arena.Options{Name: "watched-sync"})
	require.NoError(t, err)
	defer func() { assert.NoError(t, f.Close()) }()
	for range 1000 { // 62.5 KiB (humanize: 63 KiB) of 64-byte blocks, in the shard of the P the goroutine runs on
		_, err := f.Alloc(64, 8)
		require.NoError(t, err)
	}
	out, stderr, code := arenastat(t, "watch", "-count", "1", url)
	require.Equal(t, 0, code, stderr)
	n := runtime.GOMAXPROCS(0)
	assert.Regexp(t, `(?m)^watched-sync: `+strconv.Itoa(n)+` shard\(s\)(; #\d+ [\d.]+ (B|KiB) in use, [\d.]+ (B|KiB) held, [\d,]+ allocs, \d+ remote frees){`+strconv.Itoa(n)+`}$`, out)
	assert.Regexp(t, `(?m)^ *watched-sync +freelist +63 KiB .* 1,000 +0 +- `, out, "the row adds the shards up")
	assert.Regexp(t, `(?m)^watched-sync: .*#\d+ [\d.]+ KiB in use, [\d.]+ KiB held, [\d,]+ allocs`, out, "the shard the test goroutine ran on")
}
