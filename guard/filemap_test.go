//go:build linux

package guard_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestMapFileShared: a regular file mapped shared in a larger
// reservation; Commit grows the file and maps it in place, without
// moving the first pages; Sync reaches the file; /proc/self/maps shows
// one rw-s mapping of the file.
func TestMapFileShared(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", ps)), 0o600))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	r, err := guard.MapFileShared(f, false, &guard.Options{Name: "file", Reserve: 16 * ps})
	require.NoError(t, err)
	require.NoError(t, f.Close(), "the region keeps its own descriptor")
	defer r.Close()
	base := r.Addr()
	assert.Equal(t, ps, r.Committed())
	assert.Equal(t, 16*ps, r.Size())
	require.NoError(t, r.Commit(4*ps))
	assert.Equal(t, base, r.Addr(), "growth never moves the mapping")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(4*ps), st.Size(), "Commit grew the file")
	b := r.Bytes()
	require.Len(t, b, 4*ps)
	assert.Equal(t, byte('x'), b[0])
	assert.Equal(t, byte(0), b[ps], "the grown pages read zero")
	copy(b[3*ps:], "tail")
	require.NoError(t, r.Sync(0, 4*ps))
	require.NoError(t, r.Sync(3*ps+5, 1), "a range inside a page syncs the page")
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "tail", string(disk[3*ps:3*ps+4]))
	lines := linesOf(t, r)
	var file []string
	for _, m := range lines {
		if m.Path == path {
			file = append(file, m.Perms)
		}
	}
	assert.Equal(t, []string{"rw-s"}, file, "one shared mapping of the file, grown in place: %v", lines)
	assert.ErrorIs(t, r.Sync(-1, 1), guard.ErrRange)
	loc := guard.Lookup(r.Addr() + 10)
	assert.Equal(t, guard.PartUsable, loc.Part)
	assert.Equal(t, path, loc.File)
}

// TestMapFileSharedReadOnly: PROT_READ pages, a write named a read-only
// file page, growth refused; a page past the file's end (truncated
// under the mapping) faults with SIGBUS, named past the end of the file.
func TestMapFileSharedReadOnly(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "ro")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("r", 3*ps)), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := guard.MapFileShared(f, true, &guard.Options{Name: "ro"})
	require.NoError(t, err)
	defer r.Close()
	b := r.Bytes()
	assert.Equal(t, byte('r'), b[2*ps])
	err = guard.Catch(func() { b[5] = 'w' })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartReadOnly, fe.Part)
	assert.Equal(t, `guard: fault at offset 5 of region "ro" (read-only file page of "`+path+`")`, err.Error())
	assert.ErrorIs(t, r.Commit(4*ps), errors.ErrUnsupported)
	assert.NoError(t, r.Sync(0, ps), "nothing dirty to write")

	require.NoError(t, os.Truncate(path, int64(ps)))
	var sink byte
	err = guard.Catch(func() { sink = b[2*ps+1] })
	require.ErrorAs(t, err, &fe, "read %q", sink)
	assert.Equal(t, guard.PartPastEOF, fe.Part)
	assert.Equal(t, int64(ps), fe.FileSize)
	assert.Equal(t, `guard: fault at offset `+strconv.Itoa(2*ps+1)+` of region "ro", past the end of file "`+path+`" (`+strconv.Itoa(ps)+` bytes)`, err.Error())
}

// TestMapFileSharedBadInput: what cannot be mapped is refused, and
// nothing stays mapped.
func TestMapFileSharedBadInput(t *testing.T) {
	mapcheck.Baseline(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	f, err := os.Open(empty)
	require.NoError(t, err)
	defer f.Close()
	_, err = guard.MapFileShared(f, true, nil)
	assert.ErrorIs(t, err, guard.ErrSize)
	d, err := os.Open(dir)
	require.NoError(t, err)
	defer d.Close()
	_, err = guard.MapFileShared(d, true, nil)
	assert.ErrorIs(t, err, guard.ErrNotMappable, "a directory")
	ro := filepath.Join(dir, "ro")
	require.NoError(t, os.WriteFile(ro, []byte("abc"), 0o600))
	g, err := os.Open(ro)
	require.NoError(t, err)
	defer g.Close()
	_, err = guard.MapFileShared(g, false, nil)
	assert.ErrorIs(t, err, guard.ErrNotMappable, "a writable mapping of a file opened read-only: EACCES")
	_, err = guard.MapFileShared(g, true, &guard.Options{HugePages: true})
	assert.Error(t, err)
	_, err = guard.MapFileShared(nil, true, nil)
	assert.ErrorIs(t, err, unix.EBADF)
	p, err := guard.Map(ps, nil)
	require.NoError(t, err)
	defer p.Close()
	assert.ErrorIs(t, p.Sync(0, ps), guard.ErrNotShared, "a private region has no file")
}

// TestMapFileSharedLarge: a file larger than RAM and swap together maps
// (its pages are backed by the file, not by memory), here a sparse
// 256 GiB one, read at both ends.
func TestMapFileSharedLarge(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "sparse")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	const size = 256 << 30
	if err := f.Truncate(size); err != nil {
		t.Skip("this filesystem has no 256 GiB sparse files: " + err.Error())
	}
	_, err = f.WriteAt([]byte("end"), size-3)
	require.NoError(t, err)
	r, err := guard.MapFileShared(f, true, &guard.Options{Name: "sparse"})
	require.NoError(t, err)
	defer r.Close()
	assert.Equal(t, size, r.Committed())
	b := r.Bytes()
	assert.Equal(t, byte(0), b[0])
	assert.Equal(t, "end", string(b[size-3:]))
}

// TestMapFileSharedNotCommitted: a file's pages, mapped or grown, are
// not counted in Committed, so a file larger than the process-wide cap
// maps and grows under it.
func TestMapFileSharedNotCommitted(t *testing.T) {
	mapcheck.Baseline(t)
	path := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Truncate(path, 64<<20))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	before := guard.Committed()
	old := guard.SetCommitLimit(before + int64(ps)) // the one page Map makes Ready, and no more
	defer guard.SetCommitLimit(old)
	r, err := guard.MapFileShared(f, false, &guard.Options{Name: "big", Reserve: 128 << 20})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Commit(100<<20))
	assert.LessOrEqual(t, guard.Committed()-before, int64(ps), "at most the page Map made Ready")
}
