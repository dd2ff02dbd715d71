package arena_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestIssue11AboveRLimitAS runs in a child whose RLIMIT_AS leaves 4 GiB
// above what the process holds: a request the size of the whole limit,
// which the address space and RAM could hold but the limit cannot, is
// ENOMEM for every kind.
func TestIssue11AboveRLimitAS(t *testing.T) {
	if os.Getenv("MMARENA_RLIMIT_AS_CHILD") == "1" {
		var old unix.Rlimit
		require.NoError(t, unix.Getrlimit(unix.RLIMIT_AS, &old))
		// The Go runtime has reserved address space of its own: the
		// limit is set above what the process already holds.
		n := vmSize(t) + 4<<30
		if old.Max < n {
			t.Skipf("RLIMIT_AS is already %d bytes", old.Max)
		}
		lim := unix.Rlimit{Cur: n, Max: n}
		require.NoError(t, unix.Setrlimit(unix.RLIMIT_AS, &lim))
		for _, k := range oomKinds() {
			alloc, stats, closeFn := k.open(t)
			before := stats()
			err := alloc(uintptr(lim.Cur))
			require.Error(t, err, k.name)
			assert.ErrorIs(t, err, unix.ENOMEM, "%s: %v", k.name, err)
			assert.Equal(t, before, stats(), "%s: a refused call changes nothing", k.name)
			assert.NoError(t, closeFn())
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIssue11AboveRLimitAS$", "-test.v")
	cmd.Env = append(os.Environ(), "MMARENA_RLIMIT_AS_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestIssue11AboveRLimitAS")
}

// vmSize returns the address space the process holds now, from
// /proc/self/statm.
func vmSize(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	var pages uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		pages = pages*10 + uint64(c-'0')
	}
	return pages * uint64(ps)
}
