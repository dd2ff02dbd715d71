package arena

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// long turns on the long stress runs of the sharded arenas (.ci/run
// passes it): minutes of work where the default run takes a fraction of
// a second.
var long = flag.Bool("arena.long", false, "run the long stress tests of SyncFreeList and Shared, and the file arena's crash test with 200 kills")

// sblock is a block of a test, with the byte it was filled with.
type sblock struct {
	p    unsafe.Pointer
	n    uintptr
	fill byte
}

// fillBlock writes v over the n bytes at p.
func fillBlock(p unsafe.Pointer, n uintptr, v byte) {
	b := unsafe.Slice((*byte)(p), n)
	for i := range b {
		b[i] = v
	}
}

// intact reports whether the n bytes at p all read v.
func intact(p unsafe.Pointer, n uintptr, v byte) bool {
	for _, x := range unsafe.Slice((*byte)(p), n) {
		if x != v {
			return false
		}
	}
	return true
}

// TestSyncFreeListCrossDoubleFree frees each block from two goroutines
// at once, again and again: exactly one Free succeeds, the other returns
// ErrDoubleFree, and nothing is freed twice (InUse ends at 0, Frees at
// the number of blocks).
func TestSyncFreeListCrossDoubleFree(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "double"}, 2, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	const rounds = 2000
	var wins, doubles atomic.Int64
	for i := range rounds {
		p, err := s.Alloc(uintptr(16+i%200), 8)
		require.NoError(t, err)
		var start, done sync.WaitGroup
		start.Add(1)
		for range 2 {
			done.Go(func() {
				start.Wait()
				switch err := s.Free(p); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrDoubleFree):
					doubles.Add(1)
				default:
					t.Errorf("Free: %v", err)
				}
			})
		}
		start.Done()
		done.Wait()
	}
	assert.Equal(t, int64(rounds), wins.Load())
	assert.Equal(t, int64(rounds), doubles.Load())
	st := s.Stats()
	assert.Equal(t, uint64(0), st.InUse)
	assert.Equal(t, uint64(rounds), st.Frees)
}

// TestSyncFreeListRemoteFree follows one block freed from another shard:
// claimed at once (a second Free from either shard is ErrDoubleFree,
// UsableSize says so too), not handed out again before its shard
// collects it, counted in Stats as freed, and reused after collection.
func TestSyncFreeListRemoteFree(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "remote"}, 2, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	s.grow(1) // two shards in use: a Free may be left for collection
	home := &s.shards[0]
	a, err := s.allocOn(home, home.mu.TryLock(), 48, 8, true)
	require.NoError(t, err)
	b, err := s.allocOn(home, home.mu.TryLock(), 48, 8, true)
	require.NoError(t, err)
	require.NoError(t, s.free(a, 1)) // from shard 1: pushed, not collected
	require.NotNil(t, home.remote.Load(), "the span waits on its shard's remote stack")
	assert.ErrorIs(t, s.free(a, 1), ErrDoubleFree)
	assert.ErrorIs(t, s.free(a, 0), ErrDoubleFree)
	_, err = s.UsableSize(a)
	assert.ErrorIs(t, err, ErrDoubleFree)
	// Its shard still counts it, and does not hand it out: its lowest
	// free block is past b.
	home.mu.Lock()
	c, _ := home.st.allocFast(48, 8)
	home.mu.Unlock()
	require.NotNil(t, c)
	assert.NotEqual(t, a, c)
	require.NoError(t, s.free(c, 0))
	st := s.Stats() // collects
	assert.Nil(t, home.remote.Load())
	assert.Equal(t, uint64(48), st.InUse) // b
	require.Len(t, st.Shards, 2)
	assert.Equal(t, uint64(1), st.Shards[0].Remote)
	assert.Equal(t, uint64(2), st.Shards[0].Frees)
	assert.Equal(t, uint64(3), st.Shards[0].Allocs)
	again, err := s.allocOn(home, home.mu.TryLock(), 48, 8, true)
	require.NoError(t, err)
	assert.Equal(t, a, again, "the lowest free block, collected")
	assert.True(t, intact(again, 48, 0), "reused blocks are cleared")
	require.NoError(t, s.free(again, 1))
	require.NoError(t, s.free(b, 0))
	assert.Equal(t, uint64(0), s.Stats().InUse)
}

// TestSyncFreeListBadFrees checks that a shard's blocks are refused as
// a FreeList's are: interior pointers, pointers into free pages, frees
// nobody owns and frees after Close.
func TestSyncFreeListBadFrees(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "bad"}, 2, 0)
	require.NoError(t, err)
	p, err := s.Alloc(64, 8)
	require.NoError(t, err)
	assert.ErrorIs(t, s.Free(add(p, 8)), ErrInvalidFree)
	ch := s.index.get(uintptr(p))
	require.NotNil(t, ch)
	assert.ErrorIs(t, s.Free(add(ch.base, chunkBytes-spanUnit)), ErrInvalidFree, "free pages")
	var x [64]byte
	assert.ErrorIs(t, s.Free(unsafe.Pointer(&x[0])), ErrNotOwned)
	big, err := s.Alloc(1<<20, 8)
	require.NoError(t, err)
	assert.Nil(t, s.index.get(uintptr(big)), "large blocks are the central FreeList's")
	require.NoError(t, s.Free(big))
	assert.ErrorIs(t, s.Free(big), ErrDoubleFree)
	require.NoError(t, s.Free(p))
	assert.ErrorIs(t, s.Free(p), ErrDoubleFree)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Free(p), ErrClosed)
	_, err = s.Alloc(64, 8)
	assert.ErrorIs(t, err, ErrClosed)
}

// TestSyncFreeListTrim checks that Trim returns every empty span and
// the large cache: afterwards no shard holds free blocks.
func TestSyncFreeListTrim(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "trim"}, 2, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	var ps []unsafe.Pointer
	for i := range 20000 {
		h := &s.shards[i%2]
		p, err := s.allocOn(h, h.mu.TryLock(), uintptr(8+i%300), 8, true)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	big, err := s.Alloc(1<<20, 8)
	require.NoError(t, err)
	require.NoError(t, s.Free(big))
	for i, p := range ps {
		require.NoError(t, s.free(p, (i/7)%2)) // some at home, some remote
	}
	before := s.Stats()
	require.Len(t, before.Shards, 2)
	assert.Positive(t, before.Shards[0].Held+before.Shards[1].Held)
	assert.Positive(t, before.Cached)
	require.NoError(t, s.Trim())
	after := s.Stats()
	assert.Equal(t, uint64(0), after.InUse)
	for i, sh := range after.Shards {
		assert.Equal(t, uint64(0), sh.Held, "shard %d", i)
		assert.Equal(t, sh.Allocs, sh.Frees, "shard %d", i)
	}
	assert.Equal(t, uint64(0), after.Cached)
	assert.Empty(t, after.Classes)
	assert.Greater(t, after.Released, before.Released)
}

// TestSyncFreeListStress runs G = 2 x GOMAXPROCS goroutines that
// allocate blocks, fill each with a pattern, and free them, their own
// or, through an exchange array, other goroutines' (checking the
// pattern first), in rounds: each round's goroutines exit and the next
// round's take over the blocks they left. It ends with every block
// freed, 0 bytes in use, and every pattern intact. -arena.long runs it
// a hundred times longer.
func TestSyncFreeListStress(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := NewSyncFreeList(&Options{Name: "stress"})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	g := 2 * runtime.GOMAXPROCS(0)
	rounds, ops := 4, 3000
	if *long {
		rounds, ops = 40, 30000
	}
	if testing.Short() || raceEnabled {
		ops /= 3
	}
	exchange := make([]atomic.Pointer[sblock], 64)
	bags := make([][]sblock, g)
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	check := func(b sblock) bool {
		if !intact(b.p, b.n, b.fill) {
			fail("block at %#x (%d bytes) lost its pattern %#x before Free", uintptr(b.p), b.n, b.fill)
			return false
		}
		return true
	}
	for r := range rounds {
		var wg sync.WaitGroup
		for w := range g {
			bag := bags[w]
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), uint64(w)))
				for i := 0; i < ops && !failed.Load(); i++ {
					if r == 1 && w == 0 && i == ops/2 {
						s.grow(1) // ends the solo time amid the others' work, if no collision did
					}
					switch k := rng.IntN(16); {
					case k < 8 || len(bag) == 0: // allocate and fill
						n := uintptr(1 + rng.IntN(2048))
						if rng.IntN(64) == 0 {
							n = uintptr(40<<10 + rng.IntN(100<<10)) // now and then a large one
						}
						p, err := s.Alloc(n, 8)
						if err != nil {
							fail("Alloc(%d): %v", n, err)
							return
						}
						if !intact(p, n, 0) {
							fail("Alloc(%d) at %#x: not zeroed", n, uintptr(p))
							return
						}
						v := byte(1 + rng.IntN(255))
						fillBlock(p, n, v)
						bag = append(bag, sblock{p, n, v})
					case k < 14: // free one of its own
						j := rng.IntN(len(bag))
						b := bag[j]
						bag[j] = bag[len(bag)-1]
						bag = bag[:len(bag)-1]
						if check(b) {
							if err := s.Free(b.p); err != nil {
								fail("Free: %v", err)
							}
						}
					default: // swap one with the exchange; free what was there
						j := rng.IntN(len(bag))
						b := bag[j]
						bag[j] = bag[len(bag)-1]
						bag = bag[:len(bag)-1]
						if old := exchange[rng.IntN(len(exchange))].Swap(&b); old != nil && check(*old) {
							if err := s.Free(old.p); err != nil {
								fail("Free of another goroutine's block: %v", err)
							}
						}
					}
				}
				bags[w] = bag
			})
		}
		wg.Wait()
		if failed.Load() {
			return
		}
		st := s.Stats()
		var want uint64
		for _, bag := range bags {
			for _, b := range bag {
				n, err := s.UsableSize(b.p)
				require.NoError(t, err)
				want += uint64(n)
			}
		}
		for i := range exchange {
			if b := exchange[i].Load(); b != nil {
				n, err := s.UsableSize(b.p)
				require.NoError(t, err)
				want += uint64(n)
			}
		}
		require.Equal(t, want, st.InUse, "round %d: Stats' InUse is the live blocks'", r)
	}
	for _, bag := range bags {
		for _, b := range bag {
			require.True(t, check(b))
			require.NoError(t, s.Free(b.p))
		}
	}
	for i := range exchange {
		if b := exchange[i].Swap(nil); b != nil {
			require.True(t, check(*b))
			require.NoError(t, s.Free(b.p))
		}
	}
	st := s.Stats()
	assert.Equal(t, uint64(0), st.InUse)
	assert.Equal(t, st.Allocs, st.Frees)
	var remote uint64
	for _, sh := range st.Shards {
		remote += sh.Remote
	}
	if len(s.shards) > 1 {
		assert.Greater(t, s.active.Load(), int32(1))
	}
	t.Logf("%d goroutines x %d rounds: %d allocs, %d frees left for collection, %d shards in use", g, rounds, st.Allocs, remote, s.active.Load())
}

// FuzzSyncFreeListShards interleaves the operations of two logical
// goroutines, each on a shard of its own, as the input schedules them:
// every byte is one step of one of them (allocate, free its own block,
// free the other's, free a block again, check Stats, Trim), so that a
// remote free, its collection and every double free meet in whatever
// order the input says. A model of the live blocks checks every answer,
// every pattern, and InUse; it ends with every block freed and the
// arena closed.
func FuzzSyncFreeListShards(f *testing.F) {
	f.Add([]byte{0, 2, 4, 1, 3, 5, 6, 8, 9, 11, 13, 15})
	f.Add([]byte{0, 16, 32, 1, 17, 33, 2, 4, 6, 3, 5, 7, 12, 13, 14})
	f.Add([]byte{0, 0, 0, 0, 4, 4, 5, 5, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Fuzz(func(t *testing.T, steps []byte) {
		if len(steps) > 4096 {
			return
		}
		for _, grown := range []bool{false, true} {
			fuzzShards(t, steps, grown)
		}
	})
}

// fuzzShards is FuzzSyncFreeListShards' run of steps, with two shards in
// use from the start if grown, else one until a step grows them.
func fuzzShards(t *testing.T, steps []byte, grown bool) {
	{
		s, err := newSyncFreeList(&Options{Name: "fuzz"}, 2, 0)
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		if grown {
			s.grow(1)
		}
		type live struct {
			sblock
			size uintptr // usable
		}
		var own [2][]live
		var freed []unsafe.Pointer // freed and not handed out again, newest last
		isLive := func(p unsafe.Pointer) bool {
			for _, l := range own {
				for _, b := range l {
					if b.p == p {
						return true
					}
				}
			}
			return false
		}
		var inUse uint64
		take := func(g int, j int) live {
			b := own[g][j]
			own[g][j] = own[g][len(own[g])-1]
			own[g] = own[g][:len(own[g])-1]
			return b
		}
		for i, x := range steps {
			g := int(x & 1)
			h := &s.shards[g]
			switch op := x >> 1 & 7; op {
			case 0, 1, 2: // allocate: sizes from the byte's top bits, and the step
				n := uintptr(1 + int(x>>4)*40 + i%24)
				p, err := s.allocOn(h, h.mu.TryLock(), n, 8, true)
				require.NoError(t, err)
				require.True(t, intact(p, n, 0), "step %d: not zeroed", i)
				require.False(t, isLive(p), "step %d: %#x handed out twice", i, uintptr(p))
				u, err := s.UsableSize(p)
				require.NoError(t, err)
				v := byte(i%255 + 1)
				fillBlock(p, n, v)
				own[g] = append(own[g], live{sblock{p, n, v}, u})
				inUse += uint64(u)
				for k, q := range freed {
					if q == p {
						freed = append(freed[:k], freed[k+1:]...)
						break
					}
				}
			case 3, 4, 5: // free: its own (3, 4) or the other's (5)
				from := g
				if op == 5 {
					from = 1 - g
				}
				if len(own[from]) == 0 {
					continue
				}
				b := take(from, int(x>>4)%len(own[from]))
				require.True(t, intact(b.p, b.n, b.fill), "step %d: pattern lost", i)
				require.NoError(t, s.free(b.p, g), "step %d", i)
				inUse -= uint64(b.size)
				freed = append(freed, b.p)
			case 6: // free again a block freed before, unless handed out since
				if len(freed) == 0 {
					continue
				}
				p := freed[int(x>>4)%len(freed)]
				err := s.free(p, g)
				require.Error(t, err, "step %d: a second Free of %#x", i, uintptr(p))
				require.True(t, errors.Is(err, ErrDoubleFree) || errors.Is(err, ErrInvalidFree), "step %d: %v", i, err)
			case 7: // Stats, or Trim; or the solo time's end
				if x&32 != 0 {
					s.collided(&s.shards[0])
					require.Equal(t, int32(2), s.active.Load())
				}
				if x&16 != 0 {
					require.NoError(t, s.Trim())
				}
				st := s.Stats()
				require.Equal(t, inUse, st.InUse, "step %d", i)
				require.Equal(t, st.Allocs-st.Frees, uint64(len(own[0])+len(own[1])), "step %d", i)
			}
		}
		for g := range own {
			for len(own[g]) > 0 {
				b := take(g, 0)
				require.True(t, intact(b.p, b.n, b.fill), "pattern lost")
				require.NoError(t, s.free(b.p, 1-g))
			}
		}
		require.Equal(t, uint64(0), s.Stats().InUse)
	}
}

// TestSharedStress has G = 2 x GOMAXPROCS goroutines allocate blocks of
// random sizes and alignments from one Shared at once, each filling its
// blocks with a pattern, in rounds of fresh goroutines; every block is
// zeroed when handed out, aligned, and still holds its pattern at the
// round's end (no two goroutines got the same bytes), and a Reset ends
// each round. A second run raises GOMAXPROCS past the shards, so that
// Ps share the spill shard's slab. -arena.long runs it ten times longer.
func TestSharedStress(t *testing.T) {
	for _, procs := range []int{runtime.GOMAXPROCS(0), shards + 8} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			sharedStress(t, procs)
		})
	}
}

