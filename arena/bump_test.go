package arena_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/arenatest"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

var ps = align.PageSize()

var sink byte

//go:noinline
func load(p unsafe.Pointer) { sink = *(*byte)(p) }

func TestBumpAlloc(t *testing.T) {
	mapcheck.Baseline(t)
	for _, al := range []uintptr{1, 2, 8, 64, 4096} {
		for _, size := range []uintptr{1, 3, 24, 100, 4095, 5000, 1 << 20} {
			t.Run(fmt.Sprintf("align=%d/size=%d", al, size), func(t *testing.T) {
				b := newBump(t, &arena.Options{InitialSize: 8192})
				type span struct {
					p      unsafe.Pointer
					lo, hi uintptr
				}
				var got []span
				for i := range 40 {
					p, err := b.Alloc(size, al)
					require.NoError(t, err)
					addr := uintptr(p)
					require.True(t, align.IsAligned(addr, al), "%#x not aligned to %d", addr, al)
					mem := bytesAt(p, size)
					require.True(t, isZero(mem), "allocation %d not zeroed", i)
					for j := range mem {
						mem[j] = byte(i + 1)
					}
					for _, s := range got {
						require.False(t, addr < s.hi && addr+size > s.lo, "overlap")
					}
					got = append(got, span{p, addr, addr + size})
				}
				for i, s := range got {
					mem := bytesAt(s.p, size)
					require.Equal(t, len(mem), bytes.Count(mem, []byte{byte(i + 1)}), "allocation %d lost its bytes", i)
				}
				st := b.Stats()
				assert.Equal(t, uint64(40*size), st.Requested)
				assert.Equal(t, uint64(40), st.Allocs)
				assert.GreaterOrEqual(t, st.InUse, st.Requested)
			})
		}
	}
}

func TestBumpBadInput(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Limit: 1 << 20})
	p, err := b.Alloc(16, 8)
	require.NoError(t, err)
	*(*byte)(p) = 7
	before := b.Stats()
	tests := []struct {
		name        string
		size, align uintptr
		sentinel    error
		errno       error
	}{
		{"align=0", 8, 0, align.ErrAlignment, unix.EINVAL},
		{"align=3", 8, 3, align.ErrAlignment, unix.EINVAL},
		{"align=2page", 8, uintptr(2 * ps), align.ErrAlignment, unix.ENOMEM}, // valid, but more than a chunk can align to
		{"align=maxuint", 8, ^uintptr(0), align.ErrAlignment, unix.EINVAL},
		{"size=maxuint", ^uintptr(0), 8, arena.ErrSize, unix.ENOMEM},
		{"size=maxuint-8", ^uintptr(0) - 8, 8, arena.ErrSize, unix.ENOMEM},
		{"size=maxint", math.MaxInt, 1, arena.ErrSize, unix.ENOMEM},
		{"size=2MiB>limit", 2 << 20, 8, arena.ErrLimit, unix.ENOMEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := b.Alloc(tt.size, tt.align)
			assert.Nil(t, q)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.sentinel)
			assert.ErrorIs(t, err, tt.errno)
			assert.True(t, strings.HasPrefix(err.Error(), "arena: "), err.Error())
			after := b.Stats()
			after.Resident, before.Resident = 0, 0
			assert.Equal(t, before, after, "a refused call changes nothing")
		})
	}
	assert.Equal(t, byte(7), *(*byte)(p))
	q, err := b.Alloc(16, 8)
	require.NoError(t, err, "the arena is still usable")
	assert.Equal(t, uintptr(p)+16, uintptr(q))

	_, err = arena.MakeSlice[int64](b, -1, 4)
	assert.ErrorIs(t, err, arena.ErrSize)
	_, err = arena.MakeSlice[int64](b, 5, 4)
	assert.ErrorIs(t, err, arena.ErrSize)
	_, err = arena.MakeSlice[int64](b, 0, -1)
	assert.ErrorIs(t, err, arena.ErrSize)
	_, err = arena.MakeSlice[int64](b, 1, math.MaxInt/4)
	assert.ErrorIs(t, err, arena.ErrSize)
	assert.ErrorIs(t, err, unix.ENOMEM)
	_, err = arena.MakeSlice[[1 << 20]byte](b, 0, math.MaxInt/(1<<19))
	assert.ErrorIs(t, err, arena.ErrSize)

	for _, o := range []arena.Options{{InitialSize: -1}, {MaxChunk: -1}, {Limit: -1}, {Quarantine: -1}} {
		_, err := arena.NewBump(&o)
		assert.ErrorIs(t, err, arena.ErrSize, "%+v", o)
	}
}

