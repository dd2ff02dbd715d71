//go:build linux

package arena_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// The structure the file tests build: a root heading a singly linked
// list of Ref-linked nodes. A commit appends nodes at the head and sets
// a new root, never writing a committed block again, so every commit is
// a whole state that a crash can only roll back to, never tear.
type fileRoot struct {
	head    arena.Ref[fileNode]
	count   uint64 // nodes in the list
	commits uint64 // commits that built it
}

type fileNode struct {
	next arena.Ref[fileNode]
	val  uint64
}

// nodeVal is the value of the i-th node pushed by commit c.
func nodeVal(c, i uint64) uint64 { return c<<32 | i ^ 0x5bd1e995 }

// nodesOf is how many nodes commit c pushes: 1 to 40.
func nodesOf(c uint64) uint64 { return 1 + c*7919%40 }

// buildCommit pushes commit c's nodes in front of the current root's
// list, sets a new root and commits.
func buildCommit(a *arena.File, c uint64) error {
	old, err := arena.FileRoot[fileRoot](a)
	if err != nil {
		return err
	}
	var head arena.Ref[fileNode]
	var count uint64
	if old != nil {
		head, count = old.head, old.count
	}
	for i := range nodesOf(c) {
		n, err := arena.New[fileNode](a)
		if err != nil {
			return err
		}
		if n.val != 0 || n.next != (arena.Ref[fileNode]{}) {
			return fmt.Errorf("commit %d node %d: New handed out stale bytes", c, i)
		}
		n.val, n.next = nodeVal(c, i), head
		if head, err = arena.FileRef(a, n); err != nil {
			return err
		}
		count++
	}
	root, err := arena.New[fileRoot](a)
	if err != nil {
		return err
	}
	root.head, root.count, root.commits = head, count, c
	if err := arena.SetFileRoot(a, root); err != nil {
		return err
	}
	return a.Commit()
}

// checkBuilt walks a's list and checks it is exactly what commits 1 to
// want built; want 0 means no root.
func checkBuilt(a *arena.File, want uint64) error {
	root, err := arena.FileRoot[fileRoot](a)
	if err != nil {
		return err
	}
	if want == 0 {
		if root != nil {
			return fmt.Errorf("a root after no commit of the list (commits %d)", root.commits)
		}
		return nil
	}
	if root == nil {
		return fmt.Errorf("no root, want commit %d", want)
	}
	if root.commits != want {
		return fmt.Errorf("root of commit %d, want %d", root.commits, want)
	}
	r, n := root.head, uint64(0)
	for c := want; c >= 1; c-- {
		for i := nodesOf(c); i > 0; i-- {
			node := r.InFile(a)
			if node == nil {
				return fmt.Errorf("commit %d node %d: Ref %v does not resolve", c, i-1, r)
			}
			if node.val != nodeVal(c, i-1) {
				return fmt.Errorf("commit %d node %d: value %#x, want %#x", c, i-1, node.val, nodeVal(c, i-1))
			}
			r, n = node.next, n+1
		}
	}
	if r != (arena.Ref[fileNode]{}) {
		return fmt.Errorf("the list goes on past its %d nodes", n)
	}
	if root.count != n {
		return fmt.Errorf("root counts %d nodes, the list has %d", root.count, n)
	}
	return nil
}

