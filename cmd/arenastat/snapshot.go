package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mmarena/mmarena/arena"
)

// fetch reads a Snapshot from url: an expvar page (/debug/vars) with an
// "mmarena" entry, or a Snapshot on its own.
func fetch(client *http.Client, url string) (arena.Snapshot, error) {
	var snap arena.Snapshot
	resp, err := client.Get(url)
	if err != nil {
		return snap, fmt.Errorf("cannot reach %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return snap, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return snap, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(body, &vars); err != nil {
		return snap, fmt.Errorf("%s did not answer JSON: %v", url, err)
	}
	raw, ok := vars["mmarena"]
	if !ok {
		if _, isSnap := vars["format"]; !isSnap {
			return snap, fmt.Errorf("%s has no mmarena entry: does the program call expvarpub.Publish?", url)
		}
		raw = body
	}
	if err := json.Unmarshal(raw, &snap); err != nil {
		return snap, fmt.Errorf("%s: the mmarena entry is not a snapshot: %v", url, err)
	}
	if snap.Format != arena.SnapshotFormat {
		return snap, fmt.Errorf("%s: snapshot format %q, this arenastat reads %q", url, snap.Format, arena.SnapshotFormat)
	}
	return snap, nil
}

// newClient returns the HTTP client the commands use: a short timeout, so
// an unreachable service is one clear error, not a hang.
func newClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }
