//go:build arenadebug

package arena

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These run only in the debug tier: go test -tags arenadebug.

func TestDebugDetectsConcurrentUse(t *testing.T) {
	b, err := NewBump(&Options{Name: "shared-by-mistake"})
	require.NoError(t, err)
	defer b.Close()
	b.st.enter() // another goroutine is inside a method...
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		b.Reset() // ...when this one calls in
	}()
	v := <-done
	b.st.exit()
	assert.Equal(t, `arena: bump arena "shared-by-mistake" used by two goroutines at once; use a Shared`, v)
	assert.NotPanics(t, b.Reset, "one goroutine at a time is fine")
}

func TestDebugValidate(t *testing.T) {
	b, err := NewBump(&Options{InitialSize: 16 << 10})
	require.NoError(t, err)
	defer b.Close()
	for range 100 {
		_, err := b.Alloc(1000, 8)
		require.NoError(t, err)
	}
	assert.NotPanics(t, b.validate)
	b.st.mapped++
	assert.PanicsWithValue(t, `arena: invariant broken in "bump": mapped 114689, chunks add up to 114688`, b.validate)
	b.st.mapped--
	b.zeroTo = b.st.chunks[b.st.cur].size + 1
	assert.Panics(t, b.validate)
	b.zeroTo--
	assert.NotPanics(t, b.validate)
}

func TestDebugPoisonsResetMemory(t *testing.T) {
	b, err := NewBump(nil)
	require.NoError(t, err)
	defer b.Close()
	p, err := b.Alloc(64, 8)
	require.NoError(t, err)
	stale := bytesOf(p, 64)
	stale[0] = 1
	b.Reset()
	assert.Equal(t, byte(poisonByte), stale[0], "a stale pointer reads poison")
	q, err := b.Alloc(64, 8)
	require.NoError(t, err)
	assert.Equal(t, p, q)
	assert.Equal(t, make([]byte, 64), bytesOf(q, 64), "memory handed out again is zeroed")
}
