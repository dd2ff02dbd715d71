//go:build linux

package shmlock

import (
	"os/exec"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTakeOverDeadPID plants the ID of a process that has exited and
// been reaped in the lock word, with the waiters bit: Lock takes the lock
// over and says so, and a live holder's is never taken.
func TestTakeOverDeadPID(t *testing.T) {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := uint32(cmd.Process.Pid)
	assert.False(t, alive(int(dead)))
	assert.True(t, alive(int(self)))

	var m Mutex
	m.word.Store(dead | waiters)
	assert.False(t, m.Held(), "a dead process's lock is not this one's")
	require.ErrorIs(t, m.Lock(), ErrOwnerDead)
	assert.True(t, m.Held())
	assert.Equal(t, self|waiters, m.word.Load())
	m.MarkConsistent()
	m.Unlock()
	require.NoError(t, m.Lock())
	m.Unlock()
	assert.Equal(t, uint32(0), m.word.Load())
}

// TestLayout pins the 8 bytes a Mutex takes in shared memory: every
// process mapping it must agree, whatever it was built with.
func TestLayout(t *testing.T) {
	var m Mutex
	assert.Equal(t, uintptr(8), unsafe.Sizeof(m))
	assert.Equal(t, uintptr(0), unsafe.Offsetof(m.word))
	assert.Equal(t, uintptr(4), unsafe.Offsetof(m.dirty))
}