func TestBumpZeroSize(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	p, err := b.Alloc(0, 8)
	require.NoError(t, err)
	assert.NotNil(t, p)
	e, err := arena.New[struct{}](b)
	require.NoError(t, err)
	assert.NotNil(t, e)
	s, err := arena.MakeSlice[int](b, 0, 0)
	require.NoError(t, err)
	assert.NotNil(t, s)
	assert.Len(t, s, 0)
	assert.Equal(t, uint64(0), b.Stats().Allocs)
	assert.Equal(t, 0, b.Stats().Chunks, "zero-size allocations map nothing")
}

type point struct{ X, Y int32 }

type node struct {
	Val  int64
	Next uintptr
	Tags [3]uint16
}

func TestNewMakeSlice(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	n, err := arena.New[node](b)
	require.NoError(t, err)
	assert.Equal(t, node{}, *n)
	n.Val = 42
	s, err := arena.MakeSlice[point](b, 3, 10)
	require.NoError(t, err)
	assert.Len(t, s, 3)
	assert.Equal(t, 10, cap(s))
	for i := range s[:cap(s)] {
		assert.Equal(t, point{}, s[:cap(s)][i])
	}
	s = append(s, point{1, 2}) // within cap: stays in the arena
	assert.Equal(t, point{1, 2}, s[3])
	assert.Equal(t, int64(42), n.Val)

	str, err := arena.String(b, "hello, arena")
	require.NoError(t, err)
	assert.Equal(t, "hello, arena", str)
	empty, err := arena.String(b, "")
	require.NoError(t, err)
	assert.Equal(t, "", empty)
	bs, err := arena.Bytes(b, []byte{1, 2, 3})
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, bs)
	assert.Equal(t, 3, cap(bs))
	bs, err = arena.Bytes(b, nil)
	require.NoError(t, err)
	assert.NotNil(t, bs)
	assert.Len(t, bs, 0)
}

type withPtr struct {
	A int
	B [2]*byte
}

type deep struct {
	X struct {
		Y [4]struct {
			Z int
			S string
		}
	}
}

func TestPointerTypesRefused(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	check := func(err error, path string) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, arena.ErrPointers)
		var pe *arena.PointerError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, path, pe.Path+": "+pe.Elem)
	}
	_, err := arena.New[withPtr](b)
	check(err, "withPtr.B[0]: *uint8")
	assert.EqualError(t, err, "arena: arena_test.withPtr holds Go pointers, which arena memory must not: withPtr.B[0]: *uint8")
	_, err = arena.MakeSlice[deep](b, 1, 1)
	check(err, "deep.X.Y[0].S: string")
	_, err = arena.New[*int](b)
	check(err, "*int: *int")
	check(arena.CheckType[[]int](), "[]int: []int")
	check(arena.CheckType[map[int]int](), "map[int]int: map[int]int")
	check(arena.CheckType[any](), "interface {}: interface {}")
	check(arena.CheckType[chan int](), "chan int: chan int")
	check(arena.CheckType[func()](), "func(): func()")
	check(arena.CheckType[unsafe.Pointer](), "Pointer: unsafe.Pointer")
	check(arena.CheckType[struct{ F [1]error }](), "struct { F [1]error }.F[0]: error")
	for _, err := range []error{
		arena.CheckType[int](), arena.CheckType[[4]float64](), arena.CheckType[point](),
		arena.CheckType[node](), arena.CheckType[[0]*int](), arena.CheckType[uintptr](),
		arena.CheckType[complex128](), arena.CheckType[struct{}](),
	} {
		assert.NoError(t, err)
	}
	assert.Equal(t, 0, b.Stats().Chunks, "refused types allocate nothing")
}

