package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
)

// childEnv starts the test binary as a program for arenastat to watch
// (see child).
const childEnv = "ARENASTAT_TEST_CHILD"

// child plays a program arenastat watches, until its standard input
// closes. Mode "publish" publishes its arenas (a Bump and a SyncFreeList
// with two size classes, one mostly free) and serves /debug/vars on a
// loopback port; "listen" serves only 404s there; "idle" listens on no
// port. It prints the address it listens on (or "none") as its first
// line.
func child(mode string) int {
	var closers []func() error
	if mode == "publish" {
		expvarpub.Publish()
		b, err := arena.NewBump(&arena.Options{Name: "child-bump"})
		if err != nil {
			panic(err)
		}
		for range 1000 {
			if _, err := arena.New[[64]byte](b); err != nil {
				panic(err)
			}
		}
		b.Stats() // publish its figures
		f, err := arena.NewSyncFreeList(&arena.Options{Name: "child-classes"})
		if err != nil {
			panic(err)
		}
		var small []unsafe.Pointer
		for range 1000 {
			p, err := f.Alloc(64, 8)
			if err != nil {
				panic(err)
			}
			small = append(small, p)
		}
		for range 10 {
			if _, err := f.Alloc(1024, 8); err != nil {
				panic(err)
			}
		}
		for _, p := range small[100:] { // 100 of the 64-byte blocks stay
			if err := f.Free(p); err != nil {
				panic(err)
			}
		}
		closers = append(closers, b.Close, f.Close)
	}
	addr := "none"
	if mode != "idle" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		h := http.NotFoundHandler()
		if mode == "publish" {
			h = expvar.Handler()
		}
		go http.Serve(ln, h)
		addr = ln.Addr().String()
	}
	fmt.Println(addr)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range closers {
		if err := c(); err != nil {
			panic(err)
		}
	}
	return 0
}

// startChild starts the test binary as a child in mode and returns its
// process ID and the address it listens on; the child ends with the
// test.
func startChild(t *testing.T, mode string) (pid int, addr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		assert.NoError(t, cmd.Wait(), "child %s", mode)
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	return cmd.Process.Pid, strings.TrimSpace(line)
}

// watchLine is the part of a line of watch -json that the tests read.
type watchLine struct {
	Format string
	URL    string
	PID    int
	Time   time.Time
	Arenas []struct {
		Name    string
		Kind    string
		InUse   uint64  `json:"in_use"`
		AgeNS   *int64  `json:"age_ns"`
		RSS     *uint64 `json:"rss"`
		Classes []arena.ClassStats
	}
}

// ndjson parses out as one JSON object per line, failing on anything
// else (a pretty-printed document spans lines).
func ndjson(t *testing.T, out string) []watchLine {
	t.Helper()
	var lines []watchLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l watchLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %d: %q", len(lines)+1, sc.Text())
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines
}

