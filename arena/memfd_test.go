//go:build linux

package arena_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
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
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// The structure the cross-process tests share: a root that heads a list
// of nodes, each naming the process that pushed it (side 1 the parent,
// 2 the child) and its number, and filled with a pattern derived from
// both, so that bytes handed out twice show up as a broken pattern or a
// lost node.
type memfdRoot struct {
	head  arena.Ref[memfdNode]
	count int64
	tag   uint32 // set by the parent before the child starts
	held  uint32 // set by the "hold" child once it holds the lock
	ready uint32 // set by the "push" child once it has attached
}

type memfdNode struct {
	next arena.Ref[memfdNode]
	side uint32
	i    uint32
	pat  [48]byte
}

func pattern(side, i uint32) byte { return byte(side*31 + i) }

// push allocates a node and links it at the head; a's lock must be held.
func push(a *arena.Memfd, root *memfdRoot, side, i uint32) error {
	n, err := arena.New[memfdNode](a)
	if err != nil {
		return err
	}
	for k := range n.pat {
		if n.pat[k] != 0 {
			return fmt.Errorf("node %d/%d: byte %d is %#x, not zero", side, i, k, n.pat[k])
		}
		n.pat[k] = pattern(side, i)
	}
	n.side, n.i, n.next = side, i, root.head
	if root.head, err = arena.MemfdRef(a, n); err != nil {
		return err
	}
	root.count++
	return nil
}

const envMemfdChild = "ARENA_MEMFD_CHILD"

// memfdChild starts this test binary again in mode, with a's memfd as
// fd 3.
func memfdChild(t *testing.T, a *arena.Memfd, mode string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envMemfdChild+"="+mode, "ARENA_MEMFD_N="+strconv.Itoa(n))
	f, err := a.File()
	require.NoError(t, err)
	defer f.Close() // the child has its own once started
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // a test that failed early leaves no child behind
	return cmd
}

