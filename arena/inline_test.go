package arena_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIssue14FastPathInlined asks the compiler (go build -gcflags=-m=2)
// whether the Bump's fast path, (*Bump).fast, is inlinable and is
// inlined into Alloc and into New as used by a caller (internal/workload's
// W1), so that a change that pushes it over the budget fails here instead
// of slowing every allocation silently. It logs the cost of Alloc and of
// New's shaped body, which are over the budget of 80: a call to the slow
// path costs 57 of it, and the alignment check, the type check and the
// two counters the rest (see the issue 14 notes in bench/).
func TestIssue14FastPathInlined(t *testing.T) {
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gocmd, "build", "-o", "/dev/null", "-gcflags=github.com/mmarena/mmarena/...=-m=2",
		"github.com/mmarena/mmarena/internal/workload").CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)

	m := regexp.MustCompile(`can inline \(\*Bump\)\.fast with cost (\d+)`).FindStringSubmatch(s)
	require.NotNil(t, m, "(*Bump).fast is no longer inlinable:\n%s", grep(s, `\(\*Bump\)\.fast`))
	cost, _ := strconv.Atoi(m[1])
	assert.LessOrEqual(t, cost, 80)
	t.Logf("(*Bump).fast: cost %d", cost)

	// Alloc (bump.go) and New (alloc.go) each inline it.
	assert.Regexp(t, `bump\.go:\d+:\d+: inlining call to \(\*Bump\)\.fast`, s, "Alloc calls fast")
	assert.Regexp(t, `alloc\.go:\d+:\d+: inlining call to arena\.\(\*Bump\)\.fast`, s, "New, instantiated by W1, calls fast")

	for name, re := range map[string]string{"Alloc": `\(\*Bump\)\.Alloc`, "New": `arena\.New\[go\.shape[^\]]*\]`} {
		if m := regexp.MustCompile(re + `: function too complex: cost (\d+)`).FindStringSubmatch(s); m != nil {
			t.Logf("%s: cost %s, over the budget of 80", name, m[1])
		}
	}
}

// grep returns the lines of s that match re.
func grep(s, re string) string {
	var out string
	for _, l := range regexp.MustCompile(`(?m)^.*`+re+`.*$`).FindAllString(s, -1) {
		out += l + "\n"
	}
	return out
}

// TestRefResolveInlined keeps Ref.Get, Ref.In and Ref.InFile inlinable: Get is generic, so the
// compiler reports its cost only where a type instantiates it (79 for
// the tests' refNode), but nearly all of it is (*bumpState).resolve's,
// which is reported here. Get adds 23 to resolve's cost (56); the budget is 80.
func TestRefResolveInlined(t *testing.T) {
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gocmd, "build", "-o", "/dev/null", "-gcflags=github.com/mmarena/mmarena/arena=-m=2",
		"github.com/mmarena/mmarena/arena").CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`can inline \(\*bumpState\)\.resolve with cost (\d+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "(*bumpState).resolve is no longer inlinable:\n%s", grep(string(out), `resolve`))
	cost, _ := strconv.Atoi(m[1])
	assert.LessOrEqual(t, cost, 80-23, "Get would go over the budget")
	t.Logf("(*bumpState).resolve: cost %d", cost)
	// Ref.In and Ref.InFile, Get's twins for a memfd and a file arena,
	// are the same shape around the resolve of the RefSpace both hold.
	m = regexp.MustCompile(`can inline \(\*RefSpace\)\.resolve with cost (\d+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "(*RefSpace).resolve is no longer inlinable:\n%s", grep(string(out), `resolve`))
	cost, _ = strconv.Atoi(m[1])
	assert.LessOrEqual(t, cost, 80-23, "In and InFile would go over the budget")
	t.Logf("(*RefSpace).resolve: cost %d", cost)
}
