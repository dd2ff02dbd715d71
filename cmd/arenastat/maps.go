package main

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/dustin/go-humanize"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// mapsRow is one mapping as maps shows it.
type mapsRow struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	Perms string `json:"perms"`
	Size  uint64 `json:"size"`
	RSS   uint64 `json:"rss"`
	Path  string `json:"path,omitempty"`
	Note  string `json:"note,omitempty"` // guard, guard markers, or the arena it belongs to
}

func cmdMaps(e env, args []string) error {
	fls := e.flags("maps")
	url := fls.String("url", "", "the process's expvar endpoint (URL, HOST:PORT or :PORT), to name its arenas")
	if err := parseFlags(fls, args); err != nil {
		return err
	}
	if fls.NArg() != 1 {
		return usagef("maps needs one PID, got %d arguments", fls.NArg())
	}
	pid, err := strconv.Atoi(fls.Arg(0))
	if err != nil || pid <= 0 {
		return usagef("maps: %q is not a process ID", fls.Arg(0))
	}
	var endpoint string
	if *url != "" {
		if endpoint, err = targetURL(*url); err != nil {
			return usagef("maps: -url: %v", err)
		}
	}
	ms, err := procmaps.Read(pid)
	if err != nil {
		return procError(pid, err)
	}
	ds, err := procmaps.ReadDetails(pid)
	if err != nil {
		return procError(pid, err)
	}
	var snap arena.Snapshot
	if *url != "" {
		if snap, err = fetch(newClient(), endpoint); err != nil {
			return err
		}
	}
	rows := make([]mapsRow, 0, len(ms))
	for _, m := range ms {
		d := ds[m.Start]
		r := mapsRow{Start: uint64(m.Start), End: uint64(m.End), Perms: m.Perms, Size: uint64(m.Size()), RSS: d.Rss, Path: m.Path}
		switch {
		case m.Perms == "---p" && m.Path == "":
			r.Note = "PROT_NONE: guard or reserve"
		case slices.Contains(d.Flags, "gu"):
			r.Note = "has guard markers"
		}
		for _, a := range snap.Arenas {
			for _, rg := range a.Ranges {
				if uint64(m.Start) < rg.End && uint64(m.End) > rg.Start {
					r.Note = fmt.Sprintf("arena %q (%s)", a.Name, a.Kind)
				}
			}
		}
		rows = append(rows, r)
	}
	if e.json {
		return e.emit(struct {
			Format   string    `json:"format"`
			PID      int       `json:"pid"`
			Mappings []mapsRow `json:"mappings"`
		}{"arenastat-maps-1", pid, rows})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tPERMS\tSIZE\tRSS\tNOTE\tPATH")
	for _, r := range rows {
		fmt.Fprintf(tw, "%x-%x\t%s\t%s\t%s\t%s\t%s\n", r.Start, r.End, r.Perms,
			humanize.IBytes(r.Size), humanize.IBytes(r.RSS), r.Note, r.Path)
	}
	return tw.Flush()
}

// procError turns a failure to read /proc/PID into one clear line.
func procError(pid int, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no process %d (nothing at /proc/%d)", pid, pid)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot read process %d (/proc/%d): permission denied", pid, pid)
	}
	return fmt.Errorf("reading process %d: %v", pid, err)
}
