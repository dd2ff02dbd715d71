//go:build linux

package arena_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestFileStats: a File's Stats count the bytes handed out and mapped,
// and it is listed in the registry (kind "file") from its open to its
// Close, answering a snapshot at its next Alloc or Commit.
func TestFileStats(t *testing.T) {
	mapcheck.Baseline(t)
	a, err := arena.CreateFile[[2]uint64](filepath.Join(t.TempDir(), "stats"), &arena.Options{Name: t.Name()})
	require.NoError(t, err)
	before := a.Stats()
	assert.Equal(t, "file", before.Kind)
	assert.Equal(t, t.Name(), before.Name)
	_, err = a.Alloc(1000, 8)
	require.NoError(t, err)
	after := a.Stats()
	assert.Equal(t, before.InUse+1000, after.InUse)
	assert.Equal(t, after.InUse, after.Peak)
	assert.GreaterOrEqual(t, after.Committed, after.InUse)
	assert.Greater(t, after.Reserved, after.Committed)
	assert.Equal(t, 1, after.Chunks)

	find := func() *arena.Summary {
		for _, s := range arena.TakeSnapshot().Arenas {
			if s.Name == t.Name() {
				return &s
			}
		}
		return nil
	}
	require.NotNil(t, find(), "the File is not in the registry")
	// The snapshot asked; the arena answers at its next Alloc.
	_, err = a.Alloc(24, 8)
	require.NoError(t, err)
	s := find()
	require.NotNil(t, s)
	assert.Equal(t, "file", s.Kind)
	assert.Equal(t, after.InUse+24, s.InUse)
	require.Len(t, s.Ranges, 1)
	require.NoError(t, a.Commit())
	require.NoError(t, a.Close())
	assert.Nil(t, find(), "a closed File is still in the registry")
	st := a.Stats()
	assert.True(t, st.Closed)
	assert.Equal(t, t.Name(), st.Name)
	assert.True(t, (*arena.File)(nil).Stats().Closed)
}
