//go:build arenadebug

package arena

import (
	"testing"
	"unsafe"

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

// TestDebugFreeListCounters breaks each kind of FreeList counter by hand
// and checks that the debug tier names it: a counter decremented once too
// often wraps to a huge number, which no mapping can hold.
func TestDebugFreeListCounters(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "counted", LargeCache: -1}) // big is given back at Free
	require.NoError(t, err)
	defer f.Close()
	p, err := f.Alloc(48, 8)
	require.NoError(t, err)
	big, err := f.Alloc(100<<10, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(big))
	st := f.st
	assert.NotPanics(t, st.validate)
	c := classOf(48)

	st.inUse -= 2 * 48 // one block freed twice
	assert.PanicsWithValue(t, `arena: invariant broken in "counted": inUse 18446744073709551568 > mapped 4194304`, st.checkCounters)
	st.inUse += 2 * 48
	st.classes[c].inUse -= 2 // the bytes the classes add up to wrap too
	assert.PanicsWithValue(t, `arena: invariant broken in "counted": inUse 18446744073709551568 > mapped 4194304`, st.checkCounters)
	st.classes[c].inUse += 2
	st.classes[c].withdrawn += 1365
	assert.PanicsWithValue(t, `arena: invariant broken in "counted": class 5 (48-byte blocks): inUse 1 + withdrawn 1365 > 1365 blocks in 1 spans`, st.checkCounters)
	st.classes[c].withdrawn -= 1364
	assert.NotPanics(t, st.checkCounters, "in range, so only the walk sees it")
	assert.PanicsWithValue(t, `arena: invariant broken in "counted": class 5: free 1363, spans hold 1364`, st.validate)
	st.classes[c].withdrawn--
	st.mapped += 4096
	assert.PanicsWithValue(t, `arena: invariant broken in "counted": mapped 4198400, chunks and large blocks add up to 4194304`, st.validate)
	st.mapped -= 4096
	assert.NotPanics(t, st.validate)
	require.NoError(t, f.Free(p))
	assert.NotPanics(t, st.validate)
}

// TestDebugFreeListChecksEveryCall runs a mixed workload with a hardened
// FreeList, whose every Alloc and Free is checked, with a withdrawn block
// among them.
func TestDebugFreeListChecksEveryCall(t *testing.T) {
	f, err := NewFreeList(&Options{Name: "checked", CheckFreed: true})
	require.NoError(t, err)
	defer f.Close()
	var live []unsafe.Pointer
	for i := range 5000 {
		size := uintptr(8 + i*37%5000)
		if i%97 == 0 {
			size = 40 << 10
		}
		p, err := f.Alloc(size, 8)
		require.NoError(t, err)
		live = append(live, p)
		if i%3 == 0 {
			require.NoError(t, f.Free(live[i/3]))
		}
	}
	// A write after free withdraws a block; freeing it again is refused.
	p, err := f.Alloc(64, 8)
	require.NoError(t, err)
	require.NoError(t, f.Free(p))
	*(*byte)(p) = 1
	for {
		q, err := f.Alloc(64, 8)
		if err != nil {
			require.ErrorIs(t, err, ErrWriteAfterFree)
			break
		}
		require.NoError(t, f.Free(q))
	}
	require.ErrorIs(t, f.Free(p), ErrDoubleFree)
	assert.NotPanics(t, f.st.validate)
}