func TestBumpGrowth(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{InitialSize: 4 * ps, MaxChunk: 32 * ps})
	for range 1000 {
		_, err := b.Alloc(512, 8)
		require.NoError(t, err)
	}
	st := b.Stats()
	// 125 pages of data (with 4 KiB pages) fill chunks of 4, 8, 16, then
	// 32 pages, the cap: 4+8+16+32*4 = 156 pages in 7 chunks.
	want := []int{4, 8, 16, 32, 32, 32, 32}
	total, data := 0, 1000*512
	for n, pages := range want {
		total += pages * ps
		if total >= data {
			want = want[:n+1]
			break
		}
	}
	assert.Equal(t, len(want), st.Chunks)
	assert.Equal(t, uint64(total), st.Committed)
	// A large allocation gets a chunk of its own.
	p, err := b.Alloc(uintptr(100*ps), 8)
	require.NoError(t, err)
	bytesAt(p, uintptr(100*ps))[100*ps-1] = 1
	assert.Equal(t, len(want)+1, b.Stats().Chunks)
}

func TestBumpLimit(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Limit: 64 << 10, InitialSize: 16 << 10})
	n := 0
	var err error
	for ; n < 1000; n++ {
		if _, err = arena.New[[1024]byte](b); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, arena.ErrLimit)
	assert.ErrorIs(t, err, unix.ENOMEM)
	assert.Equal(t, 64, n, "exactly the limit is usable")
	st := b.Stats()
	assert.LessOrEqual(t, st.Committed, uint64(64<<10))
	b.Reset()
	_, err = arena.New[[1024]byte](b)
	assert.NoError(t, err, "after Reset the memory is available again")
}

func TestBumpReset(t *testing.T) {
	mapcheck.Baseline(t)
	for _, release := range []bool{false, true} {
		t.Run(fmt.Sprintf("release=%v", release), func(t *testing.T) {
			b := newBump(t, &arena.Options{InitialSize: 64 << 10, ResetRelease: release})
			var first []uintptr
			for round := range 3 {
				var addrs []uintptr
				for i := range 300 {
					p, err := b.Alloc(1000, 8)
					require.NoError(t, err)
					mem := bytesAt(p, 1000)
					require.True(t, isZero(mem), "round %d allocation %d not zeroed", round, i)
					for j := range mem {
						mem[j] = 0xEE
					}
					addrs = append(addrs, uintptr(p))
				}
				if round == 0 {
					first = addrs
				} else {
					assert.Equal(t, first, addrs, "Reset reuses the same memory in the same order")
				}
				st := b.Stats()
				assert.Equal(t, uint64(300*1000), st.InUse)
				if release && runtime.GOOS == "linux" {
					assert.Greater(t, st.Resident, uint64(300*1000))
				}
				b.Reset()
				st = b.Stats()
				assert.Equal(t, uint64(0), st.InUse)
				assert.Equal(t, uint64(round+1), st.Resets)
				assert.Equal(t, uint64(300*1000), st.Peak)
				if release && runtime.GOOS == "linux" {
					assert.Equal(t, uint64(0), st.Resident, "ResetRelease gives the pages back")
				}
			}
		})
	}
}