// TestWatchChild watches another process that publishes its arenas, by
// PID, :PORT, HOST:PORT and URL, with flags before and after the verb
// and the operand.
func TestWatchChild(t *testing.T) {
	pid, addr := startChild(t, "publish")
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	url := "http://" + addr + "/debug/vars"
	spid := strconv.Itoa(pid)

	// By PID: the endpoint is found from the process's listening
	// sockets, and the PID adds resident memory.
	out, stderr, code := arenastat(t, "watch", spid, "-count", "2", "-interval", "10ms")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	assert.Equal(t, 2, strings.Count(out, "CREATED AT"), out)
	assert.Contains(t, out, url+"  pid "+spid)
	assert.Regexp(t, `(?m)^ +NAME +KIND +IN USE +COMMITTED +CACHED +CHUNKS +ALLOCS +RESETS +SAMPLED +RSS +AGE +CREATED AT *$`, out)
	assert.Regexp(t, `(?m)^ *child-bump +bump +63 KiB +[\d.]+ [KM]iB +0 B +\d+ +1,000 +0 +- +[\d.]+ [KM]iB +\S+s +arenastat/cli_test\.go:\d+ *$`, out)
	// The SyncFreeList's classes, asked at snapshot time: 100 of 64-byte
	// blocks in use (a short bar), 10 of 1024.
	assert.Regexp(t, `(?m)^freelist "child-classes": size classes, # in use, \. free, numbers [\d.]+m?s old$`, out)
	m := regexp.MustCompile(`(?m)^ +64 +\[(#+)(\.+)\] +100 +([\d,]+) +(\d+)% +1 +[\d.]+ KiB *$`).FindStringSubmatch(out)
	if assert.NotNil(t, m, out) {
		free, _ := strconv.Atoi(strings.ReplaceAll(m[3], ",", ""))
		assert.Equal(t, barWidth, len(m[1])+len(m[2]))
		assert.InDelta(t, float64(barWidth)*100/float64(100+free), len(m[1]), 1, "the bar is the share in use")
		assert.Less(t, len(m[1]), len(m[2]), "a mostly free class draws mostly free")
	}
	assert.Regexp(t, `(?m)^ +1024 +\[#+\.*\] +10 +\d+ +\d+% +1 +[\d.]+ KiB *$`, out)

	// maps finds the same endpoint from :PORT and names the arenas.
	out, stderr, code = arenastat(t, "maps", spid, "-url", ":"+port)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^[0-9a-f]+-[0-9a-f]+ +rw-p +.*arena "child-bump" \(bump\)`, out)
	assert.Regexp(t, `(?m)^[0-9a-f]+-[0-9a-f]+ +rw-p +.*arena "child-classes" \(freelist\)`, out)

	// :PORT, HOST:PORT and the URL, with -json before the verb, after it
	// and after the operand: one JSON object per draw, per line.
	for _, args := range [][]string{
		{"-json", "watch", "-count", "2", "-interval", "10ms", ":" + port},
		{"watch", "-json", addr, "-count", "2", "-interval", "10ms"},
		{"watch", "http://" + addr, "-interval", "10ms", "-count", "2", "-json"},
		{"watch", "-count=2", url, "-json", "-interval=10ms", "-pid", spid},
	} {
		out, stderr, code := arenastat(t, args...)
		require.Equal(t, 0, code, "%q: %s", args, stderr)
		lines := ndjson(t, out)
		require.Len(t, lines, 2, "%q: two draws, two lines:\n%s", args, out)
		assert.True(t, lines[1].Time.After(lines[0].Time), "a fresh snapshot per line")
		for _, l := range lines {
			assert.Equal(t, "arenastat-1", l.Format)
			assert.Equal(t, pid, l.PID)
			assert.Contains(t, []string{url, "http://localhost:" + port + "/debug/vars"}, l.URL)
			names := ""
			for _, a := range l.Arenas {
				names += a.Name + " "
				if assert.NotNil(t, a.AgeNS) {
					assert.GreaterOrEqual(t, *a.AgeNS, int64(0))
				}
				assert.Equal(t, slicesContain(args, "-pid"), a.RSS != nil, "rss with -pid only")
				if a.Name == "child-classes" {
					require.Len(t, a.Classes, 2)
					assert.Equal(t, arena.ClassStats{Size: 64, InUse: 100, Free: a.Classes[0].Free, Spans: 1, Bytes: a.Classes[0].Bytes}, a.Classes[0])
					assert.Equal(t, uint64(1024), a.Classes[1].Size)
					assert.Equal(t, uint64(10), a.Classes[1].InUse)
				}
			}
			assert.Equal(t, "child-bump child-classes ", names)
		}
	}
}

func slicesContain(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestWatchWrongProcess checks that a -pid or PID operand that is not
// the watched program is an error naming what is wrong, exit status 1,
// and never a table of zeros.
func TestWatchWrongProcess(t *testing.T) {
	pid, addr := startChild(t, "publish")
	listenPID, listenAddr := startChild(t, "listen")
	idlePID, _ := startChild(t, "idle")
	self := os.Getpid()
	tests := []struct {
		args   []string
		code   int
		stderr string // a regexp
	}{
		{[]string{"watch", "-count", "1", "-pid", "999999999", addr},
			1, `^arenastat: no process 999999999 \(nothing at /proc/999999999\)\n$`},
		{[]string{"watch", "-count", "1", "999999999"},
			1, `^arenastat: no process 999999999 \(nothing at /proc/999999999\)\n$`},
		{[]string{"watch", "-count", "1", strconv.Itoa(idlePID)},
			1, fmt.Sprintf(`^arenastat: process %d listens on no TCP port: does it serve /debug/vars \(expvarpub\.Publish and an HTTP server\)\?\n$`, idlePID)},
		{[]string{"watch", "-count", "1", strconv.Itoa(listenPID)},
			1, fmt.Sprintf(`^arenastat: process %d serves no mmarena snapshot on any of its 1 listening port\(s\): http://%s/debug/vars answered 404 Not Found\n$`, listenPID, regexp.QuoteMeta(listenAddr))},
		{[]string{"watch", "-count", "1", "-pid", strconv.Itoa(self), strconv.Itoa(pid)},
			2, fmt.Sprintf(`^arenastat: watch: -pid %d names another process than the operand %d \(see arenastat -help\)\n$`, self, pid)},
		{[]string{"watch", "-count", "1", "-pid", "-3", addr},
			2, `^arenastat: watch: -interval must be positive, -count and -pid not negative \(see arenastat -help\)\n$`},
	}
	// Another process maps none of the child's arenas, unless address
	// space randomization is off and the two share a layout.
	if aslr, err := os.ReadFile("/proc/sys/kernel/randomize_va_space"); err == nil && strings.TrimSpace(string(aslr)) != "0" {
		tests = append(tests, struct {
			args   []string
			code   int
			stderr string
		}{[]string{"watch", "-count", "1", "-pid", strconv.Itoa(self), addr},
			1, fmt.Sprintf(`^arenastat: -pid %d, but the snapshot is process %d's: process %d maps none of its \d+ arena range\(s\)\n$`, self, pid, self)})
	} else {
		t.Log("address space randomization is off: a -pid of another process is not tested")
	}
	for _, tt := range tests {
		out, stderr, code := arenastat(t, tt.args...)
		assert.Equal(t, tt.code, code, "%q", tt.args)
		assert.Regexp(t, tt.stderr, stderr, "%q", tt.args)
		assert.Empty(t, out, "%q: nothing drawn", tt.args)
	}
}

