package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/procmaps"
)

// watchRow is one arena as watch shows it.
type watchRow struct {
	arena.Summary
	RSS *uint64 `json:"rss,omitempty"` // from /proc/PID/smaps, with -pid
}

func cmdWatch(e env, args []string) error {
	fs := newFlags("watch")
	interval := fs.Duration("interval", time.Second, "time between draws")
	count := fs.Int("count", 0, "stop after this many draws (0: never)")
	pid := fs.Int("pid", 0, "add resident memory per arena from /proc/PID/pagemap")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("watch needs one URL, got %d arguments", fs.NArg())
	}
	if *interval <= 0 || *count < 0 || *pid < 0 {
		return usagef("watch: -interval must be positive, -count and -pid not negative")
	}
	url, client := fs.Arg(0), newClient()
	redraw := !e.json && isTerminal(e.stdout)
	for n := 0; *count == 0 || n < *count; n++ {
		if n > 0 {
			time.Sleep(*interval)
		}
		snap, err := fetch(client, url)
		if err != nil {
			return err
		}
		rows := make([]watchRow, len(snap.Arenas))
		for i, a := range snap.Arenas {
			rows[i].Summary = a
		}
		if *pid > 0 {
			if err := addRSS(rows, *pid); err != nil {
				return err
			}
		}
		if e.json {
			if err := e.emit(struct {
				Format     string     `json:"format"`
				Time       time.Time  `json:"time"`
				PID        int        `json:"pid"`
				Arenas     []watchRow `json:"arenas"`
				Budget     any        `json:"budget"`
				Quarantine any        `json:"quarantine"`
			}{snap.Format, snap.Time, snap.PID, rows, snap.Budget, snap.Quarantine}); err != nil {
				return err
			}
			continue
		}
		if redraw {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J") // home and clear: draw in place
		} else if n > 0 {
			fmt.Fprintln(e.stdout)
		}
		drawWatch(e.stdout, url, snap, rows, *pid > 0)
	}
	return nil
}

// drawWatch prints one table of a snapshot's arenas.
func drawWatch(w io.Writer, url string, snap arena.Snapshot, rows []watchRow, rss bool) {
	fmt.Fprintf(w, "%s  pid %d  %s  %d arena(s), %d of %d kernel mappings held\n",
		url, snap.PID, snap.Time.Format(time.TimeOnly), len(rows), snap.Budget.Held, snap.Budget.Limit)
	fmt.Fprintln(w, quarantineLine(snap.Quarantine))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "NAME\tKIND\tIN USE\tCOMMITTED\tCACHED\tCHUNKS\tALLOCS\tRESETS\tSAMPLED\t"
	if rss {
		head += "RSS\t"
	}
	fmt.Fprintln(tw, head+"AGE\tCREATED AT\t")
	for _, r := range rows {
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t", r.Name, r.Kind,
			humanize.IBytes(r.InUse), humanize.IBytes(r.Committed), humanize.IBytes(r.Cached), r.Chunks,
			humanize.Comma(int64(r.Allocs)), r.Resets)
		if r.Sample != nil {
			line += humanize.Comma(int64(r.Sample.Sampled)) + "\t"
		} else {
			line += "-\t"
		}
		if rss {
			line += humanize.IBytes(*r.RSS) + "\t"
		}
		fmt.Fprintln(tw, line+age(snap.Time, r.Updated)+"\t"+shortSite(r.Site)+"\t")
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.Shards) > 0 {
			fmt.Fprintln(w, shardLine(r.Name, r.Shards))
		}
	}
}

// shardLine describes a SyncFreeList's shards in one line: per P, its
// bytes in use, the free bytes only it can hand out (held), its
// allocations and the frees that came from other Ps.
func shardLine(name string, shards []arena.ShardStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d shard(s)", name, len(shards))
	for i, sh := range shards {
		fmt.Fprintf(&b, "; #%d %s in use, %s held, %s allocs, %s remote frees", i,
			humanize.IBytes(sh.InUse), humanize.IBytes(sh.Held), humanize.Comma(int64(sh.Allocs)), humanize.Comma(int64(sh.Remote)))
	}
	return b.String()
}

// age says how old a row's numbers were at the snapshot's time, to the
// millisecond.
func age(snap, updated time.Time) string {
	return max(snap.Sub(updated), 0).Round(time.Millisecond).String()
}

// quarantineLine describes guard's quarantine of closed arenas' ranges in
// one line.
func quarantineLine(q guard.QuarantineStats) string {
	if q.Limit == 0 {
		return "quarantine: off"
	}
	s := fmt.Sprintf("quarantine: %d closed range(s), %s of %s address space, %d mapping(s), %d eviction(s)",
		q.Regions, humanize.IBytes(uint64(q.Bytes)), humanize.IBytes(uint64(q.Limit)), q.Mappings, q.Evictions)
	if q.Oldest != "" {
		s += fmt.Sprintf("; oldest %q, closed %s ago", q.Oldest, time.Since(q.OldestAt).Round(time.Millisecond))
	}
	if q.Cached > 0 || q.Reused > 0 {
		s += fmt.Sprintf("; reuse cache: %d range(s), %s, %d reused", q.Cached, humanize.IBytes(uint64(q.CachedBytes)), q.Reused)
	}
	return s
}

// shortSite keeps the last two path elements of file:line.
func shortSite(s string) string {
	parts := strings.Split(s, "/")
	if len(parts) > 2 {
		return strings.Join(parts[len(parts)-2:], "/")
	}
	return s
}

// addRSS fills each row's RSS with the resident bytes of the arena's
// ranges in process pid, page by page (/proc/PID/pagemap): smaps would
// count whole kernel mappings, which neighbouring mappings may share.
func addRSS(rows []watchRow, pid int) error {
	for i := range rows {
		var n uint64
		for _, rg := range rows[i].Ranges {
			r, err := procmaps.Resident(pid, uintptr(rg.Start), uintptr(rg.End))
			if err != nil {
				return procError(pid, err)
			}
			n += r
		}
		rows[i].RSS = &n
	}
	return nil
}
