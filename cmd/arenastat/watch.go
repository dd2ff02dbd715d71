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
	Age time.Duration `json:"age_ns"`        // how old its numbers were at the snapshot's time
	RSS *uint64       `json:"rss,omitempty"` // from /proc/PID/pagemap, with -pid or a PID operand
}

// watchFormat names the layout of one line of watch -json: the
// snapshot's fields, each arena with age_ns and rss added, and the URL
// read.
const watchFormat = arena.SnapshotFormat

func cmdWatch(e env, args []string) error {
	fs := e.flags("watch")
	interval := fs.Duration("interval", time.Second, "time between draws")
	count := fs.Int("count", 0, "stop after this many draws (0: never)")
	pid := fs.Int("pid", 0, "add resident memory per arena from /proc/PID/pagemap; PID must be the process watched")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("watch needs one URL, HOST:PORT, :PORT or PID, got %d operands", fs.NArg())
	}
	if *interval <= 0 || *count < 0 || *pid < 0 {
		return usagef("watch: -interval must be positive, -count and -pid not negative")
	}
	client := newClient()
	tg, err := resolveTarget(fs.Arg(0), client)
	if err != nil {
		return err
	}
	if tg.pid != 0 {
		if *pid != 0 && *pid != tg.pid {
			return usagef("watch: -pid %d names another process than the operand %d", *pid, tg.pid)
		}
		*pid = tg.pid
	}
	redraw := !e.json && isTerminal(e.stdout)
	for n := 0; *count == 0 || n < *count; n++ {
		if n > 0 {
			time.Sleep(*interval)
		}
		snap, err := fetch(client, tg.url)
		if err != nil {
			return err
		}
		rows := make([]watchRow, len(snap.Arenas))
		for i, a := range snap.Arenas {
			rows[i].Summary = a
			rows[i].Age = max(snap.Time.Sub(a.Updated), 0)
		}
		if *pid > 0 {
			if err := checkPID(snap, *pid); err != nil {
				return err
			}
			if err := addRSS(rows, *pid); err != nil {
				return err
			}
		}
		if e.json {
			if err := e.emit(struct {
				Format     string                `json:"format"`
				URL        string                `json:"url"`
				Time       time.Time             `json:"time"`
				PID        int                   `json:"pid"`
				Arenas     []watchRow            `json:"arenas"`
				Budget     any                   `json:"budget"`
				Quarantine guard.QuarantineStats `json:"quarantine"`
			}{watchFormat, tg.url, snap.Time, snap.PID, rows, snap.Budget, snap.Quarantine}); err != nil {
				return err
			}
			continue
		}
		if redraw {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J") // home and clear: draw in place
		} else if n > 0 {
			fmt.Fprintln(e.stdout)
		}
		drawWatch(e.stdout, tg.url, snap, rows, *pid > 0)
	}
	return nil
}

// checkPID makes sure that process pid is the one whose snapshot this
// is, so that -pid never reads another process's pagemap (all zeros):
// the snapshot's own PID, or, across PID namespaces (a container), its
// arenas' memory mapped in pid. It also reports a process that does not
// exist.
func checkPID(snap arena.Snapshot, pid int) error {
	ms, err := procmaps.Read(pid)
	if err != nil {
		return procError(pid, err)
	}
	if snap.PID == pid {
		return nil
	}
	ranges := 0
	for _, a := range snap.Arenas {
		for _, rg := range a.Ranges {
			ranges++
			if len(procmaps.Overlapping(ms, uintptr(rg.Start), uintptr(rg.End))) > 0 {
				return nil
			}
		}
	}
	if ranges == 0 {
		return fmt.Errorf("-pid %d, but the snapshot is process %d's", pid, snap.PID)
	}
	return fmt.Errorf("-pid %d, but the snapshot is process %d's: process %d maps none of its %d arena range(s)",
		pid, snap.PID, pid, ranges)
}

// drawWatch prints one table of a snapshot's arenas, a line of shards
// under it for each SyncFreeList, then, for each arena with size
// classes, a bar per class of blocks in use against free blocks.
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
		fmt.Fprintln(tw, line+fmtAge(r.Age)+"\t"+shortSite(r.Site)+"\t")
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.Shards) > 0 {
			fmt.Fprintln(w, shardLine(r.Name, r.Shards))
		}
	}
	for _, r := range rows {
		if len(r.Classes) > 0 {
			fmt.Fprintf(w, "\n%s %q: size classes, %s in use, %s free, numbers %s old\n",
				r.Kind, r.Name, string(barUsed), string(barFree), fmtAge(r.Age))
			drawClasses(w, r.Classes)
		}
	}
}

// Bars are barWidth characters: barUsed for the blocks in use, barFree
// for the free ones.
const (
	barWidth = 30
	barUsed  = '#'
	barFree  = '.'
)

// drawClasses prints one line per size class: its block size, a bar of
// the blocks in use against the free ones (a short bar over many pages
// is memory held for nothing), the counts, and the bytes of its spans.
func drawClasses(w io.Writer, cs []arena.ClassStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CLASS\tBLOCKS\tIN USE\tFREE\tUSED\tSPANS\tBYTES\t")
	for _, c := range cs {
		used := 0.0
		if total := c.InUse + c.Free; total > 0 {
			used = float64(c.InUse) / float64(total)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.0f%%\t%d\t%s\t\n", c.Size, bar(used),
			humanize.Comma(int64(c.InUse)), humanize.Comma(int64(c.Free)), 100*used, c.Spans, humanize.IBytes(c.Bytes))
	}
	tw.Flush()
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

// bar draws fraction used in [0, 1] as barWidth characters; a class with
// any block in use shows at least one barUsed, and one with any free
// block at least one barFree.
func bar(used float64) string {
	n := int(used*barWidth + 0.5)
	if used > 0 {
		n = max(n, 1)
	}
	if used < 1 {
		n = min(n, barWidth-1)
	}
	return "[" + strings.Repeat(string(barUsed), n) + strings.Repeat(string(barFree), barWidth-n) + "]"
}

// fmtAge prints how old a row's numbers were, to the millisecond.
func fmtAge(d time.Duration) string { return d.Round(time.Millisecond).String() }

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