// TestFlagsAnywhere checks that every command takes its flags before,
// between and after its operands, and -json before or after the verb;
// "--" ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, args := range [][]string{
		{"-json", "maps", pid},
		{"maps", "-json", pid},
		{"maps", pid, "-json"},
		{"maps", pid, "--json=true"},
		{"tour", "-json"},
		{"bench", "-n", "2000", "-w", "W3", "-count", "1", "-json"},
		{"bench", "-json", "-n=2000", "-count=1", "-w=W3"},
	} {
		out, stderr, code := arenastat(t, args...)
		require.Equal(t, 0, code, "%q: %s", args, stderr)
		require.Equal(t, 1, strings.Count(out, "\n"), "%q: one object, one line", args)
		var doc struct{ Format string }
		require.NoError(t, json.Unmarshal([]byte(out), &doc), "%q", args)
		assert.Regexp(t, `^arenastat-(maps|tour|bench)-\d+$`, doc.Format, "%q", args)
	}
	// A later flag wins over an earlier one, as with the flag package.
	out, _, code := arenastat(t, "-json", "maps", pid, "-json=false")
	require.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "ADDRESS"), out)
	// After "--", "-json" is an operand: maps wants one PID.
	_, stderr, code := arenastat(t, "maps", "--", "-json")
	assert.Equal(t, 2, code)
	assert.Equal(t, "arenastat: maps: \"-json\" is not a process ID (see arenastat -help)\n", stderr)
	_, stderr, code = arenastat(t, "maps", pid, "extra")
	assert.Equal(t, 2, code)
	assert.Equal(t, "arenastat: maps needs one PID, got 2 arguments (see arenastat -help)\n", stderr)
}

// TestCommandHelp checks that each command's -h, -help and help COMMAND
// print its own usage and every flag of its own with its default, on
// standard output, with exit status 0.
func TestCommandHelp(t *testing.T) {
	flags := map[string][]string{
		"tour":  {"-json", "-profile file"},
		"bench": {"-benchfmt", "-count int", "-json", "-n int", "-w string"},
		"watch": {"-count int", "-interval duration", "-json", "-pid int"},
		"maps":  {"-json", "-url string"},
	}
	defaults := map[string][]string{
		"bench": {"(default 6)", "(default 1000000)", `(default "W1,W2,W3,W4")`},
		"watch": {"(default 1s)"},
	}
	for cmd, want := range flags {
		var first string
		for i, args := range [][]string{{cmd, "-h"}, {cmd, "-help"}, {"help", cmd}, {"-json", cmd, "--help"}} {
			out, stderr, code := arenastat(t, args...)
			assert.Equal(t, 0, code, "%q", args)
			assert.Empty(t, stderr, "%q", args)
			if i == 0 {
				first = out
			} else {
				assert.Equal(t, first, out, "%q prints what %s -h does", args, cmd)
			}
		}
		assert.True(t, strings.HasPrefix(first, "usage: arenastat "+cmd), first)
		var got []string
		for _, m := range regexp.MustCompile(`(?m)^  (-\S+(?: \S+)?)$`).FindAllStringSubmatch(first, -1) {
			got = append(got, m[1])
		}
		assert.Equal(t, want, got, "%s's flags", cmd)
		for _, d := range defaults[cmd] {
			assert.Contains(t, first, d)
		}
		assert.NotContains(t, first, "EXIT STATUS", "a command's usage, not the manual")
	}
	_, stderr, code := arenastat(t, "help", "frobnicate")
	assert.Equal(t, 2, code)
	assert.Equal(t, "arenastat: help: unknown command \"frobnicate\" (see arenastat -help)\n", stderr)
}

