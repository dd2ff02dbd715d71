package arena_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// TestArenaCap runs in a child process, since the cap and the budget are
// process-wide and other tests allocate in parallel: past the cap every
// kind of arena answers ErrLimit and ENOMEM and holds no more than the
// cap, and Close gives the bytes back to the count.
func TestArenaCap(t *testing.T) {
	if os.Getenv("MMARENA_CAP_CHILD") != "1" {
		runChild(t, "TestArenaCap", "MMARENA_CAP_CHILD=1")
		return
	}
	before := arena.CommittedBytes()
	const room = 16 << 20
	require.Equal(t, int64(0), arena.SetArenaCap(before+room))
	defer arena.SetArenaCap(0)

	b, err := arena.NewBump(&arena.Options{Name: "capped-bump", InitialSize: 1 << 20, MaxChunk: 1 << 20})
	require.NoError(t, err)
	var last error
	for range 64 {
		if _, last = b.Alloc(512<<10, 8); last != nil {
			break
		}
	}
	require.Error(t, last, "64 half-MiB allocations fit under a 16 MiB cap")
	assert.ErrorIs(t, last, arena.ErrLimit)
	assert.ErrorIs(t, last, unix.ENOMEM)
	assert.ErrorIs(t, last, guard.ErrCommitLimit)
	assert.LessOrEqual(t, arena.CommittedBytes(), before+room)
	require.NoError(t, b.Close())
	assert.Equal(t, before, arena.CommittedBytes(), "Close gives the chunks back to the count")

	f, err := arena.NewFreeList(&arena.Options{Name: "capped-freelist", Sample: &hardened.Options{Every: 2}})
	require.NoError(t, err)
	_, err = f.Alloc(room+1, 8)
	assert.ErrorIs(t, err, arena.ErrLimit, "one block larger than the room left")
	p, err := f.Alloc(64, 8)
	require.NoError(t, err, "a small block still fits")
	require.NoError(t, f.Free(p))
	require.NoError(t, f.Close())
	assert.Equal(t, before, arena.CommittedBytes())
}

// TestMemoryBudget runs in a child process: with a budget on, the Go
// runtime's memory limit is the budget less the arenas' bytes, falls as
// a chunk is mapped and rises when it is closed, and turning the budget
// off restores the limit the program had.
func TestMemoryBudget(t *testing.T) {
	if os.Getenv("MMARENA_BUDGET_CHILD") != "1" {
		runChild(t, "TestMemoryBudget", "MMARENA_BUDGET_CHILD=1")
		return
	}
	const total = 1 << 30
	orig := debug.SetMemoryLimit(-1)
	require.Equal(t, int64(0), arena.SetMemoryBudget(total))
	step := int64(total / 256)
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	roundUp := func(n int64) int64 { return (n + step - 1) / step * step }
	assert.Equal(t, total-roundUp(arena.CommittedBytes()), limit())

	before := limit()
	b, err := arena.NewBump(&arena.Options{Name: "budgeted", InitialSize: 64 << 20})
	require.NoError(t, err)
	_, err = b.Alloc(1<<20, 8)
	require.NoError(t, err)
	assert.LessOrEqual(t, limit(), before-64<<20, "a 64 MiB chunk takes 64 MiB from the heap's share")
	assert.Equal(t, total-roundUp(arena.CommittedBytes()), limit())
	require.NoError(t, b.Close())
	assert.Equal(t, before, limit(), "Close gives it back")

	assert.Equal(t, int64(total), arena.SetMemoryBudget(0))
	assert.Equal(t, orig, limit(), "off restores the program's own limit")
}

// runChild runs the test name alone in a child process of this binary
// with env added, and checks that it passed.
func runChild(t *testing.T, name, env string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: "+name)
}

