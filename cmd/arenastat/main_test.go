package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/internal/mapcheck"
)

// binDir holds the arenastat binary that the first test to need it
// builds; TestMain removes it at the end.
var binDir string

// arenastatBin builds arenastat once, into a temporary directory (with
// -race when the tests run under it), and returns its path. It is built
// on first use, so that runs needing no binary (a fuzz worker, -run of
// an in-process test) do not pay for it.
var arenastatBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "arenastat-test-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "arenastat")
	build := []string{"build", "-o", bin}
	if raceEnabled {
		build = append(build, "-race")
	}
	if out, err := exec.Command("go", append(build, ".")...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building arenastat: %v\n%s", err, out)
	}
	return bin, nil
})

// TestMain lets the test binary play other programs when a test starts
// it as a child (childEnv), and removes the built arenastat at the end.
func TestMain(m *testing.M) {
	if os.Getenv("ARENASTAT_RUN_MAIN") == "1" {
		main() // the tour's leak step re-executes its binary: this one, in TestTourInProcess
	}
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// arenastat runs the built binary with args.
func arenastat(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(builtArenastat(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

// builtArenastat returns the path of the built arenastat, failing the
// test if it could not be built.
func builtArenastat(t *testing.T) string {
	t.Helper()
	bin, err := arenastatBin()
	require.NoError(t, err)
	return bin
}

func TestTour(t *testing.T) {
	for _, args := range [][]string{nil, {"tour"}} {
		out, stderr, code := arenastat(t, args...)
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stderr)
		for i := 1; i <= 17; i++ {
			assert.Regexp(t, regexp.MustCompile(`(?m)^`+strconv.Itoa(i)+`\. `), out, "step %d", i)
		}
		assert.Contains(t, out, `caught: guard: fault 1 byte past the end of region "tour" (high guard page)`)
		assert.Regexp(t, `(?m)^ +[0-9a-f]+-[0-9a-f]+ rw-s 00000000 .* /.*/list\.arena\n +Close; a child process`, out)
		assert.Regexp(t, `\(child, pid \d+\) OpenFile maps it again: the root is at 0x[0-9a-f]+ now, with nothing decoded:\n +[0-9a-f]+-[0-9a-f]+ rw-s 00000000 .* /.*/list\.arena\n`, out)
		assert.Contains(t, out, "(child) list.OnFile, Check, and visits the 5 nodes through RefList.Next: 50 40 30 20 10")
		// 0 bytes in under -race, where Go probes the pointer for nil first.
		assert.Regexp(t, `use after free: (0|8) bytes into a 16-byte block at 0x[0-9a-f]+ of "tour-sessions"\n       allocated at:\n         (main|arenastat)\.newSession hardened\.go:\d+\n.*\n       freed at:\n         (main|arenastat)\.evictSession hardened\.go:\d+\n`, out)
		assert.Regexp(t, `overflow: 1 byte past the end of a 16-byte block at 0x[0-9a-f]+ of "tour-sessions", allocated at (main|arenastat)\.newSession hardened\.go:\d+`, out)
		assert.Regexp(t, `use after close: \d+ bytes into a 65536-byte block at 0x[0-9a-f]+ of "tour-request"\n       closed at: (main|arenastat)\.closeRequest lifetimes\.go:\d+\n`, out)
		assert.Regexp(t, `the quarantine holds [1-9]\d* closed range\(s\)`, out)
		assert.Regexp(t, `the leak handler reports: bump arena "tour-scores" created at lifetimes\.go:\d+, 1 mapping\(s\), 64 KiB: kept mapped`, out)
		assert.Contains(t, out, "the leaked slice still reads 1 4 9 ... 998001")
		assert.Contains(t, out, "holds Go pointers, which arena memory must not: struct { Name string }.Name: string")
		assert.Regexp(t, `freeing a block twice: arena: double free: \d+-byte block at 0x[0-9a-f]+ in "tour-freelist"`, out)
		assert.Regexp(t, `freeing a Go heap pointer: arena: pointer not owned by this arena: 0x[0-9a-f]+`, out)
		assert.Regexp(t, `align\.Memalign\(f, 4096, 100\) = 0x[0-9a-f]+000 \(address % 4096 = 0\)`, out)
		assert.Contains(t, out, "align.Memalign(f, 12, 100): align: alignment 12 is not a power of two (EINVAL: true)")
		assert.Contains(t, out, "(ENOMEM: true)")
		assert.Regexp(t, `(?m)^ +class +in use +free +spans +pages$`, out)
		assert.Regexp(t, `(?m)^ +4096 +1 +15 +1 +64 KiB$`, out)
		assert.Regexp(t, `reading the hole: guard: fault at offset \d+ of region "tour-punch" \(punched hole\)`, out)
		if runtime.GOOS == "linux" {
			// The shared list: the child's node reaches the parent through
			// rw-s, the private child's write does not through rw-p.
			assert.Regexp(t, `(?m)^     child  /proc/\d+/maps: [0-9a-f]+-[0-9a-f]+ rw-s /memfd:mmarena:tour-shared-list`, out)
			assert.Regexp(t, `(?m)^     child  /proc/\d+/maps: [0-9a-f]+-[0-9a-f]+ rw-p /memfd:mmarena:tour-shared-list`, out)
			assert.Regexp(t, `visits its list after the child exited \(3 nodes\):\n     parent +\(pid (\d+)\)\n     parent2 +\(pid \d+\)\n     child +\(pid \d+\)\n   a child`, out)
			assert.Regexp(t, `its copy now reads "CHILD!!"\n.*\n.*\(3 nodes\):\n     parent +\(pid \d+\)\n     parent2 +\(pid \d+\)\n     child `, out)
			assert.Regexp(t, `(?m)^ +[0-9a-f]+-[0-9a-f]+ +---p +4\.0 KiB +low guard page$`, out)
			assert.Regexp(t, `(?m)^ +W1 +bump +300,000 +\S+ +\S+ +0 +`, out)
			assert.Regexp(t, `(?m)^ +[0-9a-f]+-[0-9a-f]+ +rw-s +4\.0 KiB +usable page +lecture\.txt$`, out)
			assert.Contains(t, out, `the file on disk:                      "hello, MAPPED world"`)
			// The kernel may merge the unguarded region with a neighbour, so
			// the sizes are not asserted; the end address must move down.
			m := regexp.MustCompile(`(?m)^ +[0-9a-f]+-([0-9a-f]+) +rw-p +.*usable page\n +after munmap of its last page:\n +[0-9a-f]+-([0-9a-f]+) +rw-p +.*usable page$`).FindStringSubmatch(out)
			if assert.NotNil(t, m, "edge munmap lines") {
				before, _ := strconv.ParseUint(m[1], 16, 64)
				after, _ := strconv.ParseUint(m[2], 16, 64)
				assert.Equal(t, before-4096, after, "munmap at the edge shrinks the mapping by a page")
			}
			assert.Regexp(t, `(?m)^     mmap\(0x[0-9a-f]+, 12 KiB\)  map in region "tour"$`, out)
			assert.Regexp(t, `(?m)^     munmap\(0x[0-9a-f]+, 8\.0 KiB\)  punch in region "tour-punch"$`, out)
			assert.Regexp(t, `(?m)^ +[0-9a-f]+-[0-9a-f]+ +rw-p +4\.0 KiB +usable page$`, out)
			assert.Regexp(t, `(?m)^ +[0-9a-f]+-[0-9a-f]+ +---p +4\.0 KiB +protected page$`, out)
			assert.Contains(t, out, "/proc/self/auxv agrees: AT_PAGESZ = ")
			assert.Regexp(t, `after Release of 32 pages +128 KiB`, out)
			assert.Contains(t, out, "3 kernel mappings become 5")
			assert.Regexp(t, `(?m)^   bump arena "tour-bump"$`, out)
			assert.Regexp(t, `(?m)^     allocs +100,000$`, out)
			assert.Regexp(t, `(?m)^     requested +3\.1 MiB$`, out)
		}
	}
}

// TestTourInProcess runs the tour inside the test process, to prove it
// gives back every mapping it makes.
func TestTourInProcess(t *testing.T) {
	mapcheck.Baseline(t)
	var out bytes.Buffer
	require.NoError(t, tour(&out))
	assert.Contains(t, out.String(), "14. ")
	assert.Contains(t, out.String(), "the leaked slice still reads")
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"-bogus"}, "arenastat: flag provided but not defined: -bogus (see arenastat -help)\n"},
		{[]string{"frobnicate"}, "arenastat: unknown command \"frobnicate\" (see arenastat -help)\n"},
		{[]string{"tour", "extra"}, "arenastat: tour takes no arguments, got [\"extra\"] (see arenastat -help)\n"},
		{[]string{"bench", "-n", "0"}, "arenastat: bench: -n and -count must be positive (see arenastat -help)\n"},
		{[]string{"bench", "-w", "W9"}, "arenastat: bench: unknown workload \"W9\" (have W1, W2, W3, W4) (see arenastat -help)\n"},
		{[]string{"bench", "-x"}, "arenastat: bench: flag provided but not defined: -x (see arenastat -help)\n"},
		{[]string{"watch"}, "arenastat: watch needs one URL, HOST:PORT, :PORT or PID, got 0 operands (see arenastat -help)\n"},
		{[]string{"watch", "nowhere"}, "arenastat: watch: \"nowhere\" is not a URL, HOST:PORT, :PORT or process ID (see arenastat -help)\n"},
		{[]string{"watch", ":99999"}, "arenastat: watch: \":99999\" is not a URL, HOST:PORT, :PORT or process ID (see arenastat -help)\n"},
		{[]string{"watch", "http://"}, "arenastat: watch: \"http://\" is not a URL (see arenastat -help)\n"},
		{[]string{"watch", "0"}, "arenastat: watch: \"0\" is not a process ID (see arenastat -help)\n"},
		{[]string{"bench", "-count", "0"}, "arenastat: bench: -n and -count must be positive (see arenastat -help)\n"},
		{[]string{"watch", "-interval", "0s", "http://x"}, "arenastat: watch: -interval must be positive, -count and -pid not negative (see arenastat -help)\n"},
		{[]string{"maps"}, "arenastat: maps needs one PID, got 0 arguments (see arenastat -help)\n"},
		{[]string{"maps", "abc"}, "arenastat: maps: \"abc\" is not a process ID (see arenastat -help)\n"},
		{[]string{"maps", "-url", "6060", "1"}, "arenastat: maps: -url: \"6060\" is not a URL, HOST:PORT or :PORT (see arenastat -help)\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, stderr, code := arenastat(t, tt.args...)
			assert.Equal(t, 2, code)
			assert.Equal(t, tt.stderr, stderr)
			assert.Empty(t, out)
		})
	}
	for _, args := range [][]string{{"-help"}, {"-h"}, {"help"}, {"--help"}} {
		out, stderr, code := arenastat(t, args...)
		assert.Equal(t, 0, code, args)
		assert.Empty(t, stderr)
		assert.True(t, strings.HasPrefix(out, "NAME\n    arenastat - "), out)
		assert.Contains(t, out, "EXIT STATUS")
	}
}

