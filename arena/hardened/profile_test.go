package hardened_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// sampledSites parses the profile's text form (debug=1): for each
// sample, its count and the function of its first frame.
func sampledSites(t *testing.T) map[string]int {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup(hardened.ProfileName).WriteTo(&buf, 1))
	head := regexp.MustCompile(`^(\d+) @ `)
	frame := regexp.MustCompile(`^#\s+0x[0-9a-f]+\s+(\S+)\+0x[0-9a-f]+\s`)
	sites := map[string]int{}
	count := -1
	for line := range strings.Lines(buf.String()) {
		if m := head.FindStringSubmatch(line); m != nil {
			count, _ = strconv.Atoi(m[1])
			continue
		}
		if m := frame.FindStringSubmatch(line); m != nil && count >= 0 {
			sites[m[1]] += count
			count = -1 // only the innermost frame names the site
		}
	}
	return sites
}

const (
	siteFreeList = "github.com/mmarena/mmarena/arena/hardened_test.allocSessions"
	siteBump     = "github.com/mmarena/mmarena/arena/hardened_test.newRecords"
)

//go:noinline
func allocSessions(t *testing.T, f *arena.FreeList, n int) []unsafe.Pointer {
	var out []unsafe.Pointer
	for range n {
		p, err := f.Alloc(48, 8)
		require.NoError(t, err)
		out = append(out, p)
	}
	return out
}

type record struct{ id, n int64 }

//go:noinline
func newRecords(t *testing.T, b *arena.Bump, n int) {
	for range n {
		_, err := arena.New[record](b)
		require.NoError(t, err)
	}
}

// TestProfileSites reads the profile back: live sampled blocks appear
// under the function that allocated them (not the arena's frames), one
// count each, and leave it when freed, reset or closed.
func TestProfileSites(t *testing.T) {
	f := newFreeList(t, &arena.Options{Name: "profiled", Sample: &hardened.Options{Every: 1}})
	b := newBump(t, &arena.Options{Name: "profiled-bump", Sample: &hardened.Options{Every: 1}})
	base := sampledSites(t)

	ps := allocSessions(t, f, 5)
	newRecords(t, b, 3)
	got := sampledSites(t)
	assert.Equal(t, base[siteFreeList]+5, got[siteFreeList], "%v", got)
	assert.Equal(t, base[siteBump]+3, got[siteBump], "%v", got)
	for site := range got {
		assert.NotContains(t, site, "mmarena/arena.", "the arena's own frames are left out")
	}

	for _, p := range ps[:2] {
		require.NoError(t, f.Free(p))
	}
	b.Reset()
	got = sampledSites(t)
	assert.Equal(t, base[siteFreeList]+3, got[siteFreeList], "Free removes")
	assert.Equal(t, base[siteBump], got[siteBump], "Reset removes")

	require.NoError(t, f.Close())
	assert.Equal(t, base[siteFreeList], sampledSites(t)[siteFreeList], "Close removes")
}

// TestProfilePprofRaw writes the profile in the proto form and reads it
// with go tool pprof -raw, as a user would.
func TestProfilePprofRaw(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to run go tool pprof")
	}
	f := newFreeList(t, &arena.Options{Name: "profiled-raw", Sample: &hardened.Options{Every: 1}})
	ps := allocSessions(t, f, 4)
	path := filepath.Join(t.TempDir(), "sampled.pb.gz")
	out, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, pprof.Lookup(hardened.ProfileName).WriteTo(out, 0))
	require.NoError(t, out.Close())

	raw, err := exec.Command(goTool, "tool", "pprof", "-raw", path).CombinedOutput()
	require.NoError(t, err, "%s", raw)
	assert.Contains(t, string(raw), siteFreeList)
	assert.Contains(t, string(raw), "profile_test.go")
	for _, p := range ps {
		require.NoError(t, f.Free(p))
	}
}
