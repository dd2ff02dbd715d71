//go:build linux

package shmlock_test

import (
	"encoding/binary"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/shmlock"
)

var stress = flag.Bool("shmlock.stress", false, "run the cross-process tests with 100x the increments")

// The shared page's layout in these tests: the Mutex at 0, a counter at
// 8 that the lock guards, at 16 a flag the child sets once it holds
// the lock, at 17 one it sets once it has attached, and at 18 one that
// is set only inside the critical section of TestKillAnywhere.
const (
	offCounter = 8
	offHeld    = 16
	offReady   = 17
	offMidOp   = 18
)

// Child modes, chosen by SHMLOCK_CHILD: count increments the counter
// under the lock; hold takes the lock, sets the flag and sleeps until it
// is killed.
const envChild = "SHMLOCK_CHILD"

func increments() int {
	if *stress {
		return 10_000_000
	}
	return 100_000
}

// shared maps one shared page and returns it with the Mutex in it.
func shared(t testing.TB) (*guard.Region, *shmlock.Mutex) {
	t.Helper()
	r, err := guard.MapShared(align.PageSize(), &guard.Options{Name: "shmlock"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	m, err := shmlock.At(r.Bytes())
	require.NoError(t, err)
	return r, m
}

// child starts this test binary again in mode, with r's memfd as fd 3.
func child(t testing.TB, r *guard.Region, mode string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+mode, "SHMLOCK_N="+strconv.Itoa(n))
	f, err := r.SharedFile()
	require.NoError(t, err)
	defer f.Close() // the child has its own once started
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

// runChild is the child's half of the cross-process tests, run by
// TestMain in a test binary started by child instead of the tests.
func runChild(mode string) {
	fail := func(err error) {
		os.Stderr.WriteString("shmlock child: " + err.Error() + "\n")
		os.Exit(1)
	}
	r, err := guard.AttachShared(3, align.PageSize(), &guard.Options{Name: "child"})
	if err != nil {
		fail(err)
	}
	b := r.Bytes()
	m, err := shmlock.At(b)
	if err != nil {
		fail(err)
	}
	n, _ := strconv.Atoi(os.Getenv("SHMLOCK_N"))
	switch mode {
	case "count":
		b[offReady] = 1
		for range n {
			if err := m.Lock(); err != nil {
				fail(err)
			}
			increment(b)
			m.Unlock()
		}
	case "forever":
		b[offReady] = 1
		for {
			if err := m.Lock(); err != nil && !errors.Is(err, shmlock.ErrOwnerDead) {
				fail(err)
			}
			b[offMidOp] = 1
			increment(b)
			b[offMidOp] = 0
			m.MarkConsistent()
			m.Unlock()
		}
	case "hold":
		if err := m.Lock(); err != nil {
			fail(err)
		}
		// Half an update, as a holder killed mid-operation leaves it.
		binary.LittleEndian.PutUint64(b[offCounter:], 1<<40)
		b[offHeld] = 1
		time.Sleep(time.Minute)
		fail(errors.New("not killed"))
	}
	os.Exit(0)
}

// increment adds one to the counter with a plain load and store: only
// the lock keeps two of them from losing an update.
func increment(b []byte) {
	v := binary.LittleEndian.Uint64(b[offCounter:])
	binary.LittleEndian.PutUint64(b[offCounter:], v+1)
}

// waitFlag waits for the child to set b[off]. A plain load suffices:
// another process's store is no data race the Go memory model sees, and
// the call to time.Sleep makes the loop load b[off] afresh.
func waitFlag(t testing.TB, b []byte, off int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b[off] == 0 {
		require.True(t, time.Now().Before(deadline), "the child never set its flag")
		time.Sleep(time.Millisecond)
	}
}

// TestCrossProcess increments one counter from two processes and from
// two goroutines of this one, all under the lock; the total is exact.
func TestCrossProcess(t *testing.T) {
	mapcheck.Baseline(t)
	r, m := shared(t)
	b := r.Bytes()
	n := increments()
	cmd := child(t, r, "count", n)
	waitFlag(t, b, offReady) // so that the two processes contend
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range n {
				require.NoError(t, m.Lock())
				increment(b)
				m.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, cmd.Wait())
	assert.Equal(t, uint64(3*n), binary.LittleEndian.Uint64(b[offCounter:]))
	assert.Equal(t, "unlocked", m.String())
}

// TestOwnerDead kills the child with SIGKILL while it holds the lock.
// The parent's Lock reports ErrOwnerDead (before the child is reaped:
// a zombie is dead too), holding the lock; the data stays suspect for
// every locker until someone repairs it and calls MarkConsistent.
func TestOwnerDead(t *testing.T) {
	mapcheck.Baseline(t)
	r, m := shared(t)
	b := r.Bytes()
	cmd := child(t, r, "hold", 0)
	waitFlag(t, b, offHeld)
	assert.Equal(t, "held by pid "+strconv.Itoa(cmd.Process.Pid), m.String())
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))

	start := time.Now()
	err := m.Lock()
	took := time.Since(start)
	require.ErrorIs(t, err, shmlock.ErrOwnerDead)
	assert.ErrorIs(t, err, unix.EOWNERDEAD)
	assert.Less(t, took, 2*time.Second, "found within the polling bound")
	t.Logf("owner death found in %v", took)
	assert.Contains(t, m.String(), "held by pid "+strconv.Itoa(os.Getpid()))
	assert.Contains(t, m.String(), "inconsistent")
	assert.Error(t, cmd.Wait(), "killed")

	// Unlocking without repair leaves the data suspect.
	m.Unlock()
	require.ErrorIs(t, m.Lock(), shmlock.ErrOwnerDead)
	// Repair: the child left the counter half updated.
	assert.Equal(t, uint64(1<<40), binary.LittleEndian.Uint64(b[offCounter:]))
	binary.LittleEndian.PutUint64(b[offCounter:], 0)
	m.MarkConsistent()
	m.Unlock()

	// And the lock works on, across processes.
	n := increments() / 10
	cmd = child(t, r, "count", n)
	for range n {
		require.NoError(t, m.Lock())
		increment(b)
		m.Unlock()
	}
	require.NoError(t, cmd.Wait())
	assert.Equal(t, uint64(2*n), binary.LittleEndian.Uint64(b[offCounter:]))
}