// runMemfdChild is the child's half of the cross-process tests, run by
// TestMain in a test binary started by memfdChild instead of the tests.
func runMemfdChild(mode string) {
	fail := func(err error) {
		os.Stderr.WriteString("memfd child: " + err.Error() + "\n")
		os.Exit(1)
	}
	a, root, err := arena.AttachMemfd[memfdRoot](os.NewFile(3, "memfd"), &arena.Options{Name: "child"})
	if err != nil {
		fail(err)
	}
	if err := a.Lock(); err != nil {
		fail(err)
	}
	if root.tag != 0xfeed {
		fail(fmt.Errorf("root tag %#x, the parent set 0xfeed", root.tag))
	}
	n, _ := strconv.Atoi(os.Getenv("ARENA_MEMFD_N"))
	switch mode {
	case "push":
		atomic.StoreUint32(&root.ready, 1)
		a.Unlock()
		for i := range n {
			if err := a.Lock(); err != nil {
				fail(err)
			}
			if err := push(a, root, 2, uint32(i)); err != nil {
				fail(err)
			}
			a.Unlock()
		}
	case "hold":
		atomic.StoreUint32(&root.held, 1)
		time.Sleep(time.Hour) // killed by the parent
	}
	if err := a.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// newMemfd makes a memfd arena of one page, so that both sides grow it.
func newMemfd(t *testing.T) (*arena.Memfd, *memfdRoot) {
	t.Helper()
	a, root, err := arena.CreateMemfd[memfdRoot](&arena.Options{Name: t.Name(), InitialSize: align.PageSize()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Lock())
	root.tag = 0xfeed
	a.Unlock()
	return a, root
}

// TestMemfdCrossProcess: a child attaches, checks the root the parent
// set, and pushes nodes while the parent pushes as many, each under the
// lock, both growing the file from one page; then the parent walks the
// list and finds every node of both sides once, its pattern whole.
func TestMemfdCrossProcess(t *testing.T) {
	const n = 20_000
	a, root := newMemfd(t)
	cmd := memfdChild(t, a, "push", n)
	require.Eventually(t, func() bool { return atomic.LoadUint32(&root.ready) != 0 }, 10*time.Second, time.Millisecond, "the child did not attach")
	for i := range n {
		require.NoError(t, a.Lock())
		require.NoError(t, push(a, root, 1, uint32(i)))
		a.Unlock()
	}
	require.NoError(t, cmd.Wait())

	require.NoError(t, a.Lock())
	defer a.Unlock()
	assert.Equal(t, int64(2*n), root.count)
	var seen [3][n]bool
	total, switches, last := 0, 0, uint32(0)
	for r := root.head; r != (arena.Ref[memfdNode]{}); {
		node := r.In(a)
		require.NotNil(t, node, "node %d of the list does not resolve", total)
		require.Contains(t, []uint32{1, 2}, node.side)
		if node.side != last {
			switches, last = switches+1, node.side
		}
		require.Less(t, node.i, uint32(n))
		require.False(t, seen[node.side][node.i], "node %d/%d twice", node.side, node.i)
		seen[node.side][node.i] = true
		for k, b := range node.pat {
			require.Equal(t, pattern(node.side, node.i), b, "node %d/%d byte %d", node.side, node.i, k)
		}
		back, err := arena.MemfdRef(a, node)
		require.NoError(t, err)
		require.Equal(t, r, back)
		r = node.next
		total++
	}
	assert.Equal(t, 2*n, total)
	t.Logf("the list changes sides %d times", switches)
}

// TestMemfdGoroutines: goroutines of one process push under the lock;
// under -race this checks that the lock orders them.
func TestMemfdGoroutines(t *testing.T) {
	const g, n = 4, 2000
	a, root := newMemfd(t)
	var wg sync.WaitGroup
	for side := range uint32(g) {
		wg.Go(func() {
			for i := range uint32(n) {
				if err := a.Lock(); err != nil {
					t.Error(err)
					return
				}
				if err := push(a, root, side, i); err != nil {
					t.Error(err)
				}
				a.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, a.Lock())
	defer a.Unlock()
	total := 0
	for r := root.head; r != (arena.Ref[memfdNode]{}); r = r.In(a).next {
		node := r.In(a)
		require.NotNil(t, node)
		require.Equal(t, pattern(node.side, node.i), node.pat[len(node.pat)-1])
		total++
	}
	assert.Equal(t, g*n, total)
	assert.Equal(t, int64(g*n), root.count)
}

// TestMemfdOwnerDead kills a child that holds the lock: the parent's
// Lock takes it over and says so, and once marked consistent the lock
// works as before.
func TestMemfdOwnerDead(t *testing.T) {
	a, root := newMemfd(t)
	cmd := memfdChild(t, a, "hold", 0)
	require.Eventually(t, func() bool { return atomic.LoadUint32(&root.held) != 0 }, 10*time.Second, time.Millisecond, "the child did not take the lock")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	err := a.Lock()
	require.ErrorIs(t, err, arena.ErrOwnerDead)
	require.ErrorIs(t, err, unix.EOWNERDEAD)
	require.NoError(t, push(a, root, 1, 0), "the lock is held after ErrOwnerDead")
	a.MarkConsistent()
	a.Unlock()
	require.NoError(t, a.Lock())
	assert.Equal(t, int64(1), root.count)
	a.Unlock()
}

// TestMemfdAttachErrors attaches files that are not what AttachMemfd
// needs; each is refused with its sentinel, and the file's bytes are
// the same after as before.
func TestMemfdAttachErrors(t *testing.T) {
	type other struct {
		head  arena.Ref[memfdNode]
		count int32 // memfdRoot's is an int64
	}
	attach := map[string]func(f *os.File) error{
		"root": func(f *os.File) error { _, _, err := arena.AttachMemfd[memfdRoot](f, nil); return err },
		"other": func(f *os.File) error {
			_, _, err := arena.AttachMemfd[other](f, nil)
			return err
		},
		"pointers": func(f *os.File) error { _, _, err := arena.AttachMemfd[*int](f, nil); return err },
		"limit": func(f *os.File) error {
			_, _, err := arena.AttachMemfd[memfdRoot](f, &arena.Options{Limit: 1 << 20})
			return err
		},
	}
	for _, tc := range []struct {
		name   string
		forge  func(h []byte) // changes the header before the attach
		attach string
		want   error
	}{
		{"magic", func(h []byte) { binary.NativeEndian.PutUint64(h[arena.MemfdOffMagic:], 0x1234) }, "root", arena.ErrHeader},
		{"version", func(h []byte) { binary.NativeEndian.PutUint32(h[arena.MemfdOffVersion:], 2) }, "root", arena.ErrHeader},
		{"layout", nil, "other", arena.ErrHeader},
		{"truncated", func(h []byte) {
			binary.NativeEndian.PutUint64(h[arena.MemfdOffCommitted:], uint64(64*align.PageSize()))
		}, "root", arena.ErrSize},
		{"cursor", func(h []byte) { binary.NativeEndian.PutUint64(h[arena.MemfdOffCursor:], 1<<40) }, "root", arena.ErrHeader},
		{"pointers", nil, "pointers", arena.ErrPointers},
		{"limit", nil, "limit", arena.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, root, err := arena.CreateMemfd[memfdRoot](&arena.Options{Name: tc.name})
			require.NoError(t, err)
			root.count = 42
			f, err := a.File()
			require.NoError(t, err)
			defer f.Close()
			require.NoError(t, a.Close()) // guard maps a file once per process
			if tc.forge != nil {
				r, err := guard.AttachShared(int(f.Fd()), 0, nil)
				require.NoError(t, err)
				tc.forge(r.Bytes())
				require.NoError(t, r.Close())
			}
			before := make([]byte, align.PageSize())
			_, err = f.ReadAt(before, 0)
			require.NoError(t, err)

			require.ErrorIs(t, attach[tc.attach](f), tc.want)

			after := make([]byte, align.PageSize())
			_, err = f.ReadAt(after, 0)
			require.NoError(t, err)
			assert.Equal(t, before, after, "a failed attach changed the file")
		})
	}
	t.Run("not-memfd", func(t *testing.T) {
		f, err := os.CreateTemp(t.TempDir(), "arena")
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Write(make([]byte, align.PageSize()))
		require.NoError(t, err)
		_, _, err = arena.AttachMemfd[memfdRoot](f, nil)
		require.ErrorIs(t, err, guard.ErrNotShared)
	})
	t.Run("same-process", func(t *testing.T) {
		a, _ := newMemfd(t)
		f, err := a.File()
		require.NoError(t, err)
		defer f.Close()
		_, _, err = arena.AttachMemfd[memfdRoot](f, nil)
		require.ErrorIs(t, err, guard.ErrNotShared)
		require.ErrorIs(t, err, unix.EBUSY)
	})
	t.Run("good", func(t *testing.T) {
		a, root, err := arena.CreateMemfd[memfdRoot](nil)
		require.NoError(t, err)
		root.count = 42
		f, err := a.File()
		require.NoError(t, err)
		defer f.Close()
		require.NoError(t, a.Close())
		b, root, err := arena.AttachMemfd[memfdRoot](f, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(42), root.count)
		require.NoError(t, b.Close())
	})
}

// TestMemfdMisuse: Alloc without the lock, past the Limit, with a bad
// alignment; Refs of other memory; everything after Close.
func TestMemfdMisuse(t *testing.T) {
	ps := align.PageSize()
	a, root, err := arena.CreateMemfd[memfdRoot](&arena.Options{Name: "misuse", Limit: int64(2 * ps)})
	require.NoError(t, err)

	_, err = a.Alloc(8, 8)
	require.ErrorIs(t, err, unix.ENOLCK)
	require.NoError(t, a.Lock())
	p, err := a.Alloc(8, 8)
	require.NoError(t, err)
	_, err = a.Alloc(uintptr(2*ps), 8)
	require.ErrorIs(t, err, arena.ErrLimit)
	_, err = a.Alloc(8, 3)
	require.ErrorIs(t, err, align.ErrAlignment)
	q, err := a.Alloc(8, 8)
	require.NoError(t, err)
	assert.Equal(t, uintptr(p)+8, uintptr(q), "a refused Alloc moved the cursor")
	big, err := a.Alloc(uintptr(ps), 8) // grows the file to the second page
	require.NoError(t, err)
	assert.NotNil(t, big)

	var heap memfdNode
	_, err = arena.MemfdRef(a, &heap)
	require.ErrorIs(t, err, arena.ErrNotOwned)
	rr, err := arena.MemfdRef(a, root)
	require.NoError(t, err)
	assert.Same(t, root, rr.In(a))
	b, err := arena.NewBump(nil)
	require.NoError(t, err)
	defer b.Close()
	bn, err := arena.New[memfdNode](b)
	require.NoError(t, err)
	br, err := arena.RefOf(b, bn)
	require.NoError(t, err)
	assert.Nil(t, br.In(a), "a Bump's Ref resolved in a memfd arena")
	assert.Nil(t, arena.Ref[memfdNode]{}.In(a), "the zero Ref")
	assert.Nil(t, arena.RefFromBits[memfdNode](arena.RefBits(rr)&^(1<<arena.RefOffBits-1)).In(a), "a Ref to the header")
	a.Unlock()
	assert.Panics(t, a.Unlock, "Unlock of an unlocked Memfd")

	require.NoError(t, a.Lock())
	require.NoError(t, a.Close(), "Close unlocks")
	require.ErrorIs(t, a.Close(), arena.ErrClosed)
	require.ErrorIs(t, a.Lock(), arena.ErrClosed)
	_, err = a.Alloc(8, 8)
	require.ErrorIs(t, err, arena.ErrClosed)
	_, err = a.File()
	require.ErrorIs(t, err, arena.ErrClosed)
	_, err = arena.MemfdRef(a, root)
	require.ErrorIs(t, err, arena.ErrClosed)
	assert.Nil(t, rr.In(a))
	a.Unlock()         // does nothing
	a.MarkConsistent() // does nothing
}

// TestMemfdOptions: options a memfd arena does not use are refused with
// ErrUnsupported naming them.
func TestMemfdOptions(t *testing.T) {
	for name, o := range map[string]arena.Options{
		"MaxChunk":   {MaxChunk: 1 << 20},
		"Quarantine": {Quarantine: 1},
		"HugePages":  {HugePages: true},
	} {
		_, _, err := arena.CreateMemfd[memfdRoot](&o)
		require.ErrorIs(t, err, arena.ErrUnsupported, name)
		assert.Contains(t, err.Error(), name)
	}
	_, _, err := arena.CreateMemfd[memfdRoot](&arena.Options{Limit: 2 << 40})
	require.ErrorIs(t, err, arena.ErrSize)
	_, _, err = arena.CreateMemfd[*int](nil)
	require.ErrorIs(t, err, arena.ErrPointers)
	require.False(t, errors.Is(err, arena.ErrHeader))
}

// BenchmarkMemfdLock is an uncontended Lock and Unlock of a Memfd (a
// sync.Mutex, then the shared lock word), against sync.Mutex.
func BenchmarkMemfdLock(b *testing.B) {
	b.Run("lock=memfd", func(b *testing.B) {
		mapcheck.Baseline(b)
		a, _, err := arena.CreateMemfd[memfdRoot](nil)
		require.NoError(b, err)
		defer a.Close()
		b.ReportAllocs()
		for b.Loop() {
			if a.Lock() != nil {
				b.Fatal("lock")
			}
			a.Unlock()
		}
	})
	b.Run("lock=sync", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			m.Unlock()
		}
	})
}

// BenchmarkMemfdAlloc is New of a 64-byte node with the lock held, the
// file growing as it fills, against a Bump and the Go heap. A memfd's
// pages are RAM (tmpfs), so a full arena of 64 MiB is replaced, off the
// clock, by a new one. The nodes are not written, so the memfd's page
// faults are not counted, where a Bump's clearing and faulting ahead
// are: compare the cursor's cost, not the memory's.
func BenchmarkMemfdAlloc(b *testing.B) {
	b.Run("arena=memfd/size=64", func(b *testing.B) {
		mapcheck.Baseline(b)
		open := func() *arena.Memfd {
			a, _, err := arena.CreateMemfd[memfdRoot](&arena.Options{Limit: 64 << 20})
			require.NoError(b, err)
			require.NoError(b, a.Lock())
			return a
		}
		a := open()
		b.ReportAllocs()
		b.SetBytes(64)
		for b.Loop() {
			if _, err := arena.New[memfdNode](a); err != nil {
				require.ErrorIs(b, err, arena.ErrLimit)
				b.StopTimer()
				require.NoError(b, a.Close())
				a = open()
				b.StartTimer()
			}
		}
		require.NoError(b, a.Close())
	})
	b.Run("arena=bump/size=64", func(b *testing.B) {
		mapcheck.Baseline(b)
		a, err := arena.NewBump(nil)
		require.NoError(b, err)
		defer a.Close()
		b.ReportAllocs()
		b.SetBytes(64)
		for b.Loop() {
			if _, err := arena.New[memfdNode](a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arena=goheap/size=64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(64)
		for b.Loop() {
			memfdSink = new(memfdNode)
		}
	})
}

var memfdSink *memfdNode

// TestMemfdCloseQuarantines: a pointer kept past a Memfd's Close faults
// and is named a use after close with the Close site, as for every arena
// kind, and the file keeps its bytes.
func TestMemfdCloseQuarantines(t *testing.T) {
	mapcheck.Baseline(t)
	a, root, err := arena.CreateMemfd[memfdRoot](&arena.Options{Name: "closed memfd"})
	require.NoError(t, err)
	require.NoError(t, a.Lock())
	root.count = 7
	a.Unlock()
	require.NoError(t, a.Close()) // the Close site, the line above the next
	_, _, closeLine, _ := runtime.Caller(0)
	closeLine--

	err = hardened.Catch(func() { sinkInt = root.count })
	var rep *hardened.Report
	require.ErrorAs(t, err, &rep)
	assert.Equal(t, hardened.KindUseAfterClose, rep.Kind)
	assert.Equal(t, "closed memfd", rep.Arena)
	require.NotEmpty(t, rep.Freed)
	assert.Contains(t, rep.Freed[0], fmt.Sprintf("memfd_test.go:%d", closeLine))
	assert.ErrorIs(t, a.Close(), arena.ErrClosed)
}

// TestMemfdLeak: a Memfd dropped without Close is reported, kind "memfd",
// and keeps its mapping: the root still reads what was written.
func TestMemfdLeak(t *testing.T) {
	got := make(chan arena.LeakReport, 16)
	old := arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	defer arena.SetLeakHandler(old)
	root := leakMemfd(t)
	r := waitLeak(t, got, "forgotten memfd")
	assert.Equal(t, "memfd", r.Kind)
	assert.Contains(t, r.Site, "memfd_test.go:")
	assert.NotZero(t, r.Bytes)
	require.NoError(t, guard.FlushQuarantine())
	assert.Equal(t, int64(42), root.count)
}

// leakMemfd makes a Memfd, writes its root and drops the arena.
func leakMemfd(t *testing.T) *memfdRoot {
	a, root, err := arena.CreateMemfd[memfdRoot](&arena.Options{Name: "forgotten memfd"})
	require.NoError(t, err)
	require.NoError(t, a.Lock())
	root.count = 42
	a.Unlock()
	return root
}

// TestMain runs the child half of the cross-process tests when this
// binary was started as the child (memfdChild sets envMemfdChild), and
// the tests otherwise.
func TestMain(m *testing.M) {
	if mode := os.Getenv(envMemfdChild); mode != "" {
		runMemfdChild(mode)
	}
	if dir := os.Getenv(envFileChild); dir != "" {
		runFileChild(dir)
	}
	os.Exit(m.Run())
}

// TestMemfdStats: a Memfd's Stats count what every process allocated,
// and it is listed in the registry (kind "memfd") until Close.
func TestMemfdStats(t *testing.T) {
	a, root := newMemfd(t)
	require.NoError(t, a.Lock())
	before := a.Stats()
	require.NoError(t, push(a, root, 1, 0))
	after := a.Stats()
	a.Unlock()
	assert.Equal(t, "memfd", after.Kind)
	assert.Equal(t, t.Name(), after.Name)
	assert.GreaterOrEqual(t, after.InUse-before.InUse, uint64(unsafe.Sizeof(memfdNode{})))
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
	require.NotNil(t, find(), "the Memfd is not in the registry")
	// The snapshot asked; the arena answers at its next Unlock.
	require.NoError(t, a.Lock())
	a.Unlock()
	s := find()
	require.NotNil(t, s)
	assert.Equal(t, "memfd", s.Kind)
	assert.Equal(t, after.InUse, s.InUse)
	require.Len(t, s.Ranges, 1)
	require.NoError(t, a.Close())
	assert.Nil(t, find(), "a closed Memfd is still in the registry")
	assert.True(t, a.Stats().Closed)
}

// TestRefOffsetTag: a Memfd Ref's Offset is its distance from the
// mapping's start, and Tag moves it to where nothing resolves and back,
// with the offset untouched.
func TestRefOffsetTag(t *testing.T) {
	mapcheck.Baseline(t)
	a, root, err := arena.CreateMemfd[[4]uint64](&arena.Options{Name: "tag"})
	require.NoError(t, err)
	defer func() { require.NoError(t, a.Close()) }()
	require.NoError(t, a.Lock())
	defer a.Unlock()
	r, err := arena.MemfdRef(a, &root[2])
	require.NoError(t, err)
	r0, err := arena.MemfdRef(a, &root[0])
	require.NoError(t, err)
	assert.Equal(t, r0.Offset()+16, r.Offset(), "offsets differ as the addresses do")
	assert.Less(t, r.Offset(), uint64(1)<<40)
	assert.Zero(t, arena.Ref[uint64]{}.Offset())
	for _, tag := range []uint32{1, 0x800000, 0xffffff, 0x1abcdef} {
		tr := r.Tag(tag)
		assert.NotEqual(t, r, tr, "tag %#x", tag)
		assert.Equal(t, r.Offset(), tr.Offset(), "tag %#x", tag)
		assert.Nil(t, tr.In(a), "a tagged Ref resolves nowhere (tag %#x)", tag)
		assert.Equal(t, r, tr.Tag(tag), "the same tag gives the Ref back (tag %#x)", tag)
		assert.Same(t, &root[2], tr.Tag(tag).In(a))
	}
	assert.Equal(t, r, r.Tag(0))
	assert.Equal(t, r, r.Tag(1<<24), "bits above 24 are dropped")
	z := arena.Ref[uint64]{}.Tag(5)
	assert.NotEqual(t, arena.Ref[uint64]{}, z, "a tagged zero Ref is not zero")
	assert.Nil(t, z.In(a))
	// At resolves against the arena's RefSpace as In does against it.
	s := a.RefSpace()
	assert.Same(t, &root[2], r.At(s))
	assert.Nil(t, r.Tag(3).At(s))
	assert.Nil(t, r.At(nil))
	assert.Nil(t, (*arena.Memfd)(nil).RefSpace())
	assert.Nil(t, (*arena.File)(nil).RefSpace())
	b, _, err := arena.CreateMemfd[[4]uint64](&arena.Options{Name: "tag2"})
	require.NoError(t, err)
	assert.Nil(t, r.At(b.RefSpace()), "another arena's RefSpace")
	require.NoError(t, b.Close())
	assert.Nil(t, r.At(b.RefSpace()), "a closed arena's RefSpace resolves nothing")
}
