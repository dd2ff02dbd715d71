package align_test

import (
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
)

const maxU = ^uintptr(0)

func TestPageSize(t *testing.T) {
	ps := align.PageSize()
	require.True(t, align.IsPowerOfTwo(uintptr(ps)), "page size %d", ps)
	assert.GreaterOrEqual(t, ps, 4096)
	assert.Equal(t, unix.Getpagesize(), ps)
	assert.NotEmpty(t, align.PageSource())
}

func TestIsPowerOfTwo(t *testing.T) {
	for _, x := range []uintptr{1, 2, 4, 8, 4096, 1 << 30, 1 << (8*align.PtrSize - 1)} {
		assert.True(t, align.IsPowerOfTwo(x), "%d", x)
	}
	for _, x := range []uintptr{0, 3, 6, 12, 4095, 4097, maxU} {
		assert.False(t, align.IsPowerOfTwo(x), "%d", x)
	}
}

func TestUp(t *testing.T) {
	tests := []struct {
		n, a, want uintptr
		ok         bool
	}{
		{0, 8, 0, true},
		{1, 8, 8, true},
		{8, 8, 8, true},
		{9, 8, 16, true},
		{100, 4096, 4096, true},
		{4097, 4096, 8192, true},
		{maxU, 1, maxU, true},
		{maxU - 4095, 4096, maxU - 4095, true},
		{maxU - 4094, 4096, 0, false},
		{maxU, 4096, 0, false},
		{maxU, 2, 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d/a=%d", tt.n, tt.a), func(t *testing.T) {
			got, ok := align.Up(tt.n, tt.a)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDownIsAligned(t *testing.T) {
	assert.Equal(t, uintptr(4096), align.Down(8191, 4096))
	assert.Equal(t, uintptr(0), align.Down(4095, 4096))
	assert.Equal(t, maxU&^4095, align.Down(maxU, 4096))
	assert.True(t, align.IsAligned(0, 64))
	assert.True(t, align.IsAligned(128, 64))
	assert.False(t, align.IsAligned(129, 64))
	p, ok := align.PageUp(1)
	assert.True(t, ok)
	assert.Equal(t, uintptr(align.PageSize()), p)
}

func TestNotPowerOfTwoPanics(t *testing.T) {
	for _, a := range []uintptr{0, 3, 12} {
		assert.PanicsWithError(t, fmt.Sprintf("align: %d is not a power of two", a), func() { align.Up(1, a) })
		assert.Panics(t, func() { align.Down(1, a) })
		assert.Panics(t, func() { align.IsAligned(1, a) })
	}
}

func TestCheckAlignment(t *testing.T) {
	good := []uintptr{align.PtrSize, 16, 64, 4096, 1 << 30}
	for _, a := range good {
		assert.NoError(t, align.CheckAlignment(a), "%d", a)
	}
	bad := []struct {
		a   uintptr
		msg string
	}{
		{0, "align: alignment 0 is not a power of two"},
		{1, "align: alignment 1 is not a multiple of the pointer size (8)"},
		{3, "align: alignment 3 is not a power of two"},
		{4, "align: alignment 4 is not a multiple of the pointer size (8)"},
		{12, "align: alignment 12 is not a power of two"},
		{maxU, "align: alignment 18446744073709551615 is not a power of two"},
	}
	for _, tt := range bad {
		t.Run(fmt.Sprintf("align=%d", tt.a), func(t *testing.T) {
			err := align.CheckAlignment(tt.a)
			require.Error(t, err)
			assert.True(t, errors.Is(err, unix.EINVAL), "must satisfy errors.Is(err, unix.EINVAL)")
			assert.True(t, errors.Is(err, align.ErrAlignment))
			assert.False(t, errors.Is(err, unix.ENOMEM))
			if align.PtrSize == 8 {
				assert.EqualError(t, err, tt.msg)
			}
		})
	}
}

// FuzzAlign checks Up, Down and IsAligned against arbitrary-precision
// arithmetic, so that an overflow that wraps cannot hide.
func FuzzAlign(f *testing.F) {
	f.Add(uint64(0), uint8(0))
	f.Add(uint64(100), uint8(12))
	f.Add(uint64(1<<64-1), uint8(12))
	f.Add(uint64(1<<64-4096), uint8(12))
	f.Add(uint64(1<<63+1), uint8(63))
	f.Fuzz(func(t *testing.T, n64 uint64, shift uint8) {
		n := uintptr(n64)
		bitsN := uint(8 * align.PtrSize)
		a := uintptr(1) << (uint(shift) % bitsN)

		bn := new(big.Int).SetUint64(uint64(n))
		ba := new(big.Int).SetUint64(uint64(a))
		limit := new(big.Int).Lsh(big.NewInt(1), bitsN) // 2^bits

		// up = ceil(n/a)*a
		up := new(big.Int).Add(bn, new(big.Int).Sub(ba, big.NewInt(1)))
		up.Div(up, ba).Mul(up, ba)
		got, ok := align.Up(n, a)
		if up.Cmp(limit) >= 0 {
			if ok || got != 0 {
				t.Fatalf("Up(%d, %d) = %d, %v; want overflow", n, a, got, ok)
			}
		} else if !ok || uint64(got) != up.Uint64() {
			t.Fatalf("Up(%d, %d) = %d, %v; want %s", n, a, got, ok, up)
		}

		down := new(big.Int).Div(bn, ba)
		down.Mul(down, ba)
		if d := align.Down(n, a); uint64(d) != down.Uint64() {
			t.Fatalf("Down(%d, %d) = %d; want %s", n, a, d, down)
		}
		mod := new(big.Int).Mod(bn, ba)
		if align.IsAligned(n, a) != (mod.Sign() == 0) {
			t.Fatalf("IsAligned(%d, %d) wrong", n, a)
		}
		if align.IsPowerOfTwo(n) != (n != 0 && bn.BitLen()-1 == int(bn.TrailingZeroBits())) {
			t.Fatalf("IsPowerOfTwo(%d) wrong", n)
		}
	})
}
