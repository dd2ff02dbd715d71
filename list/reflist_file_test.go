//go:build linux

package list_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// fileRoot is the root of the file arenas of these tests: two lists,
// so that a node of one is offered to the other.
type fileRoot struct {
	L, M list.RefHead[item]
}

// envFileChild names the file a re-executed test binary opens
// read-only and prints the list of (runFileChild).
const envFileChild = "LIST_REFFILE_CHILD"

func init() {
	if path := os.Getenv(envFileChild); path != "" {
		runFileChild(path)
	}
}

// runFileChild opens the file arena at path read-only, prints the
// address its root is mapped at, each value of its list L front to back
// (side and number), Check's verdict and what a push says, and exits.
func runFileChild(path string) {
	fail := func(err error) {
		os.Stderr.WriteString("reflist file child: " + err.Error() + "\n")
		os.Exit(1)
	}
	a, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	if err != nil {
		fail(err)
	}
	root, err := arena.FileRoot[fileRoot](a)
	if err != nil || root == nil {
		fail(fmt.Errorf("root %p: %v", root, err))
	}
	l, err := list.OnFile(a, &root.L)
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "root %#x\n", uintptr(unsafe.Pointer(root)))
	for e := l.Front(); e != nil; e = l.Next(e) {
		fmt.Fprintf(w, "%d %d\n", e.Value.Side, e.Value.I)
	}
	fmt.Fprintf(w, "check %v\n", l.Check())
	_, err = l.PushBack(item{9, 9})
	fmt.Fprintf(w, "push %v\n", err)
	_ = w.Flush()
	_ = a.Close()
	os.Exit(0)
}

// refModelOps applies n random pushes (front or back) and removes to l
// and to the model, which holds what l should hold front to back.
func refModelOps(t *testing.T, l *list.RefList[item], model []item, rng *rand.Rand, side uint32, n int) []item {
	t.Helper()
	for i := range n {
		v := item{side, uint32(i)}
		switch k := rng.IntN(4); {
		case k == 0 && len(model) > 0:
			j := rng.IntN(len(model))
			e := l.Front()
			for range j {
				e = l.Next(e)
			}
			got, err := l.Remove(e)
			require.NoError(t, err)
			require.Equal(t, model[j], got)
			model = append(model[:j], model[j+1:]...)
		case k == 1:
			_, err := l.PushFront(v)
			require.NoError(t, err)
			model = append([]item{v}, model...)
		default:
			_, err := l.PushBack(v)
			require.NoError(t, err)
			model = append(model, v)
		}
	}
	return model
}

// TestRefListFile: a RefList built in a file arena, committed and
// closed, is reopened read-write at another address, checked against a
// model, changed and committed again; then a re-executed child process
// opens the file read-only, wherever its mapping lands, and sees the
// same list, while its push is refused (arena.ErrFrozen).
func TestRefListFile(t *testing.T) {
	t.Setenv("TMPDIR", os.TempDir())
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "list.arena")
	rng := rand.New(rand.NewPCG(3, 4))

	a, err := arena.CreateFile[fileRoot](path, &arena.Options{Name: "reflist"})
	require.NoError(t, err)
	root, err := arena.New[fileRoot](a)
	require.NoError(t, err)
	require.NoError(t, arena.SetFileRoot(a, root))
	l, err := list.OnFile(a, &root.L)
	require.NoError(t, err)
	model := refModelOps(t, l, nil, rng, 1, 3000)
	checkRefList(t, l)
	require.Equal(t, model, refValues(l))
	first := uintptr(unsafe.Pointer(root))
	require.NoError(t, a.Commit())
	// A push after the commit writes its links in place, but its node
	// is a block the Close does not keep: the reopen finds the list
	// linking past its blocks (Check), and Repair cuts the push off.
	_, err = l.PushBack(item{7, 7})
	require.NoError(t, err)
	require.NoError(t, a.Close())
	assert.Zero(t, l.Len(), "a closed File's list reads as empty")

	a, err = arena.OpenFile[fileRoot](path, &arena.Options{Name: "reopen"})
	require.NoError(t, err)
	root, err = arena.FileRoot[fileRoot](a)
	require.NoError(t, err)
	require.NotNil(t, root)
	assert.NotEqual(t, first, uintptr(unsafe.Pointer(root)), "the reopen maps the file elsewhere (the old range is quarantined)")
	l, err = list.OnFile(a, &root.L)
	require.NoError(t, err)
	require.ErrorIs(t, l.Check(), list.ErrBroken, "the uncommitted push's node lies past the kept blocks")
	require.NoError(t, l.Repair())
	checkRefList(t, l)
	require.Equal(t, model, refValues(l), "the reopened, repaired list is the committed one")
	model = refModelOps(t, l, model, rng, 2, 2000)
	checkRefList(t, l)
	require.NoError(t, a.Commit())
	require.NoError(t, a.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envFileChild+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "child: %s", stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.GreaterOrEqual(t, len(lines), 3, "%s", out)
	require.True(t, strings.HasPrefix(lines[0], "root 0x"), "%s", lines[0])
	t.Logf("parent's first mapping of the root at %#x; the child's: %s", first, lines[0])
	var got []item
	for _, ln := range lines[1 : len(lines)-2] {
		var v item
		_, err := fmt.Sscanf(ln, "%d %d", &v.Side, &v.I)
		require.NoError(t, err, "%q", ln)
		got = append(got, v)
	}
	assert.Equal(t, model, got, "the child visits the list the parent committed")
	assert.Equal(t, "check <nil>", lines[len(lines)-2])
	assert.Contains(t, lines[len(lines)-1], arena.ErrFrozen.Error(), "a read-only open refuses a push")
}

