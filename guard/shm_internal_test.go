//go:build linux

package guard

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSharedMarkers answers whether guard markers work on a memfd's
// shared pages on this kernel: they do from Linux 6.13 on (file-backed
// mappings too), a marked page faults in this process, and removing the
// marker shows the file's bytes again, unchanged.
func TestSharedMarkers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("shared regions need memfd_create (Linux)")
	}
	r, err := MapShared(2*pageSize(), &Options{Name: "markers"})
	require.NoError(t, err)
	defer r.Close()
	b := r.Bytes()
	copy(b[pageSize():], "kept")
	p := add(r.base, r.guard+uintptr(pageSize()))
	err = sysFenceInstall(p, uintptr(pageSize()), reason{"test", r.name})
	if err == errNoMarkers {
		t.Skipf("no guard markers on shared pages here: %v", err)
	}
	require.NoError(t, err, "MADV_GUARD_INSTALL on a MAP_SHARED memfd page")
	err = Catch(func() { _ = *(*byte)(p) })
	assert.Error(t, err, "a marked shared page faults")
	require.NoError(t, sysFenceRemove(p, uintptr(pageSize()), reason{"test", r.name}))
	assert.Equal(t, "kept", string(b[pageSize():pageSize()+4]), "the file kept its bytes under the marker")
}
