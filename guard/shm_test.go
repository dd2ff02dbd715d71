//go:build linux

package guard_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/inject"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("shared regions need memfd_create (Linux)")
	}
}

func mustShared(t *testing.T, size int, opts *guard.Options) *guard.Region {
	t.Helper()
	r, err := guard.MapShared(size, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

// fdOf returns a descriptor of r's memfd, closed when the test ends.
func fdOf(t testing.TB, r *guard.Region) int {
	t.Helper()
	f, err := r.SharedFile()
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

func TestMapShared(t *testing.T) {
	skipUnlessLinux(t)
	mapcheck.Baseline(t)
	_, held := guard.Budget()
	r := mustShared(t, 100, &guard.Options{Name: "shm", Reserve: 1 << 20})
	assert.Equal(t, ps, r.Committed(), "a 100-byte file still costs a page")
	assert.Equal(t, 1<<20, r.Size())
	fd := fdOf(t, r)
	assert.Equal(t, make([]byte, ps), r.Bytes(), "reads as zero")

	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	assert.Equal(t, int64(ps), st.Size)
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	require.NoError(t, err)
	assert.Equal(t, unix.FD_CLOEXEC, flags&unix.FD_CLOEXEC, "close-on-exec: children get it only through ExtraFiles")

	lines := linesOf(t, r)
	require.Len(t, lines, 3, "guard, file, reserved+guard")
	assert.Equal(t, "---p", lines[0].Perms)
	assert.Equal(t, "rw-s", lines[1].Perms)
	assert.True(t, strings.HasPrefix(lines[1].Path, "/memfd:mmarena:shm"), lines[1].Path)
	assert.Equal(t, "---p", lines[2].Perms)
	assert.Equal(t, 3, r.Mappings())
	_, now := guard.Budget()
	assert.Equal(t, held+3, now, "charged to the budget like any region")

	// Growth maps more of the file in place: same address, one file
	// mapping, file grown.
	addr := r.Addr()
	copy(r.Bytes(), "first page")
	require.NoError(t, r.Commit(3*ps))
	assert.Equal(t, addr, r.Addr())
	assert.Equal(t, "first page", string(r.Bytes()[:10]))
	store(at(r, 3*ps-1))
	require.NoError(t, unix.Fstat(fd, &st))
	assert.Equal(t, int64(3*ps), st.Size)
	assert.Len(t, linesOf(t, r), 3, "the file's mappings merged: %v", linesOf(t, r))
	assert.Equal(t, 3, r.Mappings())

	// Faults are named like any region's.
	err = guard.Catch(func() { load(at(r, 3*ps+5)) })
	assert.EqualError(t, err, `guard: fault 6 bytes past the committed end of region "shm" (reserved page)`)
	err = guard.Catch(func() { load(at(r, -1)) })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartLowGuard, fe.Part)

	// Growth past the reservation is refused and changes nothing.
	assert.ErrorIs(t, r.Commit(1<<20+1), guard.ErrRange)
	require.NoError(t, unix.Fstat(fd, &st))
	assert.Equal(t, int64(3*ps), st.Size)

	// Pages that cannot read back as zero for everyone are refused.
	assert.ErrorIs(t, r.Release(0, ps), errors.ErrUnsupported)
	assert.ErrorIs(t, r.Protect(0, ps), errors.ErrUnsupported)
	assert.Equal(t, "first page", string(r.Bytes()[:10]))
}

func TestSharedCloseClosesFd(t *testing.T) {
	skipUnlessLinux(t)
	mapcheck.Baseline(t)
	fds := openFds(t)
	r, err := guard.MapShared(ps, nil)
	require.NoError(t, err)
	assert.Equal(t, fds+1, openFds(t), "the region holds its memfd")
	f, err := r.SharedFile()
	require.NoError(t, err)
	require.NoError(t, f.Close(), "the caller's own duplicate")
	require.NoError(t, r.Close())
	assert.Equal(t, fds, openFds(t), "Close closed the memfd")
	_, err = r.SharedFile()
	assert.ErrorIs(t, err, guard.ErrClosed)
}

func TestAttachSharedBadInput(t *testing.T) {
	skipUnlessLinux(t)
	mapcheck.Baseline(t)
	r := mustShared(t, ps, &guard.Options{Name: "origin"})
	fd := fdOf(t, r)

	path := filepath.Join(t.TempDir(), "short")
	require.NoError(t, os.WriteFile(path, []byte("tiny"), 0o600))
	regular, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer regular.Close()

	unsealed, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC)
	require.NoError(t, err)
	defer unix.Close(unsealed)
	require.NoError(t, unix.Ftruncate(unsealed, int64(ps)))

	for _, tc := range []struct {
		name string
		fd   int
		min  int
		opts *guard.Options
		is   []error
		msg  string
	}{
		{"fd=-1", -1, 0, nil, []error{unix.EBADF}, "fstat"},
		{"fd=closed", 1 << 20, 0, nil, []error{unix.EBADF}, "fstat"},
		{"regular file", int(regular.Fd()), 0, nil, []error{guard.ErrNotShared, unix.EINVAL}, "is not a memfd"},
		{"unsealed memfd", unsealed, 0, nil, []error{guard.ErrNotShared}, "not sealed against shrinking"},
		{"too short", fd, 2 * ps, nil, []error{guard.ErrSize, unix.EINVAL}, "fewer than the"},
		{"twice", fd, ps, nil, []error{guard.ErrNotShared, unix.EBUSY}, `mapped in this process already, by region "origin"`},
		{"huge pages", fd, 0, &guard.Options{HugePages: true}, []error{unix.EINVAL}, "HugePages"},
		{"markers", fd, 0, &guard.Options{Fence: guard.FenceMarkers}, []error{unix.EINVAL}, "FenceMarkers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := guard.AttachShared(tc.fd, tc.min, tc.opts)
			require.Error(t, err)
			assert.Nil(t, a)
			for _, is := range tc.is {
				assert.ErrorIs(t, err, is)
			}
			assert.ErrorContains(t, err, tc.msg)
		})
	}
	for _, size := range []int{0, -1} {
		_, err := guard.MapShared(size, nil)
		assert.ErrorIs(t, err, guard.ErrSize)
	}
	plain := mustMap(t, ps, nil)
	_, err = plain.SharedFile()
	assert.ErrorIs(t, err, guard.ErrNotShared)
}