// benchLineRE is a result line of Go benchmark format
// (golang.org/design/14313-benchmark-format): "Benchmark", a name
// without spaces, an iteration count, then value-unit pairs, separated
// by white space.
var benchLineRE = regexp.MustCompile(`^Benchmark[^\s]+\s+\d+(\s+[-+]?\d+(\.\d+)?([eE][-+]?\d+)?\s+[^\s]+)+$`)

// benchConfigRE is a configuration line of that format: a key that
// starts with a lower-case letter and holds no space nor upper-case
// letter, a colon, a value.
var benchConfigRE = regexp.MustCompile(`^[a-z][^\sA-Z:]*:(\s.*)?$`)

func TestBenchFmt(t *testing.T) {
	out, stderr, code := arenastat(t, "bench", "-benchfmt", "-n", "3000", "-count", "2", "-w", "W1,W3")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr, "no progress off a terminal")
	var names []string
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case benchLineRE.MatchString(line):
			name := strings.Fields(line)[0]
			names = append(names, name)
			assert.Regexp(t, `^BenchmarkW[13]/arena=(goheap|bump|list)/n=3000(-\d+)?\s+3000\s+[\d.]+ ns/op\s+\d+ gc-cycles\s+\d+ rss-B$`, line)
		case benchConfigRE.MatchString(line):
			assert.Regexp(t, `^(goos|goarch|pkg|cpu): `, line)
		default:
			t.Errorf("neither a benchmark nor a configuration line: %q", line)
		}
	}
	require.Len(t, names, 8, "2 workloads, 2 allocators, 2 runs:\n%s", out)
	assert.Regexp(t, `^BenchmarkW1/arena=goheap/n=3000`, names[0])
	assert.Regexp(t, `^BenchmarkW3/arena=list/n=3000`, names[7])

	_, stderr, code = arenastat(t, "-json", "bench", "-benchfmt")
	assert.Equal(t, 2, code)
	assert.Equal(t, "arenastat: bench: -benchfmt and -json exclude each other (see arenastat -help)\n", stderr)
}

// TestBenchMedian checks bench's medians and spreads against its own
// runs.
func TestBenchMedian(t *testing.T) {
	out, stderr, code := arenastat(t, "bench", "-json", "-n", "3000", "-count", "3", "-w", "W1")
	require.Equal(t, 0, code, stderr)
	var doc struct {
		Format  string
		Count   int
		Results []benchRow
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "arenastat-bench-2", doc.Format)
	assert.Equal(t, 3, doc.Count)
	require.Len(t, doc.Results, 2)
	for _, r := range doc.Results {
		require.Len(t, r.Runs, 3)
		want := r
		want.summarize()
		assert.Equal(t, want.Time, r.Time, "the median run's time")
		assert.InDelta(t, want.Spread, r.Spread, 1e-9)
		med := 0
		for _, run := range r.Runs {
			if run.Time <= r.Time {
				med++
			}
		}
		assert.Equal(t, 2, med, "with three runs, two are at most the median")
	}
	assert.InDelta(t, float64(doc.Results[0].Time)/float64(doc.Results[1].Time), doc.Results[1].Ratio, 1e-9)

	out, _, code = arenastat(t, "bench", "-n", "3000", "-count", "2", "-w", "W2")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^ +WORKLOAD +ARENA +N +RUNS +MEDIAN +SPREAD +NS/OP +GC CYCLES +RSS GROWTH +VS HEAP *$`, out)
	assert.Regexp(t, `(?m)^ +W2 +freelist +3,000 +2 +\S+s +±\d+% +[\d.]+ +\d+ +\S+ \S*B +[\d.]+x *$`, out)
}

// TestMedian checks the median and spread arithmetic, odd and even.
func TestMedian(t *testing.T) {
	assert.Equal(t, int64(5), median([]int64{9, 5, 1}))
	assert.Equal(t, int64(4), median([]int64{9, 1, 3, 5}))
	assert.Equal(t, uint32(7), median([]uint32{7}))
	r := benchRow{N: 10, Runs: []benchRun{{Time: 100}, {Time: 80}, {Time: 130}}}
	r.summarize()
	assert.Equal(t, time.Duration(100), r.Time)
	assert.InDelta(t, 0.30, r.Spread, 1e-9)
	assert.InDelta(t, 10.0, r.PerOp, 1e-9)
}

// TestProgressLine checks that progress rewrites one line on a terminal
// and says nothing elsewhere.
func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := progressLine{w: &b, on: true}
	p.show("run %d", 1)
	p.show("run %d", 2)
	p.clear()
	assert.Equal(t, "\r\x1b[Krun 1\r\x1b[Krun 2\r\x1b[K", b.String())
	b.Reset()
	p.on = false
	p.show("run %d", 1)
	p.clear()
	assert.Empty(t, b.String())
}
