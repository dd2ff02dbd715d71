package arena_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/arenatest"
)

// rss returns the process's resident bytes, from /proc/self/statm.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	require.NoError(t, err)
	f := strings.Fields(string(b))
	require.GreaterOrEqual(t, len(f), 2)
	pages, err := strconv.ParseInt(f[1], 10, 64)
	require.NoError(t, err)
	return pages * int64(ps)
}

// TestArenaCapUnderCgroup runs in a child process: a cgroup whose
// memory.max leaves 96 MiB above what the process holds (a made-up tree,
// since no cgroup here can be written), a cap that gives arenas half of
// that, and arenas whose every page is written until they are refused.
// The refusal is ErrLimit, and the process stays below memory.max, where
// the kernel's OOM killer would act.
func TestArenaCapUnderCgroup(t *testing.T) {
	if os.Getenv("MMARENA_CGROUP_CHILD") != "1" {
		runChild(t, "TestArenaCapUnderCgroup", "MMARENA_CGROUP_CHILD=1")
		return
	}
	rss0 := rss(t)
	dir := t.TempDir()
	self := filepath.Join(dir, "cgroup")
	require.NoError(t, os.WriteFile(self, []byte("0::/svc\n"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "fs", "svc"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fs", "cgroup.controllers"), []byte("memory\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fs", "svc", "memory.max"), []byte(strconv.FormatInt(rss0+96<<20, 10)), 0o600))
	max, err := arena.CgroupMax(self, filepath.Join(dir, "fs"))
	require.NoError(t, err)
	require.Equal(t, rss0+96<<20, max)

	before := arena.CommittedBytes()
	share := (max - rss0) / 2
	arena.SetArenaCap(before + share)
	defer arena.SetArenaCap(0)

	b := arenatest.NewBump(t, &arena.Options{Name: "cgroup-bump", InitialSize: 1 << 20, MaxChunk: 1 << 20})
	f := arenatest.NewFreeList(t, &arena.Options{Name: "cgroup-freelist"})
	var refused [2]error
	for i := 0; i < 4096 && (refused[0] == nil || refused[1] == nil); i++ {
		for k, a := range []interface {
			Alloc(size, align uintptr) (unsafe.Pointer, error)
		}{b, f} {
			if refused[k] != nil {
				continue
			}
			p, err := a.Alloc(256<<10, 8)
			if err != nil {
				refused[k] = err
				continue
			}
			fill(p, 256<<10, 0xAB)
		}
	}
	for k, err := range refused {
		require.Error(t, err, "arena %d was never refused", k)
		assert.ErrorIs(t, err, arena.ErrLimit)
	}
	assert.LessOrEqual(t, arena.CommittedBytes(), before+share)
	rss1 := rss(t)
	assert.Less(t, rss1, max, "the process stays below memory.max")
	assert.LessOrEqual(t, rss1-rss0, share+8<<20, "arenas wrote no more than their share, give or take the heap")
}