// TestFileReopen: a list built and committed in a file arena reads back
// whole after Close, at another address, for writing and read-only; what
// was allocated after the last commit is gone, and the bytes it left are
// handed out again zeroed.
func TestFileReopen(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "list.arena")
	a, err := arena.CreateFile[fileRoot](path, &arena.Options{InitialSize: align.PageSize()})
	require.NoError(t, err)
	require.NoError(t, checkBuilt(a, 0))
	const commits = 60 // ~1200 nodes: the file grows from one page
	for c := uint64(1); c <= commits; c++ {
		require.NoError(t, buildCommit(a, c))
	}
	first, _ := arena.FileRoot[fileRoot](a)
	committed := a.Used()
	// Uncommitted work: nodes and a root the next open must not see.
	for range 500 {
		n, err := arena.New[fileNode](a)
		require.NoError(t, err)
		n.val = ^uint64(0)
	}
	stale, err := arena.New[fileRoot](a)
	require.NoError(t, err)
	stale.commits = 999
	require.NoError(t, arena.SetFileRoot(a, stale))
	require.NoError(t, a.Close())
	assert.ErrorIs(t, a.Close(), arena.ErrClosed)

	a, err = arena.OpenFile[fileRoot](path, nil)
	require.NoError(t, err)
	again, _ := arena.FileRoot[fileRoot](a)
	assert.NotEqual(t, uintptr(unsafe.Pointer(first)), uintptr(unsafe.Pointer(again)), "the reopen maps the file elsewhere (the old range is quarantined)")
	assert.Equal(t, committed, a.Used(), "the cursor starts at the committed used size")
	require.NoError(t, checkBuilt(a, commits))
	// The uncommitted nodes' bytes are handed out again, zeroed.
	blk, err := arena.MakeSlice[uint64](a, 2000, 2000)
	require.NoError(t, err)
	for i, v := range blk {
		require.Zero(t, v, "word %d of a block over uncommitted bytes", i)
	}
	require.NoError(t, buildCommit(a, commits+1))
	require.NoError(t, a.Close())

	// Two readers at once, then a writer is refused while one is open.
	r1, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	require.NoError(t, err)
	r2, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true, Name: "second reader"})
	require.NoError(t, err)
	require.NoError(t, checkBuilt(r1, commits+1))
	require.NoError(t, checkBuilt(r2, commits+1))
	_, err = arena.OpenFile[fileRoot](path, nil)
	assert.ErrorIs(t, err, arena.ErrLocked)
	assert.ErrorIs(t, err, unix.EWOULDBLOCK)
	_, err = r1.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	assert.ErrorIs(t, r1.Commit(), arena.ErrFrozen)
	assert.ErrorIs(t, arena.SetFileRoot[fileRoot](r1, nil), arena.ErrFrozen)
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
	require.NoError(t, guard.FlushQuarantine())
}

// TestFileMisuse: calls that get an error rather than corrupt anything.
func TestFileMisuse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	a, err := arena.CreateFile[fileRoot](path, nil)
	require.NoError(t, err)
	defer a.Close()
	_, err = arena.CreateFile[fileRoot](path, nil)
	assert.ErrorIs(t, err, os.ErrExist, "CreateFile never overwrites")
	_, err = arena.OpenFile[fileRoot](path, nil)
	assert.ErrorIs(t, err, arena.ErrLocked, "CreateFile's lock holds from the temporary file on")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file is left: %v", ents)
	_, err = arena.FileRoot[fileNode](a)
	assert.ErrorIs(t, err, arena.ErrFileHeader, "another root type")
	var heap fileRoot
	assert.ErrorIs(t, arena.SetFileRoot(a, &heap), arena.ErrNotOwned)
	_, err = arena.FileRef(a, &heap)
	assert.ErrorIs(t, err, arena.ErrNotOwned)
	_, err = a.Alloc(8, 3)
	assert.Error(t, err)
	_, err = a.Alloc(1<<30, 8)
	assert.ErrorIs(t, err, arena.ErrLimit, "past the default 256 MiB reservation")
	_, err = arena.CreateFile[fileRoot](filepath.Join(dir, "b"), &arena.Options{ReadOnly: true})
	assert.ErrorIs(t, err, arena.ErrUnsupported)
	_, err = arena.OpenFile[fileRoot](path, &arena.Options{InitialSize: 1})
	assert.ErrorIs(t, err, arena.ErrUnsupported)
	_, err = arena.NewBump(&arena.Options{ReadOnly: true})
	assert.ErrorIs(t, err, arena.ErrUnsupported)
	_, _, err = arena.CreateMemfd[fileRoot](&arena.Options{ReadOnly: true})
	assert.ErrorIs(t, err, arena.ErrUnsupported)
	_, err = arena.OpenFile[fileRoot](path, &arena.Options{HugePages: true})
	assert.ErrorIs(t, err, arena.ErrUnsupported)
	_, err = arena.OpenFile[fileRoot](filepath.Join(dir, "missing"), nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = arena.CreateFile[struct{ p *int }](filepath.Join(dir, "c"), nil)
	assert.ErrorIs(t, err, arena.ErrPointers)
	_, err = os.Stat(filepath.Join(dir, "c"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused type makes no file")
	var r arena.Ref[fileNode]
	assert.Nil(t, r.InFile(a))
	n, err := arena.New[fileNode](a)
	require.NoError(t, err)
	r, err = arena.FileRef(a, n)
	require.NoError(t, err)
	assert.Same(t, n, r.InFile(a))
	assert.Nil(t, arena.RefFromBits[fileNode](arena.RefBits(r)+4).InFile(a), "misaligned")
	assert.Nil(t, arena.RefFromBits[fileNode](arena.RefBits(r)-arena.RefBits(r)%(1<<arena.RefOffBits)+8).InFile(a), "in the header")
	assert.Nil(t, arena.RefFromBits[fileNode](1<<39).InFile(a), "past the mapping")
}

// openFails checks that opening path fails with an error matching each
// of want, and that the file's bytes are what they were before.
func openFails(t *testing.T, path string, opts *arena.Options, want ...error) {
	t.Helper()
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	a, err := arena.OpenFile[fileRoot](path, opts)
	if err == nil {
		a.Close()
		t.Fatalf("OpenFile succeeded")
	}
	for _, w := range want {
		assert.ErrorIs(t, err, w)
	}
	t.Log(err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "a failed open changed the file")
}

// TestFileOpenErrors: each bad file gets its own error, wrapping the
// cause, and is left byte for byte as it was.
func TestFileOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	a, err := arena.CreateFile[fileRoot](good, nil)
	require.NoError(t, err)
	require.NoError(t, buildCommit(a, 1))
	require.NoError(t, buildCommit(a, 2))
	require.NoError(t, a.Close())
	img, err := os.ReadFile(good)
	require.NoError(t, err)

	variant := func(name string, edit func(b []byte) []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, edit(bytes.Clone(img)), 0o644))
		return p
	}
	slots := func(b []byte, f func(slot []byte)) []byte {
		for _, off := range []int{0, arena.FileSlotGap} {
			f(b[off : off+arena.FileSlotSize])
		}
		return b
	}
	t.Run("not-an-arena", func(t *testing.T) {
		p := variant("text", func([]byte) []byte { return bytes.Repeat([]byte("not an arena\n"), 500) })
		openFails(t, p, nil, arena.ErrFileHeader)
	})
	t.Run("empty", func(t *testing.T) {
		openFails(t, variant("empty", func([]byte) []byte { return nil }), nil, arena.ErrFileHeader)
	})
	t.Run("version", func(t *testing.T) {
		p := variant("version", func(b []byte) []byte {
			return slots(b, func(s []byte) { binary.LittleEndian.PutUint32(s[8:], 99); arena.ResealFileSlot(s) })
		})
		openFails(t, p, nil, arena.ErrFileHeader)
	})
	t.Run("layout", func(t *testing.T) {
		before, _ := os.ReadFile(good)
		_, err := arena.OpenFile[fileNode](good, nil)
		assert.ErrorIs(t, err, arena.ErrFileHeader)
		assert.Contains(t, err.Error(), "layout")
		after, _ := os.ReadFile(good)
		assert.Equal(t, before, after)
	})
	t.Run("checksum", func(t *testing.T) {
		p := variant("checksum", func(b []byte) []byte { return slots(b, func(s []byte) { s[40] ^= 1 }) })
		openFails(t, p, nil, arena.ErrFileHeader)
	})
	t.Run("one-slot-torn", func(t *testing.T) {
		// A torn newest slot leaves the previous commit, which opens.
		b := bytes.Clone(img)
		seq0 := binary.LittleEndian.Uint64(b[32:])
		seq1 := binary.LittleEndian.Uint64(b[arena.FileSlotGap+32:])
		newest := 0
		if seq1 > seq0 {
			newest = arena.FileSlotGap
		}
		b[newest+48] ^= 0xff
		p := filepath.Join(dir, "torn")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		a, err := arena.OpenFile[fileRoot](p, &arena.Options{ReadOnly: true})
		require.NoError(t, err)
		defer a.Close()
		require.NoError(t, checkBuilt(a, 1), "the previous commit")
	})
	t.Run("short", func(t *testing.T) {
		p := variant("short", func(b []byte) []byte { return b[:arena.FileDataStart+8] })
		openFails(t, p, nil, arena.ErrSize)
		p = variant("shorter", func(b []byte) []byte { return b[:100] })
		openFails(t, p, nil, arena.ErrSize)
	})
	t.Run("odd-size", func(t *testing.T) {
		// A file cut to a size that is not a page multiple, but above its
		// used size, opens; a writer extends it to the page, so that
		// blocks handed out there reach the file.
		b := bytes.Clone(img)
		seq0, used0 := binary.LittleEndian.Uint64(b[32:]), binary.LittleEndian.Uint64(b[40:])
		used1 := binary.LittleEndian.Uint64(b[arena.FileSlotGap+40:])
		used := used0
		if binary.LittleEndian.Uint64(b[arena.FileSlotGap+32:]) > seq0 {
			used = used1
		}
		p := filepath.Join(dir, "odd")
		require.NoError(t, os.WriteFile(p, b[:used+100], 0o644))
		a, err := arena.OpenFile[fileRoot](p, nil)
		require.NoError(t, err)
		defer a.Close()
		require.NoError(t, checkBuilt(a, 2))
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Zero(t, st.Size()%int64(align.PageSize()))
		require.NoError(t, buildCommit(a, 3))
	})
	t.Run("locked", func(t *testing.T) {
		w, err := arena.OpenFile[fileRoot](good, nil)
		require.NoError(t, err)
		defer w.Close()
		openFails(t, good, nil, arena.ErrLocked, unix.EWOULDBLOCK)
		openFails(t, good, &arena.Options{ReadOnly: true}, arena.ErrLocked)
	})
	t.Run("not-mappable", func(t *testing.T) {
		// A regular file whose filesystem has no mmap: sysfs attributes.
		const p = "/sys/kernel/mm/transparent_hugepage/enabled"
		f, err := os.Open(p)
		if err != nil {
			t.Skip("no sysfs attribute to try: " + err.Error())
		}
		defer f.Close()
		_, err = guard.MapFileShared(f, true, nil)
		assert.ErrorIs(t, err, guard.ErrNotMappable)
		assert.ErrorIs(t, err, unix.ENODEV)
		t.Log(err)
	})
}

// TestFileFaults: a write to a read-only open is a fault named as such,
// and a read past the end of a file truncated under the mapping raises
// SIGBUS, named with the file.
func TestFileFaults(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "faults")
	a, err := arena.CreateFile[fileRoot](path, nil)
	require.NoError(t, err)
	for c := uint64(1); c <= 300; c++ { // ~6000 nodes, 100 KiB: several pages
		require.NoError(t, buildCommit(a, c))
	}
	require.NoError(t, a.Close())

	r, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	root, err := arena.FileRoot[fileRoot](r)
	require.NoError(t, err)
	want := root.count
	err = guard.Catch(func() { root.count++ })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartReadOnly, fe.Part)
	assert.Contains(t, err.Error(), "read-only file page")
	assert.Equal(t, want, root.count, "the write did not happen")

	// Cut the file to one page under the reader's mapping: the root,
	// written last, lies past the new end.
	require.NoError(t, os.Truncate(path, int64(align.PageSize())))
	var sink uint64
	err = guard.Catch(func() { sink = root.count })
	require.ErrorAs(t, err, &fe, "sink %d", sink)
	assert.Equal(t, guard.PartPastEOF, fe.Part)
	assert.Equal(t, path, fe.File)
	assert.Equal(t, int64(align.PageSize()), fe.FileSize)
	assert.Contains(t, err.Error(), fmt.Sprintf("past the end of file %q", path))
	t.Log(err)
}

// The crash test's child: it opens (or creates) the file, checks what
// it finds against its log, and commits forever, logging each commit
// that returned, with fsync, until it is killed.
const envFileChild = "ARENA_FILE_CHILD"

