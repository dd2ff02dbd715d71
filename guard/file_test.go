package guard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

func TestMapFile(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("hello ", 1000)), 0o600))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()

	priv, err := guard.MapFile(f, 6000, false, &guard.Options{Name: "private"})
	require.NoError(t, err)
	defer priv.Close()
	shared, err := guard.MapFile(f, 6000, true, &guard.Options{Name: "shared"})
	require.NoError(t, err)
	defer shared.Close()

	assert.Equal(t, "hello ", string(priv.Bytes()[:6]), "both read the file")
	copy(priv.Bytes(), "HOWDY!")
	assert.Equal(t, "hello ", string(shared.Bytes()[:6]), "a private write is this mapping's own copy")
	copy(shared.Bytes()[6:], "WORLD!")
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "hello WORLD!", string(disk[:12]), "a shared write reaches the file; the private one does not")

	lines := linesOf(t, shared)
	require.Len(t, lines, 3, "guard, file, guard")
	assert.Equal(t, "rw-s", lines[1].Perms)
	assert.Equal(t, path, lines[1].Path)
	assert.Equal(t, "---p", lines[0].Perms)
	assert.Equal(t, "rw-p", linesOf(t, priv)[1].Perms)
	assert.Equal(t, 3, shared.Mappings())

	err = guard.Catch(func() { load(at(shared, shared.Size())) })
	assert.ErrorContains(t, err, `past the end of region "shared" (high guard page)`)
}
