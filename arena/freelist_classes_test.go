package arena

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClasses checks the size-class table against its promises: sorted,
// a class for every size, waste at most 12.5% above 128 bytes, and every
// power of two present.
func TestClasses(t *testing.T) {
	require.Equal(t, uintptr(8), classSize[0])
	require.Equal(t, uintptr(smallMax), classSize[numClasses-1])
	for c := 1; c < numClasses; c++ {
		require.Greater(t, classSize[c], classSize[c-1])
		require.Zero(t, classSize[c]%8, "class %d", c)
	}
	for size := uintptr(1); size <= smallMax; size++ {
		c := classOf(size)
		require.True(t, c >= 0 && c < numClasses, "size %d", size)
		require.GreaterOrEqual(t, classSize[c], size, "size %d", size)
		if c > 0 {
			require.Less(t, classSize[c-1], size, "size %d: class %d is not the smallest", size, c)
		}
		if size > 128 {
			waste := float64(classSize[c]-size) / float64(size)
			require.LessOrEqual(t, waste, 0.125, "size %d in class %d", size, classSize[c])
		}
	}
	for p := uintptr(8); p <= smallMax; p *= 2 {
		assert.Equal(t, p, classSize[classOf(p)], "power of two %d is a class", p)
	}
	assert.Equal(t, uintptr(4096), classSize[classFor(100, 4096)])
	assert.Equal(t, uintptr(192), classSize[classFor(129, 64)])
	assert.Equal(t, uintptr(144), classSize[classFor(129, 16)])
	assert.Equal(t, -1, classFor(smallMax+1, 8))
	assert.Equal(t, -1, classFor(0, 8))
}

// TestClassFor checks classFor's shortcut against the definition: the
// first class at or above size's that is a multiple of align, for every
// size and power-of-two alignment up to the page size.
func TestClassFor(t *testing.T) {
	for al := uintptr(1); al <= 4096; al *= 2 {
		for size := uintptr(1); size <= smallMax+1; size++ {
			want := -1
			for c := classOf(min(size, smallMax)); size <= smallMax && c < numClasses; c++ {
				if classSize[c]%al == 0 {
					want = c
					break
				}
			}
			if got := classFor(size, al); got != want {
				t.Fatalf("classFor(%d, %d) = %d, want %d", size, al, got, want)
			}
		}
	}
}

// TestSpanLayout checks that a span record is a 128-byte Go object, so
// 128-byte aligned, with every field Alloc and Free use in its first
// line.
func TestSpanLayout(t *testing.T) {
	var s span
	assert.Equal(t, uintptr(128), unsafe.Sizeof(s))
	assert.LessOrEqual(t, unsafe.Offsetof(s.avail)+unsafe.Sizeof(s.avail), uintptr(64))
	assert.LessOrEqual(t, unsafe.Offsetof(s.partialAt)+unsafe.Sizeof(s.partialAt), uintptr(64))
	for c := range numClasses {
		assert.Equal(t, uintptr(classBlocks[c]), spanBytes(c)/classSize[c], "class %d", c)
	}
}
