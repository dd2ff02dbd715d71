package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// liveService publishes this test process's arenas over HTTP as a
// service would, with a bump arena named name holding some objects.
func liveService(t *testing.T, name string) (url string, b *arena.Bump) {
	t.Helper()
	expvarpub.Publish()
	b, err := arena.NewBump(&arena.Options{Name: name, InitialSize: 256 << 10})
	require.NoError(t, err)
	for range 20_000 {
		o, err := arena.New[[64]byte](b)
		require.NoError(t, err)
		o[0] = 1
	}
	b.Stats() // publish the latest figures
	srv := httptest.NewServer(expvar.Handler())
	t.Cleanup(func() {
		srv.Close()
		assert.NoError(t, b.Close())
	})
	return srv.URL, b
}

func TestWatch(t *testing.T) {
	mapcheck.Baseline(t)
	url, _ := liveService(t, "watched")
	f, err := arena.NewFreeList(&arena.Options{Name: "watched-hardened", Sample: &hardened.Options{Every: 10}})
	require.NoError(t, err)
	defer f.Close()
	for range 100 {
		p, err := f.Alloc(64, 8)
		require.NoError(t, err)
		require.NoError(t, f.Free(p))
	}
	f.Stats() // publish
	gone, err := arena.NewBump(&arena.Options{Name: "closed-one"})
	require.NoError(t, err)
	_, err = gone.Alloc(64, 8)
	require.NoError(t, err)
	require.NoError(t, gone.Close()) // its range waits in the quarantine
	pid := strconv.Itoa(os.Getpid())
	out, stderr, code := arenastat(t, "watch", "-count", "2", "-interval", "10ms", "-pid", pid, url)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	assert.Equal(t, 2, strings.Count(out, "CREATED AT"), "two draws, each a table:\n%s", out)
	assert.Contains(t, out, "pid "+pid)
	assert.Regexp(t, `(?m)^ *watched +bump +1\.2 MiB +[\d.]+ MiB +0 B +\d+ +20,000 +0 +- +1\.\d MiB +\S+s +arenastat/commands_test\.go:\d+ *$`, out)
	assert.Regexp(t, `(?m)^quarantine: [1-9]\d* closed range\(s\), [\d.]+ [KM]iB of 1\.0 GiB address space, [1-9]\d* mapping\(s\), \d+ eviction\(s\); oldest "closed-one", closed [\d.]+m?s ago$`, out)
	assert.Regexp(t, `(?m)^ *watched-hardened +freelist +0 B +[\d.]+ MiB +0 B +\d+ +100 +0 +10 +[\d.]+ [KM]iB +\S+s +arenastat/commands_test\.go:\d+ *$`, out)

	out, stderr, code = arenastat(t, "-json", "watch", "-count", "1", url)
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Format string
		Arenas []struct {
			Name   string
			InUse  uint64 `json:"in_use"`
			Allocs uint64
			RSS    *uint64
			Ranges []arena.Range
		}
		Quarantine struct {
			Regions int
			Oldest  string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	assert.Equal(t, "arenastat-1", doc.Format)
	found := false
	for _, a := range doc.Arenas {
		if a.Name == "watched" {
			found = true
			assert.Equal(t, uint64(20_000*64), a.InUse)
			assert.Equal(t, uint64(20_000), a.Allocs)
			assert.Nil(t, a.RSS, "no -pid, no RSS")
			assert.NotEmpty(t, a.Ranges)
		}
	}
	assert.True(t, found, out)
	assert.GreaterOrEqual(t, doc.Quarantine.Regions, 1)
	assert.Equal(t, "closed-one", doc.Quarantine.Oldest)
}

func TestWatchErrors(t *testing.T) {
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }))
	defer notJSON.Close()
	noArenas := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"memstats": {}}`) }))
	defer noArenas.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	tests := []struct {
		url, stderr string
	}{
		{notJSON.URL, `^arenastat: http://127\.0\.0\.1:\d+/debug/vars did not answer JSON: invalid character 'h' looking for beginning of value\n$`},
		{noArenas.URL, `^arenastat: http://127\.0\.0\.1:\d+/debug/vars has no mmarena entry: does the program call expvarpub\.Publish\?\n$`},
		{missing.URL, `^arenastat: http://127\.0\.0\.1:\d+/debug/vars answered 404 Not Found\n$`},
		{goneURL, `^arenastat: cannot reach http://127\.0\.0\.1:\d+/debug/vars: Get "http://127\.0\.0\.1:\d+/debug/vars": dial tcp 127\.0\.0\.1:\d+: connect: connection refused\n$`},
	}
	for _, tt := range tests {
		out, stderr, code := arenastat(t, "watch", "-count", "1", tt.url)
		assert.Equal(t, 1, code)
		assert.Regexp(t, tt.stderr, stderr, "one clear line, no stack trace")
		assert.Empty(t, out)
	}
}