func runFileChild(dir string) {
	fail := func(err error) {
		os.Stderr.WriteString("file child: " + err.Error() + "\n")
		os.Exit(1)
	}
	if path, ok := strings.CutPrefix(dir, "read:"); ok {
		runFileReader(path, fail)
	}
	path := filepath.Join(dir, "crash.arena")
	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail(err)
	}
	a, err := arena.OpenFile[fileRoot](path, nil)
	if errors.Is(err, os.ErrNotExist) {
		a, err = arena.CreateFile[fileRoot](path, &arena.Options{InitialSize: align.PageSize()})
	}
	if err != nil {
		fail(err)
	}
	var c uint64
	if root, err := arena.FileRoot[fileRoot](a); err != nil {
		fail(err)
	} else if root != nil {
		c = root.commits
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), c))
	for {
		c++
		// Uncommitted garbage now and then, which a reopen must drop.
		for range rng.IntN(3) {
			p, err := a.Alloc(uintptr(1+rng.IntN(300)), 8)
			if err != nil {
				fail(err)
			}
			*(*byte)(p) = 0xee
		}
		if err := buildCommit(a, c); err != nil {
			fail(err)
		}
		if _, err := fmt.Fprintf(log, "%d\n", c); err != nil {
			fail(err)
		}
		if err := log.Sync(); err != nil {
			fail(err)
		}
	}
}

// lastLogged returns the last commit number in the child's log.
func lastLogged(t *testing.T, dir string) uint64 {
	f, err := os.Open(filepath.Join(dir, "log"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	defer f.Close()
	var last uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last, err = strconv.ParseUint(line, 10, 64)
			require.NoError(t, err, "log line %q", line)
		}
	}
	return last
}

// TestFileCrash: a child builds and commits in a loop and is killed with
// SIGKILL at a random moment, again and again, each run continuing the
// file the last one left. After each kill the file opens, passes
// validation and holds exactly the state of the last commit the child
// logged, or of the one after it: a commit under way when the kill came
// that had written its header slot, before its log line. 12 kills by
// default, 200 with -arena.long (.ci/run).
func TestFileCrash(t *testing.T) {
	kills := 12
	if *arena.Long {
		kills = 200
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	ahead := 0
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
		cmd.Env = append(os.Environ(), envFileChild+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "kill %d: %s", k, stderr.String())
		ws := ee.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "kill %d: the child ended on its own: %v\n%s", k, err, stderr.String())

		logged := lastLogged(t, dir)
		a, err := arena.OpenFile[fileRoot](filepath.Join(dir, "crash.arena"), &arena.Options{ReadOnly: true})
		if logged == 0 && errors.Is(err, os.ErrNotExist) {
			continue // killed before it made the file
		}
		require.NoError(t, err, "kill %d: reopen after %d logged commits", k, logged)
		root, err := arena.FileRoot[fileRoot](a)
		require.NoError(t, err)
		var got uint64
		if root != nil {
			got = root.commits
		}
		if got == logged+1 {
			ahead++
		} else {
			require.Equal(t, logged, got, "kill %d: the file holds commit %d, the log's last is %d", k, got, logged)
		}
		require.NoError(t, checkBuilt(a, got), "kill %d", k)
		require.NoError(t, a.Close())
		if got == logged+1 {
			// The next child continues from the file; its log must
			// agree, so record the commit the kill cut off.
			f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			require.NoError(t, err)
			fmt.Fprintf(f, "%d\n", got)
			require.NoError(t, f.Close())
		}
	}
	t.Logf("%d kills, %d commits in the file at the end, %d kills between a commit and its log line", kills, lastLogged(t, dir), ahead)
}

var fileSink uint64