// TestKillAnywhere kills a child that locks and unlocks in a loop, at a
// random moment, while this process competes for the lock: whatever the
// child was doing (in the critical section, asleep in FUTEX_WAIT with
// the waiters bit set, unlocking), the next Lock returns within the
// polling bound, and returns nil only if the child was outside the
// critical section. Rounds: 3, or 100 with -shmlock.stress.
func TestKillAnywhere(t *testing.T) {
	mapcheck.Baseline(t)
	r, m := shared(t)
	b := r.Bytes()
	rounds := 3
	if *stress {
		rounds = 100
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	var died int
	var slowest time.Duration
	for round := range rounds {
		b[offReady] = 0
		cmd := child(t, r, "forever", 0)
		waitFlag(t, b, offReady)
		stop := time.Now().Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		for time.Now().Before(stop) {
			require.NoError(t, m.Lock())
			increment(b)
			m.Unlock()
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		start := time.Now()
		err := m.Lock()
		took := time.Since(start)
		require.Less(t, took, 2*time.Second, "round %d", round)
		slowest = max(slowest, took)
		if err == nil {
			assert.Zero(t, b[offMidOp], "round %d: Lock returned nil with the child inside the critical section", round)
		} else {
			require.ErrorIs(t, err, shmlock.ErrOwnerDead)
			died++
			b[offMidOp] = 0 // repair: the counter is whole either way
			m.MarkConsistent()
		}
		m.Unlock()
		_ = cmd.Wait()
	}
	t.Logf("%d of %d children died holding the lock; the slowest Lock after a kill took %v", died, rounds, slowest)
}

func TestAt(t *testing.T) {
	b := make([]byte, 16)
	_, err := shmlock.At(b[:7])
	assert.ErrorContains(t, err, "8 bytes")
	_, err = shmlock.At(b[1:])
	assert.ErrorContains(t, err, "alignment")
	m, err := shmlock.At(b)
	require.NoError(t, err)
	require.NoError(t, m.Lock())
	assert.NotEqual(t, make([]byte, 8), b[:8], "the lock word is in b")
	m.Unlock()
	assert.Equal(t, make([]byte, 8), b[:8], "unlocked is zero")
}

func TestUnlockUnlocked(t *testing.T) {
	var m shmlock.Mutex
	assert.PanicsWithValue(t, "shmlock: unlock of unlocked mutex", m.Unlock)
}

// TestNoLostWakeups hands the lock back and forth between many
// goroutines with short critical sections, the pattern in which a lost
// wake-up shows as a waiter asleep for a whole polling interval: the run
// must finish far faster than waiters*rounds*5ms.
func TestNoLostWakeups(t *testing.T) {
	var m shmlock.Mutex
	const waiters, rounds = 8, 2000
	count := 0
	start := time.Now()
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			for range rounds {
				require.NoError(t, m.Lock())
				count++
				m.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, waiters*rounds, count)
	assert.Less(t, time.Since(start), 10*time.Second)
}

// BenchmarkLock is an uncontended Lock and Unlock, against sync.Mutex
// (the cross-process lock's target is at most 2x).
func BenchmarkLock(b *testing.B) {
	b.Run("lock=shmlock", func(b *testing.B) {
		var m shmlock.Mutex
		b.ReportAllocs()
		for b.Loop() {
			if m.Lock() != nil {
				b.Fatal("lock")
			}
			m.Unlock()
		}
	})
	b.Run("lock=sync", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			m.Unlock()
		}
	})
}

