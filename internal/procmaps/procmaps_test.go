package procmaps

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	ms, err := Parse([]byte("7f00-8f00 rw-p 00000000 00:00 0 \n" +
		"9000-a000 r-xp 00001000 08:01 1234 /usr/bin/x y\n" +
		"b000-c000 ---p 00000000 00:00 0 [anon:mmarena:nodes]\n"))
	require.NoError(t, err)
	require.Len(t, ms, 3)
	assert.Equal(t, uintptr(0x7f00), ms[0].Start)
	assert.Equal(t, uintptr(0x1000), ms[0].Size())
	assert.Equal(t, "", ms[0].Path)
	assert.Equal(t, "/usr/bin/x y", ms[1].Path)
	assert.Equal(t, "---p", ms[2].Perms)
	assert.Len(t, Overlapping(ms, 0x8000, 0x9001), 2)
	_, err = Parse([]byte("garbage\n"))
	assert.Error(t, err)
	_, err = Parse([]byte("zz-10 rw-p 0 0 0\n"))
	assert.Error(t, err)
}

func TestReadSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	ms, err := Read(0)
	require.NoError(t, err)
	assert.NotEmpty(t, ms)
	_, err = Read(1 << 30)
	assert.Error(t, err, "no such process")
}

func TestReadDetails(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	ms, err := Read(0)
	require.NoError(t, err)
	ds, err := ReadDetails(0)
	require.NoError(t, err)
	var rss uint64
	for _, m := range ms {
		d, ok := ds[m.Start]
		if !ok {
			continue // the process mapped something between the two reads
		}
		rss += d.Rss
		assert.NotEmpty(t, d.Flags, m.Line)
	}
	assert.Greater(t, rss, uint64(0))
}

func TestResident(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf)/2; i += 4096 {
		buf[i] = 1
	}
	start := uintptr(unsafe.Pointer(&buf[0]))
	n, err := Resident(0, start, start+uintptr(len(buf)))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, uint64(len(buf)/2-4096), "the touched half is resident")
	assert.LessOrEqual(t, n, uint64(len(buf)))
	runtime.KeepAlive(buf)
}
