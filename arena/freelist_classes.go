package arena

import "math/bits"

// Size classes of the FreeList arena. Blocks up to 128 bytes come in
// steps of 8; above that, each doubling is cut in 8 equal steps, so a
// block is never more than 12.5% larger than the size asked for:
//
//	8 16 24 ... 128              step 8    (16 classes)
//	144 160 ... 256              step 16   (8)
//	288 320 ... 512              step 32   (8)
//	...
//	18432 20480 ... 32768        step 2048 (8)
//
// 80 classes in all; larger blocks get a mapping of their own. Every
// power of two up to 32 KiB is a class, which is what lets aligned
// requests find a class that is a multiple of their alignment.
const (
	smallMax   = 32 << 10 // the largest block cut from spans
	numClasses = 16 + 8*8 // 8..128, then 8 per doubling from 128 to 32 KiB
)

// classSize[c] is the block size of class c.
var classSize = func() [numClasses]uintptr {
	var s [numClasses]uintptr
	for c := range 16 {
		s[c] = uintptr(c+1) * 8
	}
	for c := 16; c < numClasses; c++ {
		k := uint(7 + (c-16)/8) // the class lies in (2^k, 2^(k+1)]
		s[c] = 1<<k + uintptr((c-16)%8+1)<<(k-3)
	}
	return s
}()

// classBlocks[c] is how many blocks a span of class c holds.
var classBlocks = func() (n [numClasses]uint32) {
	for c := range n {
		n[c] = uint32(spanBytes(c) / classSize[c])
	}
	return n
}()

// classRecip[c] is recip(classSize[c]), for dividing by a class size
// with a multiply.
var classRecip = func() [numClasses]uint64 {
	var r [numClasses]uint64
	for c, n := range classSize {
		r[c] = recip(n)
	}
	return r
}()

// classOf returns the smallest class whose blocks hold size bytes;
// 0 < size <= smallMax. O(1).
func classOf(size uintptr) int {
	if size <= 128 {
		return int((size+7)/8) - 1
	}
	k := uint(bits.Len(uint(size-1))) - 1 // 2^k < size <= 2^(k+1)
	step := uintptr(1) << (k - 3)
	i := (size - 1<<k + step - 1) / step // 1..8
	return 16 + int(k-7)*8 + int(i) - 1
}

// classFor returns the smallest class holding size bytes whose block
// size is a multiple of align, or -1 when none is at most smallMax.
// align is a power of two no larger than the page size. O(1): it is the
// class of size rounded up to align, because a class above 2^k is a
// multiple of 2^(k-3), and a multiple of a larger power of two above 2^k
// is a class of its own (TestClassFor checks every size and alignment).
func classFor(size, align uintptr) int {
	n := (size + align - 1) &^ (align - 1)
	if size == 0 || n > smallMax || n < size {
		return -1
	}
	if n <= smallTableMax {
		return int(smallClass[(n+7)>>3])
	}
	return classOf(n)
}

// smallTableMax is the largest size smallClass answers for: the sizes
// of W2 and of most small objects, in 129 bytes of table (three cache
// lines) instead of classOf's arithmetic.
const smallTableMax = 1024

// smallClass[(n+7)/8] is classOf(n) for 0 < n <= smallTableMax: every
// class is a multiple of 8, so n and n rounded up to 8 share a class.
var smallClass = func() (t [smallTableMax/8 + 1]uint8) {
	for i := 1; i < len(t); i++ {
		t[i] = uint8(classOf(uintptr(i) * 8))
	}
	return t
}()