func TestBumpTrim(t *testing.T) {
	mapcheck.Baseline(t)
	if runtime.GOOS != "linux" {
		t.Skip("Resident needs mincore, wired up on Linux only")
	}
	b := newBump(t, &arena.Options{InitialSize: 1 << 20})
	for range 4000 {
		p, err := b.Alloc(1024, 8)
		require.NoError(t, err)
		bytesAt(p, 1024)[0] = 1
	}
	st := b.Stats()
	require.GreaterOrEqual(t, st.Resident, uint64(4000*1024))
	chunks := st.Chunks
	b.Reset()
	for range 10 {
		p, err := b.Alloc(1024, 8)
		require.NoError(t, err)
		require.True(t, isZero(bytesAt(p, 1024)))
		bytesAt(p, 1024)[5] = 9
	}
	require.NoError(t, b.Trim())
	st = b.Stats()
	assert.Less(t, st.Chunks, chunks)
	assert.LessOrEqual(t, st.Resident, uint64(4*ps), "RSS falls to the pages in use")
	// Allocation goes on, zeroed, after the trimmed part.
	for range 3000 {
		p, err := b.Alloc(1024, 8)
		require.NoError(t, err)
		require.True(t, isZero(bytesAt(p, 1024)))
	}
}

func TestBumpQuarantine(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "req", Quarantine: 2, InitialSize: 16 << 10})
	old, err := arena.New[node](b)
	require.NoError(t, err)
	old.Val = 1
	b.Reset()
	err = guard.Catch(func() { load(unsafe.Pointer(old)) })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "req", fe.Region)
	assert.Contains(t, err.Error(), "(protected page: use after reset)")

	// Even a barely used chunk is never handed out during its quarantine
	// of two Resets.
	seen := map[uintptr]bool{uintptr(unsafe.Pointer(old)): true}
	for round := range 2 {
		p, err := arena.New[node](b)
		require.NoError(t, err)
		assert.Equal(t, node{}, *p)
		assert.False(t, seen[uintptr(unsafe.Pointer(p))], "round %d reused quarantined memory", round)
		seen[uintptr(unsafe.Pointer(p))] = true
		b.Reset()
	}
	// The third Reset ended the first chunk's quarantine: it is back,
	// zeroed, and no more chunks are held than the three rounds needed.
	p, err := arena.New[node](b)
	require.NoError(t, err)
	assert.Equal(t, uintptr(unsafe.Pointer(old)), uintptr(unsafe.Pointer(p)))
	assert.Equal(t, node{}, *p)
	assert.Equal(t, 3, b.Stats().Chunks)
}

func TestBumpClose(t *testing.T) {
	mapcheck.Baseline(t)
	b, err := arena.NewBump(nil)
	require.NoError(t, err)
	_, err = arena.New[int](b)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close again is a no-op")
	_, err = b.Alloc(8, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = b.Alloc(0, 8)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = arena.New[int](b)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = arena.MakeSlice[int](b, 1, 1)
	assert.ErrorIs(t, err, arena.ErrClosed)
	_, err = arena.String(b, "x")
	assert.ErrorIs(t, err, arena.ErrClosed)
	assert.ErrorIs(t, b.Trim(), arena.ErrClosed)
	b.Reset() // no-op
	st := b.Stats()
	assert.True(t, st.Closed)
	assert.Equal(t, 0, st.Chunks)
}

func TestBumpGuardPage(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "g", InitialSize: ps})
	s, err := arena.MakeSlice[byte](b, ps, ps)
	require.NoError(t, err)
	end := unsafe.Add(unsafe.Pointer(&s[0]), ps)
	err = guard.Catch(func() { load(end) })
	assert.EqualError(t, err, `guard: fault 1 byte past the end of region "g" (high guard page)`)
}

func TestStats(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "stats", InitialSize: 64 << 10})
	for range 100 {
		p, err := b.Alloc(100, 8)
		require.NoError(t, err)
		*(*byte)(p) = 1
	}
	st := b.Stats()
	assert.Equal(t, "stats", st.Name)
	assert.Equal(t, "bump", st.Kind)
	assert.Equal(t, uint64(10000), st.Requested)
	assert.Equal(t, uint64(100*104-4), st.InUse, "padding to 8 bytes is counted")
	assert.Equal(t, uint64(64<<10), st.Committed)
	assert.Equal(t, uint64(64<<10+2*ps), st.Reserved)
	assert.Equal(t, 1, st.Chunks)
	if runtime.GOOS == "linux" {
		assert.Equal(t, uint64(64<<10), st.Resident, "memory is faulted in ahead of use, 64 KiB at first")
	}
	s := st.String()
	assert.Contains(t, s, `bump arena "stats"`)
	assert.Contains(t, s, "64 KiB")
	assert.Contains(t, b.String(), "allocs")
}