func TestMaps(t *testing.T) {
	mapcheck.Baseline(t)
	url, b := liveService(t, "mapped")
	pid := strconv.Itoa(os.Getpid())
	out, stderr, code := arenastat(t, "maps", "-url", url, pid)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "ADDRESS")
	assert.Regexp(t, `(?m)^[0-9a-f]+-[0-9a-f]+ +rw-p +.*arena "mapped" \(bump\)`, out)
	assert.Contains(t, out, "[stack]")

	out, stderr, code = arenastat(t, "-json", "maps", pid)
	require.Equal(t, 0, code, stderr)
	var doc struct {
		PID      int
		Mappings []mapsRow
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, os.Getpid(), doc.PID)
	assert.NotEmpty(t, doc.Mappings)
	// The bump arena's chunk is among them, and carries guard markers or
	// sits between PROT_NONE guards.
	chunk := b.Stats()
	assert.Greater(t, chunk.Chunks, 0)
	notes := ""
	for _, m := range doc.Mappings {
		notes += m.Note + "\n"
	}
	assert.Regexp(t, `has guard markers|PROT_NONE: guard or reserve`, notes)

	_, stderr, code = arenastat(t, "maps", "999999999")
	assert.Equal(t, 1, code)
	assert.Equal(t, "arenastat: no process 999999999 (nothing at /proc/999999999)\n", stderr)
}

func TestBench(t *testing.T) {
	out, stderr, code := arenastat(t, "-json", "bench", "-n", "20000", "-count", "1")
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Format  string
		Results []benchRow
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "arenastat-bench-2", doc.Format)
	require.Len(t, doc.Results, 8)
	arenas := ""
	for _, r := range doc.Results {
		arenas += r.Workload + "/" + r.Arena + " "
		assert.Equal(t, 20000, r.N)
		assert.Len(t, r.Runs, 1)
		assert.Greater(t, r.PerOp, 0.0)
		assert.Greater(t, r.Ratio, 0.0)
		assert.Zero(t, r.Spread, "one run, no spread")
		if r.Arena != "goheap" && r.Workload != "W4" { // W4's churn is meant to make garbage
			assert.Zero(t, r.GCs, "%s on %s caused a GC", r.Workload, r.Arena)
		}
	}
	assert.Equal(t, "W1/goheap W1/bump W2/goheap W2/freelist W3/goheap W3/list W4/goheap W4/list ", arenas)
	assert.Equal(t, 1.0, doc.Results[0].Ratio)
}

func TestTourJSON(t *testing.T) {
	out, stderr, code := arenastat(t, "-json")
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Format string
		Steps  []struct {
			Title string
			Lines []string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "arenastat-tour-1", doc.Format)
	require.Len(t, doc.Steps, 17)
	assert.Equal(t, "The page size, read at run time", doc.Steps[0].Title)
	assert.Contains(t, strings.Join(doc.Steps[8].Lines, "\n"), `caught: guard: fault 1 byte past the end of region "tour"`)
	assert.Equal(t, "A pointer kept past Close faults and is named, with the Close call site", doc.Steps[10].Title)
	assert.Equal(t, "A leaked arena is reported and keeps its memory", doc.Steps[11].Title)
	assert.Contains(t, strings.Join(doc.Steps[11].Lines, "\n"), "the leaked slice still reads 1 4 9 ... 998001")
}
