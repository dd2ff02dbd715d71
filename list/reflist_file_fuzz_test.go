//go:build linux

package list_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// FuzzRefListFile runs a sequence of operations on a RefList in a file
// arena against a model: each byte's low two bits pick push back, push
// front, remove (the element at the byte's high bits modulo the length)
// or commit-close-reopen, after which the list must be the model as of
// that commit (every operation since being committed with it). Check
// holds after every step.
func FuzzRefListFile(f *testing.F) {
	f.Add([]byte{0, 0, 1, 3, 2, 3})
	f.Add([]byte{1, 1, 1, 0x06, 0x0a, 3, 0, 3, 2, 2, 2, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 300 {
			ops = ops[:300]
		}
		t.Setenv("TMPDIR", t.TempDir())
		path := filepath.Join(t.TempDir(), "fuzz.arena")
		a, err := arena.CreateFile[fileRoot](path, nil)
		require.NoError(t, err)
		defer func() { _ = a.Close() }()
		root, err := arena.New[fileRoot](a)
		require.NoError(t, err)
		require.NoError(t, arena.SetFileRoot(a, root))
		l, err := list.OnFile(a, &root.L)
		require.NoError(t, err)
		var model []item
		for i, op := range ops {
			v := item{1, uint32(i)}
			switch op & 3 {
			case 0:
				_, err := l.PushBack(v)
				require.NoError(t, err)
				model = append(model, v)
			case 1:
				_, err := l.PushFront(v)
				require.NoError(t, err)
				model = slices.Insert(model, 0, v)
			case 2:
				if len(model) == 0 {
					_, err := l.Remove(l.Front())
					require.ErrorIs(t, err, list.ErrNotInList)
					continue
				}
				j := int(op>>2) % len(model)
				e := l.Front()
				for range j {
					e = l.Next(e)
				}
				got, err := l.Remove(e)
				require.NoError(t, err)
				require.Equal(t, model[j], got)
				model = slices.Delete(model, j, j+1)
			case 3:
				require.NoError(t, a.Commit())
				require.NoError(t, a.Close())
				a, err = arena.OpenFile[fileRoot](path, nil)
				require.NoError(t, err)
				root, err = arena.FileRoot[fileRoot](a)
				require.NoError(t, err)
				l, err = list.OnFile(a, &root.L)
				require.NoError(t, err)
			}
			require.NoError(t, l.Check(), "after op %d", i)
			require.Equal(t, len(model), l.Len())
		}
		got := refValues(l)
		require.True(t, slices.Equal(model, got), "list %v, model %v", got, model)
	})
}