// TestFileCloseQuarantines: a pointer kept past a File's Close faults
// and is named a use after close with the Close site, as for every arena
// kind; the file keeps its bytes, and its lock is released.
func TestFileCloseQuarantines(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "closed")
	a, err := arena.CreateFile[fileRoot](path, &arena.Options{Name: "closed file"})
	require.NoError(t, err)
	require.NoError(t, buildCommit(a, 1))
	root, err := arena.FileRoot[fileRoot](a)
	require.NoError(t, err)
	require.NoError(t, a.Close()) // the Close site, the line above the next
	_, _, closeLine, _ := runtime.Caller(0)
	closeLine--

	err = hardened.Catch(func() { fileSink = root.count })
	var rep *hardened.Report
	require.ErrorAs(t, err, &rep)
	assert.Equal(t, hardened.KindUseAfterClose, rep.Kind)
	assert.Equal(t, "closed file", rep.Arena)
	require.NotEmpty(t, rep.Freed)
	assert.Contains(t, rep.Freed[0], fmt.Sprintf("file_test.go:%d", closeLine))
	assert.ErrorIs(t, a.Close(), arena.ErrClosed)
	_, err = a.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.ErrorIs(t, a.Commit(), arena.ErrClosed)
	assert.ErrorIs(t, a.Sync(), arena.ErrClosed)
	_, err = arena.FileRoot[fileRoot](a)
	assert.ErrorIs(t, err, arena.ErrClosed)

	b, err := arena.OpenFile[fileRoot](path, nil)
	require.NoError(t, err, "Close released the lock, though the range waits in the quarantine")
	defer b.Close()
	require.NoError(t, checkBuilt(b, 1))
}

// TestFileLeak: a File dropped without Close is reported, kind "file",
// and keeps its mapping: the root still reads what was committed.
func TestFileLeak(t *testing.T) {
	got := make(chan arena.LeakReport, 16)
	old := arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	defer arena.SetLeakHandler(old)
	root := leakFile(t)
	r := waitLeak(t, got, "forgotten file")
	assert.Equal(t, "file", r.Kind)
	assert.Contains(t, r.Site, "file_test.go:")
	assert.NotZero(t, r.Bytes)
	leaked := false
	for _, sm := range arena.TakeSnapshot().Arenas {
		leaked = leaked || sm.Name == "forgotten file" && sm.Kind == "file" && sm.Leaked
	}
	assert.True(t, leaked, "the registry's entry stays, marked leaked")
	require.NoError(t, guard.FlushQuarantine())
	assert.Equal(t, uint64(1), root.commits)
}

// leakFile makes a File, commits a root and drops the arena.
func leakFile(t *testing.T) *fileRoot {
	a, err := arena.CreateFile[fileRoot](filepath.Join(t.TempDir(), "leak"), &arena.Options{Name: "forgotten file"})
	require.NoError(t, err)
	require.NoError(t, buildCommit(a, 1))
	root, err := arena.FileRoot[fileRoot](a)
	require.NoError(t, err)
	return root
}

// runFileReader is the child of TestFileReadersAcrossProcesses: it opens
// path read-only while the parent holds it open read-only too, checks
// the list, and checks that a writer is refused.
func runFileReader(path string, fail func(error)) {
	a, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	if err != nil {
		fail(err)
	}
	if err := checkBuilt(a, 5); err != nil {
		fail(err)
	}
	if _, err := arena.OpenFile[fileRoot](path, nil); !errors.Is(err, arena.ErrLocked) {
		fail(fmt.Errorf("a writer's open beside two readers: %v, want ErrLocked", err))
	}
	root, _ := arena.FileRoot[fileRoot](a)
	fmt.Printf("%#x\n", uintptr(unsafe.Pointer(root)))
	if err := a.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// TestFileReadersAcrossProcesses: two processes map one file arena
// read-only at once, each at its own address, and a writer is refused
// while they do.
func TestFileReadersAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared")
	a, err := arena.CreateFile[fileRoot](path, nil)
	require.NoError(t, err)
	for c := uint64(1); c <= 5; c++ {
		require.NoError(t, buildCommit(a, c))
	}
	require.NoError(t, a.Close())
	r, err := arena.OpenFile[fileRoot](path, &arena.Options{ReadOnly: true})
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFileChild+"=read:"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "the reader child: %s", stderr.String())
	root, _ := arena.FileRoot[fileRoot](r)
	t.Logf("root here at %#x, in the child at %s", uintptr(unsafe.Pointer(root)), strings.TrimSpace(string(out)))
	require.NoError(t, checkBuilt(r, 5))
}
