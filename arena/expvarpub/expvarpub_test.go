package expvarpub_test

import (
	"encoding/json"
	"expvar"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/expvarpub"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

func TestPublish(t *testing.T) {
	mapcheck.Baseline(t)
	expvarpub.Publish()
	expvarpub.Publish() // a second call does nothing, and does not panic
	b, err := arena.NewBump(&arena.Options{Name: "exported"})
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	_, err = arena.New[int64](b)
	require.NoError(t, err)
	v := expvar.Get(expvarpub.Name)
	require.NotNil(t, v)
	var snap arena.Snapshot
	require.NoError(t, json.Unmarshal([]byte(v.String()), &snap))
	assert.Equal(t, arena.SnapshotFormat, snap.Format)
	found := false
	for _, a := range snap.Arenas {
		found = found || a.Name == "exported"
	}
	assert.True(t, found)
}