// BenchmarkLockContended is Lock and Unlock while a peer does the same in
// a loop: a goroutine of this process (against sync.Mutex for scale) or
// another process, whose Unlock must wake this one through the kernel.
func BenchmarkLockContended(b *testing.B) {
	b.Run("lock=sync/peer=goroutine", func(b *testing.B) {
		var m sync.Mutex
		contendInProcess(b, func() error { m.Lock(); return nil }, m.Unlock)
	})
	b.Run("lock=shmlock/peer=goroutine", func(b *testing.B) {
		var m shmlock.Mutex
		contendInProcess(b, m.Lock, m.Unlock)
	})
	b.Run("lock=shmlock/peer=process", func(b *testing.B) {
		mapcheck.Baseline(b)
		r, m := shared(b)
		cmd := child(b, r, "forever", 0)
		waitFlag(b, r.Bytes(), offReady)
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Lock(); err != nil {
				b.Fatal(err)
			}
			m.Unlock()
		}
		b.StopTimer()
		if err := cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		_ = cmd.Wait()
		// The child may have died holding the lock; nothing else runs.
		if err := m.Lock(); err != nil && !errors.Is(err, shmlock.ErrOwnerDead) {
			b.Fatal(err)
		}
		m.MarkConsistent()
		m.Unlock()
	})
}

// contendInProcess times lock and unlock while a goroutine of this
// process does the same in a loop until the benchmark ends.
func contendInProcess(b *testing.B, lock func() error, unlock func()) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if lock() != nil {
				panic("shmlock: the peer goroutine's Lock failed")
			}
			unlock()
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := lock(); err != nil {
			b.Fatal(err)
		}
		unlock()
	}
	close(stop)
	<-done
}

// TestMain runs the child half of the cross-process tests when this
// binary was started as the child (child sets envChild), and the tests
// otherwise.
func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		runChild(mode)
	}
	os.Exit(m.Run())
}