// sharedStress is TestSharedStress at GOMAXPROCS procs, its work
// split between the goroutines.
func sharedStress(t *testing.T, procs int) {
	mapcheck.Baseline(t)
	s, err := NewShared(&Options{Name: "shared-stress"})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	g := 2 * procs
	rounds, ops := 3, 8000/procs
	if *long {
		rounds, ops = 30, 80000/procs
	}
	if testing.Short() || raceEnabled {
		ops /= 3
	}
	for r := range rounds {
		bags := make([][]sblock, g)
		var wg sync.WaitGroup
		for w := range g {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), uint64(w)))
				for range ops {
					n := uintptr(1 + rng.IntN(512))
					al := uintptr(1) << rng.IntN(7)
					p, err := s.Alloc(n, al)
					if err != nil {
						t.Errorf("Alloc(%d, %d): %v", n, al, err)
						return
					}
					if uintptr(p)%al != 0 || !intact(p, n, 0) {
						t.Errorf("Alloc(%d, %d) = %#x: misaligned or not zeroed", n, al, uintptr(p))
						return
					}
					v := byte(1 + rng.IntN(255))
					fillBlock(p, n, v)
					bags[w] = append(bags[w], sblock{p, n, v})
				}
			})
		}
		wg.Wait()
		for w, bag := range bags {
			for _, b := range bag {
				require.True(t, intact(b.p, b.n, b.fill), "round %d, goroutine %d: block at %#x overwritten", r, w, uintptr(b.p))
			}
		}
		s.Reset()
	}
}

// routes returns the shard each P of s is routed to.
func routes(s *SyncFreeList) []uint32 {
	out := make([]uint32, len(s.route))
	for p := range s.route {
		out[p] = s.route[p].Load()
	}
	return out
}

// TestSyncFreeListLoneGoroutine runs one goroutine's churn over
// GOMAXPROCS 4, yielding often so that the scheduler moves it between
// Ps: the arena keeps one shard in use, every P routed to it, so every
// block is that shard's and none is freed remotely. A second run has
// another goroutine ask Stats and Trim meanwhile, whose locks make the
// churn's TryLocks fail: no collision, still one shard, whose Frees
// wait for those locks rather than leave blocks for collection.
func TestSyncFreeListLoneGoroutine(t *testing.T) {
	mapcheck.Baseline(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	s, err := newSyncFreeList(&Options{Name: "lone"}, 4, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	ps := map[int]bool{}
	churn := func(seed uint64) {
		var slots [256]unsafe.Pointer
		rng := rand.New(rand.NewPCG(seed, 2))
		for i := range 20000 {
			r := rng.IntN(len(slots))
			if slots[r] != nil {
				require.NoError(t, s.Free(slots[r]))
			}
			slots[r], err = s.Alloc(uintptr(8+rng.IntN(1000)), 8)
			require.NoError(t, err)
			if i%64 == 0 {
				ps[procPin()] = true
				procUnpin()
				runtime.Gosched()
			}
		}
		for _, p := range slots {
			require.NoError(t, s.Free(p))
		}
	}
	check := func() Stats {
		assert.Equal(t, int32(1), s.active.Load())
		assert.Equal(t, make([]uint32, 4), routes(s))
		st := s.Stats()
		require.Len(t, st.Shards, 4)
		assert.Equal(t, st.Allocs, st.Shards[0].Allocs, "every block from shard 0")
		assert.Equal(t, uint64(0), st.InUse)
		return st
	}
	churn(1)
	assert.Equal(t, uint64(0), check().Shards[0].Remote)

	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.Stats()
			assert.NoError(t, s.Trim())
			runtime.Gosched()
		}
	})
	churn(2)
	close(stop)
	watcher.Wait()
	assert.Equal(t, uint64(0), check().Shards[0].Remote)
	t.Logf("ran on %d Ps", len(ps))
}

