//go:build linux

package list_test

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

var long = flag.Bool("list.long", false, "run the cross-process list tests at their full counts (100,000 pushes a side)")

// item is what the cross-process tests keep in the list: which process
// pushed it (1 the parent, 2 the child) and its number there.
type item struct{ Side, I uint32 }

// refRoot is the Memfd's root in these tests: the list's head, and flags
// the child sets for the parent to wait on.
type refRoot struct {
	L     list.RefHead[item]
	ready uint32 // the child has attached
	held  uint32 // the child holds the lock and is busy under it
	tag   uint32 // set by the parent before the child starts
}

const envRefChild = "LIST_REFLIST_CHILD"

// newRefMemfd makes a memfd arena of one page with an empty list in its
// root, so that pushes from both sides grow it.
func newRefMemfd(t testing.TB) (*arena.Memfd, *refRoot, *list.RefList[item]) {
	t.Helper()
	a, root, err := arena.CreateMemfd[refRoot](&arena.Options{Name: t.Name(), InitialSize: align.PageSize()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Lock())
	defer a.Unlock()
	root.tag = 0xfeed
	l, err := list.OnMemfd(a, &root.L)
	require.NoError(t, err)
	return a, root, l
}

// refChild starts this test binary again as a child in mode with n,
// with a's memfd as fd 3.
func refChild(t testing.TB, a *arena.Memfd, mode string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envRefChild+"="+mode, "LIST_REFLIST_N="+strconv.Itoa(n))
	f, err := a.File()
	require.NoError(t, err)
	defer f.Close() // the child has its own once started
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// runRefChild is the child's half of the cross-process tests, run by
// TestMain when the binary was started by refChild.
func runRefChild(mode string) {
	fail := func(err error) {
		os.Stderr.WriteString("reflist child: " + err.Error() + "\n")
		os.Exit(1)
	}
	n, _ := strconv.Atoi(os.Getenv("LIST_REFLIST_N"))
	if mode == "echo" {
		runEchoChild(n, fail) // another root type: BenchmarkRefListCrossProcess
	}
	f := os.NewFile(3, "memfd")
	a, root, err := arena.AttachMemfd[refRoot](f, &arena.Options{Name: "child"})
	if err != nil {
		fail(err)
	}
	if mode == "fuzz" {
		fuzzChild(a, root, fail)
		os.Exit(0)
	}
	if err := a.Lock(); err != nil {
		fail(err)
	}
	l, err := list.OnMemfd(a, &root.L)
	if err != nil {
		fail(err)
	}
	if root.tag != 0xfeed {
		fail(fmt.Errorf("root tag %#x, the parent set 0xfeed", root.tag))
	}
	switch mode {
	case "push":
		// n pushes, each under the lock, interleaved with the parent's.
		atomic.StoreUint32(&root.ready, 1)
		a.Unlock()
		for i := range n {
			if err := a.Lock(); err != nil {
				fail(err)
			}
			if _, err := l.PushBack(item{2, uint32(i)}); err != nil {
				fail(err)
			}
			a.Unlock()
		}
	case "churn":
		// The churn of churnModel, under the lock and never unlocking,
		// until the parent kills the process, which it does in the
		// middle of some push or remove.
		for i := uint32(0); ; i++ {
			if err := churnStep(l, i); err != nil {
				fail(err)
			}
			if i == uint32(n) {
				atomic.StoreUint32(&root.held, 1)
			}
		}
	case "grow":
		// n pushes, then the first half of a growth: the file made
		// longer, as guard's Commit does first, and the new size not
		// yet mapped or recorded in the header. The parent kills the
		// process here, holding the lock.
		for i := range n {
			if _, err := l.PushBack(item{2, uint32(i)}); err != nil {
				fail(err)
			}
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			fail(err)
		}
		if err := unix.Ftruncate(int(f.Fd()), 4*st.Size); err != nil {
			fail(err)
		}
		atomic.StoreUint32(&root.held, 1)
		time.Sleep(time.Hour)
	}
	if err := a.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// churnStep is step i of the churn the killed child runs: push item i
// at the back, and after every third push remove the front.
func churnStep(l *list.RefList[item], i uint32) error {
	if _, err := l.PushBack(item{2, i}); err != nil {
		return err
	}
	if i%3 == 2 {
		if _, err := l.Remove(l.Front()); err != nil {
			return err
		}
	}
	return nil
}

// TestMain runs the child half of the cross-process tests when this
// binary was started as one (refChild), and the tests otherwise.
func TestMain(m *testing.M) {
	if mode := os.Getenv(envRefChild); mode != "" {
		runRefChild(mode)
	}
	os.Exit(m.Run())
}

// refValues returns l's values front to back.
func refValues(l *list.RefList[item]) []item {
	var out []item
	for e := range l.All() {
		out = append(out, e.Value)
	}
	return out
}

// checkRefList is the structural checker: it compares what the public
// view shows (Len, Front and Next, Back and Prev, Ref and Element) with
// the links as Check reads them, and the counts the head keeps.
func checkRefList(t testing.TB, l *list.RefList[item]) {
	t.Helper()
	require.NoError(t, l.Check())
	var fwd, bwd []*list.RefElement[item]
	for e := l.Front(); e != nil; e = l.Next(e) {
		fwd = append(fwd, e)
		require.LessOrEqual(t, len(fwd), l.Len(), "more elements forward than Len")
	}
	for e := l.Back(); e != nil; e = l.Prev(e) {
		bwd = append(bwd, e)
		require.LessOrEqual(t, len(bwd), l.Len(), "more elements backward than Len")
	}
	slices.Reverse(bwd)
	require.Equal(t, l.Len(), len(fwd))
	require.Equal(t, fwd, bwd, "forward and backward walks differ")
	for i, e := range fwd {
		r, err := l.Ref(e)
		require.NoError(t, err, "element %d", i)
		back, err := l.Element(r)
		require.NoError(t, err, "element %d", i)
		require.Same(t, e, back, "element %d: Ref and Element do not round-trip", i)
	}
	n, free, nodes := list.RefCounts(l)
	require.Equal(t, uint64(l.Len()), n)
	require.Equal(t, n+free, nodes)
}

// side returns the values of vs that side pushed, in order.
func side(vs []item, s uint32) []item {
	var out []item
	for _, v := range vs {
		if v.Side == s {
			out = append(out, v)
		}
	}
	return out
}

// TestRefListCrossProcess: a child attaches and pushes n items while the
// parent pushes n and removes every fourth of its own, each operation
// under the lock, both growing the file from one page. Afterwards the
// list passes the structural checker, each side's items are its model
// (in order), and the removed nodes were reused. n is 100,000 with
// -list.long, 20,000 otherwise.
func TestRefListCrossProcess(t *testing.T) {
	t.Setenv("TMPDIR", os.TempDir())
	n := 20_000
	if *long {
		n = 100_000
	}
	mapcheck.Baseline(t)
	a, root, l := newRefMemfd(t)
	cmd := refChild(t, a, "push", n)
	require.Eventually(t, func() bool { return atomic.LoadUint32(&root.ready) != 0 }, 10*time.Second, time.Millisecond, "the child did not attach")

	var model []item
	var mine []*list.RefElement[item]
	removed := 0
	for i := range uint32(n) {
		require.NoError(t, a.Lock())
		e, err := l.PushBack(item{1, i})
		require.NoError(t, err)
		mine = append(mine, e)
		model = append(model, item{1, i})
		if i%4 == 3 {
			// Remove the parent's item i-2: its own element, still live.
			v, err := l.Remove(mine[i-2])
			require.NoError(t, err)
			require.Equal(t, item{1, i - 2}, v)
			model = slices.DeleteFunc(model, func(x item) bool { return x == v })
			removed++
		}
		a.Unlock()
	}
	require.NoError(t, cmd.Wait())

	require.NoError(t, a.Lock())
	defer a.Unlock()
	checkRefList(t, l)
	vs := refValues(l)
	require.Len(t, vs, 2*n-removed)
	require.Equal(t, model, side(vs, 1))
	child := side(vs, 2)
	require.Len(t, child, n)
	for i, v := range child {
		require.Equal(t, item{2, uint32(i)}, v)
	}
	_, _, nodes := list.RefCounts(l)
	assert.Less(t, nodes, uint64(2*n), "removed nodes were not reused")
}

// churnModel returns the list churnStep leaves after steps whole steps
// on a list holding start, and after steps and the push of step steps.
func churnModel(start []item, steps uint32) (whole, pushed []item) {
	m := slices.Clone(start)
	for i := range steps {
		m = append(m, item{2, i})
		if i%3 == 2 {
			m = m[1:]
		}
	}
	return m, append(slices.Clone(m), item{2, steps})
}

// TestRefListOwnerDead kills a child with SIGKILL while it holds the lock
// in the middle of its churn of pushes and removes. The parent's Lock
// says so (ErrOwnerDead); Repair mends what the child left half done;
// the list is then what the child's churn gives after some number of
// whole steps (a push that had taken effect is kept, one that had not
// is absent); MarkConsistent, and the parent goes on pushing and
// removing, reusing the freed nodes. Three rounds, each killed at
// another moment.
func TestRefListOwnerDead(t *testing.T) {
	for round := range 3 {
		t.Run("round="+strconv.Itoa(round), func(t *testing.T) {
			mapcheck.Baseline(t)
			a, root, l := newRefMemfd(t)
			require.NoError(t, a.Lock())
			var start []item
			for i := range uint32(10) {
				_, err := l.PushBack(item{1, i})
				require.NoError(t, err)
				start = append(start, item{1, i})
			}
			a.Unlock()
			cmd := refChild(t, a, "churn", 1000*(round+1))
			require.Eventually(t, func() bool { return atomic.LoadUint32(&root.held) != 0 }, 10*time.Second, time.Millisecond, "the child did not churn")
			time.Sleep(time.Duration(round) * time.Millisecond)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()

			err := a.Lock()
			require.ErrorIs(t, err, arena.ErrOwnerDead)
			require.ErrorIs(t, err, unix.EOWNERDEAD)
			t.Logf("after the kill: %v", l.Check())
			require.NoError(t, l.Repair())
			checkRefList(t, l)
			vs := refValues(l)
			last := side(vs, 2)
			require.NotEmpty(t, last)
			steps := last[len(last)-1].I // the child's last push that took effect
			whole, pushed := churnModel(start, steps)
			if !slices.Equal(vs, pushed) {
				whole, _ = churnModel(start, steps+1)
				require.Equal(t, whole, vs, "the list is not the churn after %d or %d steps", steps, steps+1)
			}
			a.MarkConsistent()
			a.Unlock()

			// The lock and the list work on; pushes reuse the freed nodes.
			require.NoError(t, a.Lock())
			defer a.Unlock()
			_, free, nodes := list.RefCounts(l)
			for i := range uint32(free) {
				_, err := l.PushFront(item{1, 100 + i})
				require.NoError(t, err)
			}
			_, _, after := list.RefCounts(l)
			assert.Equal(t, nodes, after, "pushes after Repair did not reuse the free nodes")
			_, err = l.Remove(l.Back())
			require.NoError(t, err)
			checkRefList(t, l)
		})
	}
}

// TestRefListKilledGrowing: a child pushes, then stops halfway through
// growing the file (longer, as Commit's ftruncate makes it, but neither
// mapped nor recorded) and is killed there holding the lock. The
// survivor recovers and allocates on, past the size the dead child left
// and past its own mapping, and nothing the child committed is lost.
func TestRefListKilledGrowing(t *testing.T) {
	const n = 3000
	mapcheck.Baseline(t)
	a, root, l := newRefMemfd(t)
	cmd := refChild(t, a, "grow", n)
	require.Eventually(t, func() bool { return atomic.LoadUint32(&root.held) != 0 }, 10*time.Second, time.Millisecond, "the child did not grow the file")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	require.ErrorIs(t, a.Lock(), arena.ErrOwnerDead)
	defer a.Unlock()
	require.NoError(t, l.Check(), "the child died between operations: the list is whole")
	require.NoError(t, l.Repair())
	a.MarkConsistent()
	for i := range uint32(4 * n) {
		_, err := l.PushBack(item{1, i})
		require.NoError(t, err)
	}
	checkRefList(t, l)
	vs := refValues(l)
	require.Len(t, vs, 5*n)
	for i, v := range vs[:n] {
		require.Equal(t, item{2, uint32(i)}, v)
	}
	for i, v := range vs[n:] {
		require.Equal(t, item{1, uint32(i)}, v)
	}
}

// TestRefListMisuse: each bad input is refused with its error, and the
// list, its head and its nodes, is unchanged (the same values, the same
// counts, Check passes).
func TestRefListMisuse(t *testing.T) {
	a, root, l := newRefMemfd(t)
	other, _, ol := newRefMemfd(t)
	require.NoError(t, a.Lock())
	var es []*list.RefElement[item]
	for i := range uint32(5) {
		e, err := l.PushBack(item{1, i})
		require.NoError(t, err)
		es = append(es, e)
	}
	gone := es[4]
	_, err := l.Remove(gone)
	require.NoError(t, err)
	require.NoError(t, other.Lock())
	foreign, err := ol.PushBack(item{9, 9})
	require.NoError(t, err)
	foreignRef, err := ol.Ref(foreign)
	require.NoError(t, err)
	other.Unlock()
	// A second list in the same arena.
	h2, err := arena.New[list.RefHead[item]](a)
	require.NoError(t, err)
	l2, err := list.OnMemfd(a, h2)
	require.NoError(t, err)
	e2, err := l2.PushBack(item{3, 3})
	require.NoError(t, err)
	// Nodes in the middle of the second list, a live one and a removed
	// one: their prev links name real nodes, so only the list's tag in
	// them tells them from l's.
	mid2, err := l2.PushBack(item{3, 4})
	require.NoError(t, err)
	gone2, err := l2.PushBack(item{3, 5})
	require.NoError(t, err)
	_, err = l2.PushBack(item{3, 6})
	require.NoError(t, err)
	_, err = l2.Remove(gone2)
	require.NoError(t, err)
	mid2Ref, err := l2.Ref(mid2)
	require.NoError(t, err)
	goodRef, err := l.Ref(es[0])
	require.NoError(t, err)
	a.Unlock()

	cases := []struct {
		name   string
		op     func() error
		want   error
		locked bool
	}{
		{"remove removed", func() error { _, err := l.Remove(gone); return err }, list.ErrRemoved, true},
		{"remove nil", func() error { _, err := l.Remove(nil); return err }, list.ErrNotInList, true},
		{"remove another arena's", func() error { _, err := l.Remove(foreign); return err }, list.ErrNotInList, true},
		{"remove another list's", func() error { _, err := l.Remove(e2); return err }, list.ErrNotInList, true},
		{"remove another list's middle", func() error { _, err := l.Remove(mid2); return err }, list.ErrNotInList, true},
		{"remove another list's removed", func() error { _, err := l.Remove(gone2); return err }, list.ErrNotInList, true},
		{"element of another list's ref", func() error { _, err := l.Element(mid2Ref); return err }, list.ErrNotInList, true},
		{"prev of another list's", func() error {
			if l.Prev(mid2) != nil {
				return errors.New("Prev followed another list's node")
			}
			return list.ErrNotInList
		}, list.ErrNotInList, true},
		{"element of the zero Ref", func() error {
			_, err := l.Element(arena.Ref[list.RefElement[item]]{})
			return err
		}, list.ErrNotInList, true},
		{"element of another arena's ref", func() error { _, err := l.Element(foreignRef); return err }, list.ErrNotInList, true},
		{"element of a ref past the mapping", func() error {
			bad := goodRef
			*(*uint64)(unsafe.Pointer(&bad)) += 1 << 39 // a forged Ref: the offset, in the low 40 bits, past 512 GiB
			_, err := l.Element(bad)
			return err
		}, list.ErrNotInList, true},
		{"ref of a Go heap element", func() error {
			_, err := l.Ref(&list.RefElement[item]{})
			return err
		}, list.ErrNotInList, true},
		{"push without the lock", func() error { _, err := l.PushBack(item{}); return err }, unix.ENOLCK, false},
		{"remove without the lock", func() error { _, err := l.Remove(es[0]); return err }, unix.ENOLCK, false},
		{"repair without the lock", l.Repair, unix.ENOLCK, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.locked {
				require.NoError(t, a.Lock())
				defer a.Unlock()
			}
			before := snapshot(a, root, l)
			require.ErrorIs(t, c.op(), c.want)
			assert.Equal(t, before, snapshot(a, root, l), "the failed call changed the list")
		})
	}
	t.Run("readers without the lock", func(t *testing.T) {
		assert.Zero(t, l.Len())
		assert.Nil(t, l.Front())
		assert.Nil(t, l.Back())
		assert.Nil(t, l.Prev(es[1]))
		for range l.All() {
			t.Fatal("All visited without the lock")
		}
	})
	t.Run("use after Close", func(t *testing.T) {
		h := &root.L // taken before Close: after it, reading root faults
		require.NoError(t, a.Close())
		require.ErrorIs(t, l.Check(), arena.ErrClosed)
		_, err := l.PushBack(item{})
		require.ErrorIs(t, err, arena.ErrClosed)
		_, err = l.Element(goodRef)
		require.ErrorIs(t, err, arena.ErrClosed)
		assert.Zero(t, l.Len())
		_, err = list.OnMemfd(a, h)
		require.ErrorIs(t, err, arena.ErrClosed)
	})
}

// snapshot is what a failed call must leave as it was: the values, the
// counts, and whether Check passes. The lock must be held, or nothing is
// read.
func snapshot(a *arena.Memfd, root *refRoot, l *list.RefList[item]) string {
	if a.CheckHeld() != nil {
		require.NoError(nil, a.Lock())
		defer a.Unlock()
	}
	n, free, nodes := list.RefCounts(l)
	return fmt.Sprint(refValues(l), n, free, nodes, l.Check())
}

// TestRefListOnMemfdErrors: OnMemfd refuses a head outside the arena and
// a value type that holds Go pointers.
func TestRefListOnMemfdErrors(t *testing.T) {
	a, _, _ := newRefMemfd(t)
	require.NoError(t, a.Lock())
	defer a.Unlock()
	var h list.RefHead[item]
	_, err := list.OnMemfd(a, &h)
	require.ErrorIs(t, err, arena.ErrNotOwned)
	_, err = list.OnMemfd[item](a, nil)
	require.ErrorIs(t, err, arena.ErrNotOwned)
	_, err = list.OnMemfd(a, &list.RefHead[*int64]{})
	require.ErrorIs(t, err, arena.ErrPointers)
	var pe *arena.PointerError
	require.True(t, errors.As(err, &pe))
}

// readLine reads one line from r, for the fuzz child's protocol.
func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s, err
}
