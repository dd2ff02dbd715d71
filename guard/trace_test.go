package guard_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/maptrace"
)

func TestTrace(t *testing.T) {
	mapcheck.Baseline(t)
	guard.SetTrace(64)
	defer guard.SetTrace(0)
	r, err := guard.Map(4*ps, &guard.Options{Name: "traced", Fence: guard.FenceMprotect})
	require.NoError(t, err)
	require.NoError(t, r.Protect(ps, ps))
	require.NoError(t, r.Release(2*ps, ps))
	require.NoError(t, r.Punch(3*ps, ps))
	require.NoError(t, r.Close())
	calls, n := guard.Trace()
	require.Equal(t, uint64(len(calls)), n)
	var lines []string
	for _, c := range calls {
		assert.False(t, c.When.IsZero())
		assert.Empty(t, c.Err)
		lines = append(lines, c.Op+" "+c.Why)
	}
	assert.Equal(t, []string{
		`mmap map in region "traced"`,
		`mprotect(PROT_READ|PROT_WRITE) commit in region "traced"`,
		`madvise(MADV_DONTNEED) protect in region "traced"`, // discard first, so a failed fence changes no state
		`mprotect(PROT_NONE) protect in region "traced"`,
		`madvise(MADV_DONTNEED) release in region "traced"`,
		`munmap punch in region "traced"`,
		`munmap close in region "traced"`, // below the hole
		`munmap close in region "traced"`, // above it: a hole is never unmapped twice
	}, lines)
	assert.Equal(t, uintptr(4*ps+2*ps), calls[0].Len)
	assert.Equal(t, r.Addr()+uintptr(3*ps), calls[5].Addr)
	assert.True(t, strings.HasPrefix(calls[0].String(), "mmap(0x"), calls[0].String())

	// The ring keeps the last calls only, and counts them all.
	guard.SetTrace(2)
	for range 3 {
		r, err := guard.Map(ps, &guard.Options{NoGuards: true, Fence: guard.FenceMprotect})
		require.NoError(t, err)
		require.NoError(t, r.Close())
	}
	calls, n = guard.Trace()
	assert.Len(t, calls, 2)
	assert.Equal(t, uint64(6), n)
	assert.Equal(t, "munmap", calls[1].Op)

	guard.SetTrace(0)
	calls, n = guard.Trace()
	assert.Empty(t, calls)
	assert.Zero(t, n)
}

// TestTraceAndLedgerAgree checks that the trace and the tests' ledger
// (internal/maptrace) are fed by one record per system call: every
// successful mmap and munmap in the trace is in the ledger, in the same
// order and over the same range, and nothing else is.
func TestTraceAndLedgerAgree(t *testing.T) {
	mapcheck.Baseline(t)
	guard.SetTrace(64)
	defer guard.SetTrace(0)
	mark := maptrace.Mark()
	r, err := guard.Map(4*ps, &guard.Options{Name: "ledger", Fence: guard.FenceMprotect})
	require.NoError(t, err)
	require.NoError(t, r.Protect(ps, ps))
	require.NoError(t, r.Punch(3*ps, ps))
	require.NoError(t, r.Close())
	calls, _ := guard.Trace()
	events, complete := maptrace.Since(mark)
	require.True(t, complete)
	var fromTrace []maptrace.Event
	for _, c := range calls {
		if c.Op == "mmap" || c.Op == "munmap" {
			fromTrace = append(fromTrace, maptrace.Event{Map: c.Op == "mmap", Start: c.Addr, End: c.Addr + c.Len})
		}
	}
	assert.Len(t, fromTrace, 4) // map, punch, close below and above the hole
	assert.Equal(t, fromTrace, events)
}

// TestOneRecordPerSyscall keeps the plumbing single: only trace.go writes
// to the ledger, and the shims reach the trace through record alone.
func TestOneRecordPerSyscall(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "trace.go" {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		src := string(b)
		assert.NotContains(t, src, "maptrace.", "%s writes to the ledger itself; call record", f)
		assert.NotContains(t, src, "tracer.", "%s writes to the trace itself; call record", f)
	}
}