// TestSyncFreeListGrowth checks the growth rule: a collision on a shard
// several Ps share doubles the shards in use, up to one per P, and
// routes P i to shard i modulo their number; one during a lockAll, or
// on a shard one P has alone, changes nothing.
func TestSyncFreeListGrowth(t *testing.T) {
	s, err := newSyncFreeList(&Options{Name: "grow"}, 5, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	require.Equal(t, []uint32{0, 0, 0, 0, 0}, routes(s))

	s.lockAll()
	s.collided(&s.shards[0]) // Stats' locks: no collision
	s.unlockAll()
	assert.Equal(t, int32(1), s.active.Load())

	s.collided(&s.shards[0])
	assert.Equal(t, int32(2), s.active.Load())
	assert.Equal(t, []uint32{0, 1, 0, 1, 0}, routes(s))

	s.collided(&s.shards[1]) // shard 1 is P 1's and P 3's
	assert.Equal(t, int32(4), s.active.Load())
	assert.Equal(t, []uint32{0, 1, 2, 3, 0}, routes(s))

	s.collided(&s.shards[1]) // P 1's alone now: a late report of the last one
	s.collided(&s.shards[3])
	assert.Equal(t, int32(4), s.active.Load())

	s.collided(&s.shards[0]) // P 0's and P 4's
	assert.Equal(t, int32(5), s.active.Load())
	assert.Equal(t, []uint32{0, 1, 2, 3, 4}, routes(s))
	s.collided(&s.shards[0])
	assert.Equal(t, int32(5), s.active.Load())
}

// TestSyncFreeListCollision has a goroutine Alloc while its shard's
// mutex is held by another (the test): the Alloc waits, and the shards
// in use double meanwhile. Blocks handed out before stay their shard's
// and are freed as before; the one freed twice is refused by its live
// bit, which the end of the solo time set.
func TestSyncFreeListCollision(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "collide"}, 2, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	old, err := s.Alloc(64, 8)
	require.NoError(t, err)
	h := &s.shards[0]
	h.mu.Lock()
	done := make(chan unsafe.Pointer)
	go func() {
		p, err := s.Alloc(64, 8)
		assert.NoError(t, err)
		done <- p
	}()
	for s.growMu.TryLock() { // until the Alloc, having collided, grows (and waits for h.mu to end the solo time)
		s.growMu.Unlock()
		runtime.Gosched()
	}
	h.mu.Unlock()
	p := <-done
	assert.Equal(t, int32(2), s.active.Load())
	assert.Equal(t, []uint32{0, 1}, routes(s))
	require.NoError(t, s.Free(p))
	require.NoError(t, s.Free(old))
	assert.ErrorIs(t, s.Free(old), ErrDoubleFree)
	st := s.Stats()
	assert.Equal(t, uint64(0), st.InUse)
	assert.Equal(t, uint64(2), st.Shards[0].Allocs, "both from shard 0, routed there before the growth")
}

// TestSyncFreeListSteal has shard 1 hold free blocks of a class in
// several partly used spans, as a goroutine moved off its P leaves
// them: shard 0, with none of that class, takes a block of shard 1's
// rather than cut a span; the block is shard 1's, freed there, and
// shard 0 maps nothing. With only one partly used span to spare there,
// shard 0 cuts its own.
func TestSyncFreeListSteal(t *testing.T) {
	mapcheck.Baseline(t)
	s, err := newSyncFreeList(&Options{Name: "steal"}, 2, 0)
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	s.grow(1)
	h0, h1 := &s.shards[0], &s.shards[1]
	c := classFor(48, 8)
	per := int(classBlocks[c])
	var ps []unsafe.Pointer
	for range 3 * per {
		p, err := s.allocOn(h1, h1.mu.TryLock(), 48, 8, true)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	for i := 0; i < len(ps); i += 2 { // a free block in every span
		require.NoError(t, s.free(ps[i], 1))
	}
	require.GreaterOrEqual(t, len(h1.st.classes[c].partial), 2)
	p, err := s.allocOn(h0, h0.mu.TryLock(), 48, 8, true)
	require.NoError(t, err)
	assert.True(t, intact(p, 48, 0), "a stolen block is cleared")
	assert.Equal(t, int32(1), s.index.get(uintptr(p)).owner, "shard 1's block")
	st := s.Stats()
	assert.Equal(t, uint64(0), st.Shards[0].Committed, "shard 0 mapped nothing")
	assert.Equal(t, uint64(0), st.Shards[0].Allocs)
	require.NoError(t, s.free(p, 0))

	// Free shard 1's blocks until one partly used span is left: shard
	// 0 then cuts a span of its own.
	for i := 1; i < len(ps); i += 2 {
		if i < 2*per {
			require.NoError(t, s.free(ps[i], 1))
		}
	}
	require.NoError(t, s.Trim())
	require.Len(t, h1.st.classes[c].partial, 1)
	q, err := s.allocOn(h0, h0.mu.TryLock(), 48, 8, true)
	require.NoError(t, err)
	assert.Equal(t, int32(0), s.index.get(uintptr(q)).owner, "shard 0's own block")
	require.NoError(t, s.free(q, 0))
	for i := 1; i < len(ps); i += 2 {
		if i >= 2*per {
			require.NoError(t, s.free(ps[i], 1))
		}
	}
	assert.Equal(t, uint64(0), s.Stats().InUse)
}
