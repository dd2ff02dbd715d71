package arena_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goDeps lists the packages pkg depends on, itself included, with
// go list -deps.
func goDeps(t *testing.T, pkg string) []string {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(gocmd, "list", "-deps", pkg).CombinedOutput()
	require.NoError(t, err, "go list -deps %s:\n%s", pkg, out)
	return strings.Fields(string(out))
}

// TestNoNetHTTP checks that importing arena has no side effects beyond
// the library: a program that imports only arena does not link expvar
// (which registers /debug/vars on http.DefaultServeMux) nor net/http.
// Publishing is opt-in, in arena/expvarpub, which does import both; the
// second half shows the check would see them.
func TestNoNetHTTP(t *testing.T) {
	deps := goDeps(t, "./testdata/importonly")
	require.Contains(t, deps, "github.com/mmarena/mmarena/arena")
	for _, banned := range []string{"expvar", "net/http"} {
		assert.NotContains(t, deps, banned, "a program that imports only arena depends on %s", banned)
	}
	assert.False(t, slices.ContainsFunc(deps, func(p string) bool { return strings.HasPrefix(p, "net/http/") }),
		"a program that imports only arena depends on part of net/http")

	opted := goDeps(t, "./expvarpub")
	assert.Contains(t, opted, "expvar")
	assert.Contains(t, opted, "net/http")
}