// TestRefListFileMisuse: on a File, a read-only open refuses every
// change (arena.ErrFrozen) and changes nothing; a closed File reads as
// empty and refuses changes (arena.ErrClosed); OnFile refuses a closed
// arena and a head outside it; a node of the other list in the file, of
// another file or of a Memfd is not an element of the list.
func TestRefListFileMisuse(t *testing.T) {
	t.Setenv("TMPDIR", os.TempDir())
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "list.arena")
	a, err := arena.CreateFile[fileRoot](path, nil)
	require.NoError(t, err)
	root, err := arena.New[fileRoot](a)
	require.NoError(t, err)
	require.NoError(t, arena.SetFileRoot(a, root))
	l, err := list.OnFile(a, &root.L)
	require.NoError(t, err)
	m, err := list.OnFile(a, &root.M)
	require.NoError(t, err)
	for i := range uint32(4) {
		_, err := l.PushBack(item{1, i})
		require.NoError(t, err)
		_, err = m.PushBack(item{2, i})
		require.NoError(t, err)
	}
	mid := m.Next(m.Front())
	_, err = l.Remove(mid)
	require.ErrorIs(t, err, list.ErrNotInList, "a node of the other list in the same file")
	mref, err := m.Ref(mid)
	require.NoError(t, err)
	_, err = l.Element(mref)
	require.ErrorIs(t, err, list.ErrNotInList)

	// A node of another file's list.
	b, err := arena.CreateFile[fileRoot](filepath.Join(t.TempDir(), "other.arena"), nil)
	require.NoError(t, err)
	broot, err := arena.New[fileRoot](b)
	require.NoError(t, err)
	bl, err := list.OnFile(b, &broot.L)
	require.NoError(t, err)
	be, err := bl.PushBack(item{3, 3})
	require.NoError(t, err)
	bref, err := bl.Ref(be)
	require.NoError(t, err)
	_, err = l.Remove(be)
	require.ErrorIs(t, err, list.ErrNotInList)
	_, err = l.Element(bref)
	require.ErrorIs(t, err, list.ErrNotInList)
	require.NoError(t, b.Close())

	_, err = list.OnFile(a, &list.RefHead[item]{})
	require.ErrorIs(t, err, arena.ErrNotOwned, "a head on the Go heap")
	_, err = list.OnFile[item](nil, &root.L)
	require.ErrorIs(t, err, arena.ErrClosed)
	require.NoError(t, a.Commit())
	require.NoError(t, a.Close())
	_, err = l.PushBack(item{})
	require.ErrorIs(t, err, arena.ErrClosed)
	assert.Nil(t, l.Front())
	assert.ErrorIs(t, l.Check(), arena.ErrClosed)

	a, err = arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	root, err = arena.FileRoot[fileRoot](a)
	require.NoError(t, err)
	l, err = list.OnFile(a, &root.L)
	require.NoError(t, err)
	before := fmt.Sprint(refValues(l), l.Check())
	front := l.Front()
	require.NotNil(t, front)
	for name, op := range map[string]func() error{
		"push back":  func() error { _, err := l.PushBack(item{}); return err },
		"push front": func() error { _, err := l.PushFront(item{}); return err },
		"remove":     func() error { _, err := l.Remove(front); return err },
		"repair":     l.Repair,
	} {
		require.ErrorIs(t, op(), arena.ErrFrozen, name)
		require.Equal(t, before, fmt.Sprint(refValues(l), l.Check()), "%s changed the list", name)
	}
	checkRefList(t, l)
	assert.Equal(t, []item{{1, 0}, {1, 1}, {1, 2}, {1, 3}}, refValues(l))
}