// TestSharedChild hands a shared region to a second process, which
// attaches at its own address, reads what the parent wrote, writes, grows
// the file and exits; the parent sees both, at its own address.
func TestSharedChild(t *testing.T) {
	skipUnlessLinux(t)
	if via := os.Getenv("GUARD_SHM_CHILD"); via != "" {
		sharedChild(via)
		return
	}
	for _, via := range []string{"extrafiles", "scm_rights"} {
		t.Run("via="+via, func(t *testing.T) {
			mapcheck.Baseline(t)
			r := mustShared(t, ps, &guard.Options{Name: "parent", Reserve: 16 * ps})
			copy(r.Bytes(), "from parent")

			cmd := exec.Command(os.Args[0], "-test.run=^TestSharedChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "GUARD_SHM_CHILD="+via)
			if via == "extrafiles" {
				f, err := r.SharedFile()
				require.NoError(t, err)
				defer f.Close()
				cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
			} else {
				// The child gets one end of a socket pair as fd 3 and
				// the memfd as a message on it.
				sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				require.NoError(t, err)
				defer unix.Close(sp[0])
				theirs := os.NewFile(uintptr(sp[1]), "socket")
				defer theirs.Close()
				cmd.ExtraFiles = []*os.File{theirs}
				require.NoError(t, unix.Sendmsg(sp[0], []byte("m"), unix.UnixRights(fdOf(t, r)), nil, 0))
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)

			assert.Equal(t, "from child!", string(r.Bytes()[:11]))
			require.NoError(t, r.Commit(4*ps), "the child grew the file; the parent maps what is there")
			assert.Equal(t, "grown by child", string(r.Bytes()[3*ps:3*ps+14]))
		})
	}
}

// sharedChild is the child half of TestSharedChild; it exits with a
// message on stderr and status 1 when something is wrong.
func sharedChild(via string) {
	fail := func(err error) {
		os.Stderr.WriteString("child: " + err.Error() + "\n")
		os.Exit(1)
	}
	fd := 3
	if via == "scm_rights" {
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := unix.Recvmsg(3, make([]byte, 1), oob, 0)
		if err != nil {
			fail(err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			fail(fmt.Errorf("control messages %v: %v", msgs, err))
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			fail(fmt.Errorf("rights %v: %v", fds, err))
		}
		fd = fds[0]
	}
	r, err := guard.AttachShared(fd, ps, &guard.Options{Name: "child", Reserve: 8 * ps})
	if err != nil {
		fail(err)
	}
	if got := string(r.Bytes()[:11]); got != "from parent" {
		fail(errors.New("read " + got))
	}
	copy(r.Bytes(), "from child!")
	if err := r.Commit(4 * ps); err != nil {
		fail(err)
	}
	copy(r.Bytes()[3*ps:], "grown by child")
	if err := r.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// TestSharedInjected makes the file's mmap fail, at MapShared and at
// Commit: nothing stays mapped, the budget is exact, the memfd is closed
// (no claim on it remains), and a failed Commit leaves the region and
// its bytes as they were.
func TestSharedInjected(t *testing.T) {
	skipUnlessLinux(t)
	mapcheck.Baseline(t)
	_, held := guard.Budget()
	t.Cleanup(inject.Disarm)
	fds := openFds(t)
	inject.ArmPlan([]bool{false, true}, inject.Mmap) // the reservation succeeds, the file's mmap fails
	r, err := guard.MapShared(ps, &guard.Options{Name: "inj"})
	inject.Disarm()
	require.Error(t, err)
	assert.Nil(t, r)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.ErrorContains(t, err, `map shared "inj"`)
	_, now := guard.Budget()
	assert.Equal(t, held, now)
	assert.Equal(t, fds, openFds(t), "the memfd was closed")

	r = mustShared(t, ps, &guard.Options{Name: "inj", Reserve: 4 * ps})
	copy(r.Bytes(), "kept")
	inject.ArmPlan([]bool{true}, inject.Mmap)
	err = r.Commit(2 * ps)
	inject.Disarm()
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Equal(t, ps, r.Committed())
	assert.Equal(t, "kept", string(r.Bytes()[:4]))
	assert.Equal(t, 3, r.Mappings())
	assert.Len(t, linesOf(t, r), 3)
	err = guard.Catch(func() { load(at(r, ps)) })
	assert.ErrorContains(t, err, "reserved page", "the page the failed Commit was to map is still fenced")
	require.NoError(t, r.Commit(2*ps), "and a retry succeeds")
	assert.Equal(t, "kept", string(r.Bytes()[:4]))
}

// openFds counts this process's open file descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(es)
}

// TestSharedRetire retires a shared region: its pages fault and are
// named while it waits in the quarantine, the file is untouched (the
// bytes were the other processes' too), and leaving the quarantine
// closes the memfd.
func TestSharedRetire(t *testing.T) {
	skipUnlessLinux(t)
	mapcheck.Baseline(t)
	r, err := guard.MapShared(ps, &guard.Options{Name: "retired"})
	require.NoError(t, err)
	copy(r.Bytes(), "still here")
	dup := fdOf(t, r)
	p := r.Pointer()
	require.NoError(t, r.Retire("use after close", nil))
	err = guard.Catch(func() { load(p) })
	assert.ErrorContains(t, err, `region "retired"`)
	assert.ErrorContains(t, err, "use after close")
	require.NoError(t, guard.FlushQuarantine())

	// The file kept its bytes, and another mapping of it (the same
	// process may attach again once the region is gone) sees them.
	a, err := guard.AttachShared(dup, ps, &guard.Options{Name: "again"})
	require.NoError(t, err)
	assert.Equal(t, "still here", string(a.Bytes()[:10]))
	require.NoError(t, a.Close())
}

// BenchmarkMapCloseShared is BenchmarkMapClose for a shared region:
// memfd_create, ftruncate and seals, the reservation, the file's mmap, a
// write to its first page, Close (which closes the memfd).
func BenchmarkMapCloseShared(b *testing.B) {
	for _, size := range []int{ps, 64 * ps} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			mapcheck.Baseline(b)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var maps int
			for b.Loop() {
				r, err := guard.MapShared(size, nil)
				if err != nil {
					b.Fatal(err)
				}
				r.Bytes()[0] = 1
				maps = r.Mappings()
				if err := r.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(maps), "mappings/region")
		})
	}
}