func TestContext(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, nil)
	ctx := arena.NewContext(context.Background(), b)
	a, ok := arena.FromContext(ctx)
	require.True(t, ok)
	assert.Same(t, b, a.(*arena.Bump))
	_, ok = arena.FromContext(context.Background())
	assert.False(t, ok)
}

// leakSlice is the leak of issue 11: it fills a slice from a Bump and
// returns the slice without closing the arena. The Bump becomes
// unreachable; the slice does not keep it alive, since the GC does not
// know arena memory.
//
//go:noinline
func leakSlice(t *testing.T, name string) []int64 {
	b, err := arena.NewBump(&arena.Options{Name: name})
	require.NoError(t, err)
	s, err := arena.MakeSlice[int64](b, 1000, 1000)
	require.NoError(t, err)
	for i := range s {
		s[i] = int64(i) * 7
	}
	return s
}

// waitLeak runs the GC until the leak handler reports the arena named
// name, and returns the report.
func waitLeak(t *testing.T, got chan arena.LeakReport, name string) arena.LeakReport {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		runtime.GC()
		select {
		case r := <-got:
			if r.Name == name {
				return r
			}
		case <-deadline:
			t.Fatal("no leak report after 10s of GCs")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestIssue11LeakKeepsMemory: a leaked arena is reported and keeps its
// memory, mapped and intact, however many arenas are made after it. (It
// used to be unmapped, and the slice then read the next arena's data.)
// The leaked mapping stays for the life of the test binary, by design, so
// this test does not use mapcheck.
func TestIssue11LeakKeepsMemory(t *testing.T) {
	got := make(chan arena.LeakReport, 16)
	old := arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	defer arena.SetLeakHandler(old)
	s := leakSlice(t, "forgotten")
	r := waitLeak(t, got, "forgotten")
	assert.Equal(t, "bump", r.Kind)
	assert.Equal(t, 1, r.Chunks)
	assert.Regexp(t, `bump_test\.go:\d+$`, r.Site)
	assert.Contains(t, r.String(), `bump arena "forgotten" created at `)
	assert.Contains(t, r.String(), "stay mapped")
	var leaked bool
	for _, a := range arena.TakeSnapshot().Arenas {
		leaked = leaked || a.Name == "forgotten" && a.Leaked
	}
	assert.True(t, leaked, "the registry still lists the leaked arena, flagged")

	// Other arenas come and go and write everywhere they can.
	for range 8 {
		b, err := arena.NewBump(&arena.Options{Name: "next"})
		require.NoError(t, err)
		o, err := arena.MakeSlice[int64](b, 8192, 8192)
		require.NoError(t, err)
		for i := range o {
			o[i] = -1
		}
		require.NoError(t, b.Close())
	}
	require.NoError(t, guard.FlushQuarantine()) // closed ranges leave the quarantine: the leak must not
	for i, v := range s {
		if v != int64(i)*7 {
			t.Fatalf("the leaked slice changed at %d: %d", i, v)
		}
	}
	s[0] = 42 // still writable: nobody else owns it
	loc := guard.Lookup(uintptr(unsafe.Pointer(&s[0])))
	assert.Equal(t, guard.PartUsable, loc.Part)
	assert.Equal(t, "forgotten", loc.Region)
}

//go:noinline
func leakFreeList(t *testing.T) *int64 {
	f, err := arena.NewFreeList(&arena.Options{Name: "forgotten list"})
	require.NoError(t, err)
	p, err := arena.New[int64](f)
	require.NoError(t, err)
	*p = 99
	return p
}

//go:noinline
func leakShared(t *testing.T) *int64 {
	sh, err := arena.NewShared(&arena.Options{Name: "forgotten shared"})
	require.NoError(t, err)
	p, err := arena.New[int64](sh)
	require.NoError(t, err)
	*p = 98
	return p
}

// TestIssue11LeakEveryKind: FreeList and Shared leaks keep their memory
// too.
func TestIssue11LeakEveryKind(t *testing.T) {
	got := make(chan arena.LeakReport, 16)
	old := arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	defer arena.SetLeakHandler(old)
	p := leakFreeList(t)
	assert.Equal(t, "freelist", waitLeak(t, got, "forgotten list").Kind)
	q := leakShared(t)
	assert.Equal(t, "shared", waitLeak(t, got, "forgotten shared").Kind)
	require.NoError(t, guard.FlushQuarantine())
	assert.Equal(t, int64(99), *p)
	assert.Equal(t, int64(98), *q)
}

// TestIssue11CloseQuarantines: a pointer kept past Close faults and is
// named a use after close, with the arena's name and the Close call site,
// and the next arena never gets the closed range while it is quarantined.
// (The next arena used to get the same addresses, and the stale pointer
// read its objects.)
func TestIssue11CloseQuarantines(t *testing.T) {
	mapcheck.Baseline(t)
	old := guard.SetQuarantine(-1)
	defer guard.SetQuarantine(old)
	for _, kind := range []string{"bump", "shared", "freelist"} {
		t.Run("arena="+kind, func(t *testing.T) {
			a, err := newKind(kind, &arena.Options{Name: "request"})
			require.NoError(t, err)
			p, err := arena.New[[64]int64](a)
			require.NoError(t, err)
			p[3] = 7
			require.NoError(t, a.Close()) // the Close site
			closeLine := lineOf(t, "require.NoError(t, a.Close()) // the Close site")

			next, err := newKind(kind, &arena.Options{Name: "next"})
			require.NoError(t, err)
			defer next.Close()
			q, err := arena.New[[64]int64](next)
			require.NoError(t, err)
			lo, hi := uintptr(unsafe.Pointer(q)), uintptr(unsafe.Pointer(q))+512
			pa := uintptr(unsafe.Pointer(p))
			assert.False(t, pa+512 > lo && pa < hi, "the next arena got the closed range")

			err = hardened.Catch(func() { sinkInt = p[3] })
			var rep *hardened.Report
			require.ErrorAs(t, err, &rep)
			assert.Equal(t, hardened.KindUseAfterClose, rep.Kind)
			assert.Equal(t, "request", rep.Arena)
			require.NotEmpty(t, rep.Freed)
			assert.Contains(t, rep.Freed[0], fmt.Sprintf("bump_test.go:%d", closeLine))
			assert.Contains(t, err.Error(), `use after close`)
			assert.Contains(t, err.Error(), `of "request"`)
			var fe *guard.FaultError
			require.ErrorAs(t, err, &fe, "the report wraps guard's fault")
			assert.Equal(t, guard.PartClosed, fe.Part)
		})
	}
}

var sinkInt int64

// newKind makes an arena of the named kind, as an align.Allocator that
// can be closed.
func newKind(kind string, o *arena.Options) (interface {
	align.Allocator
	Close() error
}, error) {
	switch kind {
	case "bump":
		return arena.NewBump(o)
	case "shared":
		return arena.NewShared(o)
	case "freelist":
		return arena.NewFreeList(o)
	}
	return arena.NewSyncFreeList(o)
}

// lineOf returns the line of this file that holds text.
func lineOf(t *testing.T, text string) int {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, text) && !strings.Contains(l, "lineOf") {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", text)
	return 0
}

func TestErrorsAreValues(t *testing.T) {
	var pe *arena.PointerError
	err := arena.CheckType[withPtr]()
	assert.True(t, errors.As(err, &pe))
	assert.Equal(t, "arena_test.withPtr", pe.Type)
}

func TestBumpFreeze(t *testing.T) {
	mapcheck.Baseline(t)
	b := newBump(t, &arena.Options{Name: "index", InitialSize: 16 << 10})
	var nodes []*node
	for i := range 1000 {
		n, err := arena.New[node](b)
		require.NoError(t, err)
		n.Val = int64(i)
		nodes = append(nodes, n)
	}
	require.NoError(t, b.Freeze())
	require.NoError(t, b.Freeze(), "freezing twice is a no-op")
	assert.Equal(t, int64(999), nodes[999].Val, "a frozen arena can be read")
	err := guard.Catch(func() { nodes[10].Val = 7 })
	var fe *guard.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, guard.PartFrozen, fe.Part)
	assert.Contains(t, err.Error(), `of region "index" (read-only page, frozen)`)
	_, err = arena.New[node](b)
	assert.ErrorIs(t, err, arena.ErrFrozen)
	assert.ErrorIs(t, b.Trim(), arena.ErrFrozen)

	require.NoError(t, b.Thaw())
	nodes[10].Val = 7
	n, err := arena.New[node](b)
	require.NoError(t, err, "allocation resumes where it stopped")
	assert.Equal(t, node{}, *n)
	assert.Equal(t, int64(7), nodes[10].Val)

	require.NoError(t, b.Freeze())
	b.Reset() // thaws first
	n, err = arena.New[node](b)
	require.NoError(t, err)
	n.Val = 1
	require.NoError(t, b.Freeze())
	require.NoError(t, b.Close(), "a frozen arena closes")
	assert.ErrorIs(t, b.Freeze(), arena.ErrClosed)
	assert.ErrorIs(t, b.Thaw(), arena.ErrClosed)
}

func TestState(t *testing.T) {
	mapcheck.Baseline(t)
	b, err := arena.NewBump(nil)
	require.NoError(t, err)
	g0, err := b.State()
	require.NoError(t, err)
	_, err = arena.New[int](b)
	require.NoError(t, err)
	g, err := b.State()
	assert.Equal(t, g0, g, "allocation does not move it")
	assert.NoError(t, err)
	require.NoError(t, b.Freeze())
	g, err = b.State()
	assert.ErrorIs(t, err, arena.ErrFrozen)
	assert.Equal(t, g0, g, "nor does Freeze: the memory stays valid")
	b.Reset()
	g1, err := b.State()
	assert.NoError(t, err, "Reset thaws")
	assert.NotEqual(t, g0, g1, "Reset moves it")
	require.NoError(t, b.Close())
	g, err = b.State()
	assert.NotEqual(t, g1, g, "Close moves it")
	assert.ErrorIs(t, err, arena.ErrClosed)

	s, err := arena.NewShared(nil)
	require.NoError(t, err)
	sg, err := s.State()
	require.NoError(t, err)
	s.Reset()
	g, err = s.State()
	assert.NotEqual(t, sg, g)
	assert.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.State()
	assert.ErrorIs(t, err, arena.ErrClosed)

	f, err := arena.NewFreeList(nil)
	require.NoError(t, err)
	fg, err := f.State()
	require.NoError(t, err)
	require.NoError(t, f.Freeze())
	_, err = f.State()
	assert.ErrorIs(t, err, arena.ErrFrozen)
	require.NoError(t, f.Thaw())
	require.NoError(t, f.Close())
	g, err = f.State()
	assert.NotEqual(t, fg, g)
	assert.ErrorIs(t, err, arena.ErrClosed)

	sf, err := arena.NewSyncFreeList(nil)
	require.NoError(t, err)
	_, err = sf.State()
	require.NoError(t, err)
	require.NoError(t, sf.Close())
	_, err = sf.State()
	assert.ErrorIs(t, err, arena.ErrClosed)
}

// The helpers these tests share with the other arena packages' tests.
var (
	newBump     = arenatest.NewBump
	newFreeList = arenatest.NewFreeList
	bytesAt     = arenatest.BytesAt
	isZero      = arenatest.IsZero
	allocFree   = arenatest.AllocFree
)