// TestCgroupMemoryMax reads made-up cgroup trees: the smallest
// memory.max on the way up wins, "max" sets nothing, and a process
// without a cgroup v2 entry gets ErrUnsupported.
func TestCgroupMemoryMax(t *testing.T) {
	for _, tc := range []struct {
		name  string
		self  string
		files map[string]string
		want  int64
		err   error
	}{
		{"own-limit", "0::/svc\n", map[string]string{"cgroup.controllers": "memory", "svc/memory.max": "268435456\n"}, 256 << 20, nil},
		{"parent-tighter", "0::/a/b\n", map[string]string{"cgroup.controllers": "memory", "a/memory.max": "1048576", "a/b/memory.max": "max"}, 1 << 20, nil},
		{"none", "0::/a\n", map[string]string{"cgroup.controllers": "memory", "a/memory.max": "max"}, math.MaxInt64, nil},
		{"v1-only", "12:memory:/a\n", nil, 0, arena.ErrUnsupported},
		{"not-mounted", "0::/a\n", nil, 0, arena.ErrUnsupported},
		{"garbage", "0::/a\n", map[string]string{"cgroup.controllers": "memory", "a/memory.max": "lots"}, 0, strconvErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			self := filepath.Join(dir, "self")
			require.NoError(t, os.WriteFile(self, []byte(tc.self), 0o600))
			root := filepath.Join(dir, "root")
			require.NoError(t, os.MkdirAll(root, 0o700))
			for name, body := range tc.files {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(body), 0o600))
			}
			got, err := arena.CgroupMax(self, root)
			switch {
			case tc.err == strconvErr:
				require.Error(t, err)
				assert.Contains(t, err.Error(), `"lots"`)
			case tc.err != nil:
				assert.ErrorIs(t, err, tc.err)
			default:
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			}
		})
	}
}

var strconvErr = errors.New("a parse error")

// TestCgroupMemoryMaxHere asks the real hierarchy: an answer is a
// positive limit, or an error that says why not.
func TestCgroupMemoryMaxHere(t *testing.T) {
	n, err := arena.CgroupMemoryMax()
	if err != nil {
		t.Logf("no cgroup limit here: %v", err)
		return
	}
	assert.Positive(t, n)
}

// TestFreeListGivesBack runs in a child process: a FreeList's emptied
// spans and its decayed large blocks leave arena.CommittedBytes when
// their pages go back to the OS, and are counted again, under the cap,
// before they are reused.
func TestFreeListGivesBack(t *testing.T) {
	if os.Getenv("MMARENA_GIVEBACK_CHILD") != "1" {
		runChild(t, "TestFreeListGivesBack", "MMARENA_GIVEBACK_CHILD=1")
		return
	}
	f, err := arena.NewFreeList(&arena.Options{Name: "giveback", LargeDecay: time.Nanosecond})
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	base := arena.CommittedBytes()

	const n = 64 << 10 // 4 MiB of 64-byte blocks
	ps := make([]*[64]byte, n)
	for i := range ps {
		ps[i], err = arena.New[[64]byte](f)
		require.NoError(t, err)
	}
	full := arena.CommittedBytes()
	require.GreaterOrEqual(t, full-base, int64(n*64))
	for _, p := range ps {
		require.NoError(t, arena.FreeT(f, p))
	}
	f.Stats() // gives the emptied spans' pages back now
	emptied := arena.CommittedBytes()
	assert.Less(t, emptied, full-int64(n*64)/2, "released spans stop counting")

	// Reused under a cap that leaves no room: the spans kept whole serve
	// first, then a released one is refused, counting nothing.
	arena.SetArenaCap(emptied)
	ps = ps[:0]
	for range n {
		p, err := arena.New[[64]byte](f)
		if err != nil {
			assert.ErrorIs(t, err, arena.ErrLimit)
			break
		}
		ps = append(ps, p)
	}
	assert.Less(t, len(ps), n, "refused before the released spans were reused")
	assert.Equal(t, emptied, arena.CommittedBytes())
	arena.SetArenaCap(0)
	for range n - len(ps) {
		p, err := arena.New[[64]byte](f)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	assert.GreaterOrEqual(t, arena.CommittedBytes(), full, "reused spans count again")
	for _, p := range ps {
		require.NoError(t, arena.FreeT(f, p))
	}

	// A large block, freed into the cache, decays at the next large
	// allocation and stops counting; taken again, it counts.
	big, err := f.Alloc(1<<20, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(big))
	withBig := arena.CommittedBytes()
	time.Sleep(time.Millisecond)
	other, err := f.Alloc(2<<20, 8) // decays the cached block, maps another
	require.NoError(t, err)
	assert.Equal(t, withBig-1<<20+2<<20, arena.CommittedBytes(), "the decayed block stopped counting")
	now := arena.CommittedBytes()
	arena.SetArenaCap(now)
	_, err = f.Alloc(1<<20, 8)
	assert.ErrorIs(t, err, arena.ErrLimit, "the decayed block needs room under the cap")
	assert.Equal(t, now, arena.CommittedBytes())
	arena.SetArenaCap(0)
	again, err := f.Alloc(1<<20, 8) // the cached block, counted again
	require.NoError(t, err)
	assert.Equal(t, withBig+2<<20, arena.CommittedBytes())
	require.NoError(t, f.Free(again))
	require.NoError(t, f.Free(other))
}