// TestTourJSONFromSteps checks that tour -json is built from each step's
// title and output, not parsed back out of the text: a step that prints a
// line looking like a step title stays one step, and the text and the
// JSON say the same.
func TestTourJSONFromSteps(t *testing.T) {
	saved := tourSteps
	defer func() { tourSteps = saved }()
	tourSteps = tourSteps[:0:0]
	for _, s := range []struct{ title, out string }{
		{"First", "   one\n\n   2. not a step\n"},
		{"Second", "   two\n"},
	} {
		tourSteps = append(tourSteps, struct {
			title string
			fn    func(io.Writer) error
		}{s.title, func(w io.Writer) error { _, err := io.WriteString(w, s.out); return err }})
	}
	var text, js bytes.Buffer
	require.NoError(t, cmdTour(env{stdout: &text}, nil))
	assert.Equal(t, "mmarena tour: memory mapping, on this machine's real memory\n"+
		"\n1. First\n   one\n\n   2. not a step\n"+
		"\n2. Second\n   two\n", text.String())
	require.NoError(t, cmdTour(env{stdout: &js, json: true}, nil))
	assert.JSONEq(t, `{"format": "arenastat-tour-1", "steps": [
		{"title": "First", "lines": ["one", "2. not a step"]},
		{"title": "Second", "lines": ["two"]}]}`, js.String())

	// A failing step ends the tour with its error, after what it printed.
	tourSteps = append(tourSteps[:1:1], struct {
		title string
		fn    func(io.Writer) error
	}{"Third", func(w io.Writer) error { io.WriteString(w, "   partial\n"); return errors.New("boom") }})
	text.Reset()
	assert.EqualError(t, cmdTour(env{stdout: &text}, nil), "step 2 (Third): boom")
	assert.True(t, strings.HasSuffix(text.String(), "\n2. Third\n   partial\n"), text.String())
}

// TestTourProfile writes the hardened step's sampled blocks with
// tour -profile and reads the file with go tool pprof -raw: the sessions
// are there under the function that allocated them.
func TestTourProfile(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run go tool pprof")
	}
	path := filepath.Join(t.TempDir(), "sampled.pb.gz")
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"tour", "-profile", path}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "their allocation sites, as go tool pprof reads them, are in "+path)
	raw, err := exec.Command(goTool, "tool", "pprof", "-raw", path).CombinedOutput()
	require.NoError(t, err, "%s", raw)
	assert.Regexp(t, `\.newSession .*hardened\.go:\d+`, string(raw))
}
