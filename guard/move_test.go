package guard_test

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// TestMoveTo moves a region's pages into a larger one, with each fence
// kind: the bytes arrive, the source reads zero and stays reserved, both
// regions keep their guards, and the budget comes back at Close.
func TestMoveTo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mremap is Linux's")
	}
	mapcheck.Baseline(t)
	for _, f := range fences(t) {
		t.Run("fence="+fenceName(f), func(t *testing.T) {
			_, held := guard.Budget()
			src, err := guard.Map(4*ps, &guard.Options{Name: "src", Fence: f})
			require.NoError(t, err)
			dst, err := guard.Map(16*ps, &guard.Options{Name: "dst", Fence: f})
			require.NoError(t, err)
			b := src.Bytes()
			for i := range b {
				b[i] = byte(i*7 + 1)
			}
			d := dst.Bytes()
			d[0], d[8*ps] = 0xee, 0xee

			require.NoError(t, src.MoveTo(dst, 3*ps-5)) // rounded up to 3 pages
			for i := range 3 * ps {
				if d[i] != byte(i*7+1) {
					t.Fatalf("dst byte %d = %#x, want %#x", i, d[i], byte(i*7+1))
				}
			}
			assert.Equal(t, byte(0xee), d[8*ps], "dst past the moved pages is kept")
			for i := range 3 * ps {
				if b[i] != 0 {
					t.Fatalf("src byte %d = %#x after the move, want 0", i, b[i])
				}
			}
			assert.Equal(t, byte(3*ps*7+1), b[3*ps], "src past the moved pages is kept")
			b[0] = 1 // the source stays Ready

			// The guards of both stay where they were.
			for _, r := range []*guard.Region{src, dst} {
				var fe *guard.FaultError
				require.ErrorAs(t, guard.Catch(func() { load(at(r, r.Size())) }), &fe)
				assert.Equal(t, guard.PartHighGuard, fe.Part)
				require.ErrorAs(t, guard.Catch(func() { load(at(r, -1)) }), &fe)
				assert.Equal(t, guard.PartLowGuard, fe.Part)
			}
			_, now := guard.Budget()
			assert.Equal(t, now-held, src.Mappings()+dst.Mappings(), "the budget counts what the regions say they hold")
			require.NoError(t, src.Close())
			require.NoError(t, dst.Close())
			_, now = guard.Budget()
			assert.Equal(t, held, now)
		})
	}
}

// TestMoveToBadInput: every refusal leaves both regions as they were.
func TestMoveToBadInput(t *testing.T) {
	mapcheck.Baseline(t)
	src := mustMap(t, 2*ps, &guard.Options{Name: "src"})
	dst := mustMap(t, 4*ps, &guard.Options{Name: "dst", Reserve: 8 * ps})
	src.Bytes()[0] = 9
	for _, tt := range []struct {
		name string
		dst  *guard.Region
		n    int
		want error
	}{
		{"onto-itself", src, ps, guard.ErrRange},
		{"zero", dst, 0, guard.ErrRange},
		{"negative", dst, -ps, guard.ErrRange},
		{"past-the-source", dst, 3 * ps, guard.ErrRange},
		{"huge", dst, int(^uint(0) >> 1), guard.ErrRange},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, src.MoveTo(tt.dst, tt.n), tt.want)
			assert.Equal(t, byte(9), src.Bytes()[0])
		})
	}
	t.Run("into-reserved-pages", func(t *testing.T) {
		big := mustMap(t, 6*ps, &guard.Options{Name: "big"})
		require.ErrorIs(t, big.MoveTo(dst, 6*ps), guard.ErrRange, "dst's pages past 4 are Reserved")
	})
	t.Run("closed", func(t *testing.T) {
		r, err := guard.Map(ps, nil)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		require.ErrorIs(t, r.MoveTo(dst, ps), guard.ErrClosed)
		require.ErrorIs(t, src.MoveTo(r, ps), guard.ErrClosed)
	})
}

// TestMoveToUnsupported: where there is no mremap, MoveTo says so with
// errors.ErrUnsupported and changes nothing.
func TestMoveToUnsupported(t *testing.T) {
	if runtime.GOOS == "linux" {
		t.Skip("Linux has mremap")
	}
	src := mustMap(t, ps, nil)
	dst := mustMap(t, ps, nil)
	*(*byte)(unsafe.Pointer(&src.Bytes()[0])) = 3
	require.True(t, errors.Is(src.MoveTo(dst, ps), errors.ErrUnsupported))
	assert.Equal(t, byte(3), src.Bytes()[0])
}
