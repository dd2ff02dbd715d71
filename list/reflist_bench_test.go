//go:build linux

package list_test

import (
	"container/list"
	"flag"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
	mlist "github.com/mmarena/mmarena/list"
)

// traversalNodes is the length of BenchmarkRefListTraversal's list; a
// shorter one fits cachegrind's patience.
var traversalNodes = flag.Int("list.nodes", 10_000_000, "nodes in BenchmarkRefListTraversal's list")

// BenchmarkRefListTraversal follows a 10M-node list front to back.
// mem=memfd/links=ref is a RefList in a Memfd: each step resolves a Ref
// (a subtraction, a mask, bound checks and an add against the arena's
// key, size and base). mem=memfd/links=pointer is the private List with
// its slabs carved from a Memfd, the same memory followed by address;
// mem=bump/links=pointer the List on a Bump; mem=goheap container/list.
// order=pushed lays the nodes out in list order, so a traversal streams
// through memory; order=shuffled removes every node in a random order
// and pushes them all again, so the free list hands them back shuffled
// and each step lands on an unrelated line (a cache miss per node). One
// op is one whole traversal; ns/node is the figure to compare.
func BenchmarkRefListTraversal(b *testing.B) {
	n := *traversalNodes
	report := func(b *testing.B, sum int64) {
		if sum != int64(n)*int64(n-1)/2 {
			b.Fatalf("sum %d, want %d", sum, int64(n)*int64(n-1)/2)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/node")
	}
	perm := rand.New(rand.NewPCG(1, 2)).Perm(n)
	type root struct{ L mlist.RefHead[int64] }
	newMemfd := func(b *testing.B) (*arena.Memfd, *root) {
		mapcheck.Baseline(b)
		a, r, err := arena.CreateMemfd[root](&arena.Options{Name: "traversal", Limit: 1 << 30})
		require.NoError(b, err)
		b.Cleanup(func() { _ = a.Close() })
		require.NoError(b, a.Lock())
		b.Cleanup(a.Unlock)
		return a, r
	}
	for _, order := range []string{"pushed", "shuffled"} {
		b.Run("order="+order+"/mem=memfd/links=ref", func(b *testing.B) {
			a, r := newMemfd(b)
			l, err := mlist.OnMemfd(a, &r.L)
			require.NoError(b, err)
			es := make([]*mlist.RefElement[int64], n)
			for i := range n {
				es[i], err = l.PushBack(int64(i))
				require.NoError(b, err)
			}
			if order == "shuffled" {
				for _, i := range perm {
					_, err := l.Remove(es[i])
					require.NoError(b, err)
				}
				for i := range int64(n) {
					_, err := l.PushBack(i)
					require.NoError(b, err)
				}
			}
			es = nil
			var sum int64
			for b.Loop() {
				sum = 0
				for e := l.Front(); e != nil; e = l.Next(e) {
					sum += e.Value
				}
			}
			report(b, sum)
		})
		for _, mem := range []string{"memfd", "bump"} {
			b.Run("order="+order+"/mem="+mem+"/links=pointer", func(b *testing.B) {
				var al align.Allocator
				if mem == "memfd" {
					al, _ = newMemfd(b)
				} else {
					mapcheck.Baseline(b)
					ba, err := arena.NewBump(nil)
					require.NoError(b, err)
					b.Cleanup(func() { _ = ba.Close() })
					al = ba
				}
				l, err := mlist.New[int64](al, nil)
				require.NoError(b, err)
				es := make([]*mlist.Element[int64], n)
				for i := range n {
					es[i], err = l.PushBack(int64(i))
					require.NoError(b, err)
				}
				if order == "shuffled" {
					for _, i := range perm {
						_, err := l.Remove(es[i])
						require.NoError(b, err)
					}
					for i := range int64(n) {
						_, err := l.PushBack(i)
						require.NoError(b, err)
					}
				}
				es = nil
				var sum int64
				for b.Loop() {
					sum = 0
					for e := l.Front(); e != nil; e = e.Next() {
						sum += e.Value
					}
				}
				report(b, sum)
			})
		}
	}
	b.Run("order=pushed/mem=goheap/links=pointer", func(b *testing.B) {
		l := list.New()
		for i := range int64(n) {
			l.PushBack(i)
		}
		var sum int64
		for b.Loop() {
			sum = 0
			for e := l.Front(); e != nil; e = e.Next() {
				sum += e.Value.(int64)
			}
		}
		report(b, sum)
	})
}

// ping is the value the latency benchmark passes: who pushed it, its
// number, and CLOCK_MONOTONIC (one clock for every process) at the push;
// the echo's reply carries how long the ping took to be seen.
type ping struct {
	Side, I uint32
	At      int64 // ns, CLOCK_MONOTONIC, when the push was made
	Seen    int64 // ns from the ping's push until the other side saw it
}

type pingRoot struct {
	L     mlist.RefHead[ping]
	ready uint32
}

// monotonic returns CLOCK_MONOTONIC in ns, which every process on the
// machine reads alike (Go's time.Now is relative to its own process).
func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// runEchoChild is the other side of BenchmarkRefListCrossProcess: it
// polls the list under the lock, and answers each ping it finds with a
// pong that says how long the ping took to be seen, until ping n-1.
func runEchoChild(n int, fail func(error)) {
	a, root, err := arena.AttachMemfd[pingRoot](os.NewFile(3, "memfd"), &arena.Options{Name: "echo"})
	if err != nil {
		fail(err)
	}
	atomic.StoreUint32(&root.ready, 1)
	for done := false; !done; {
		if err := a.Lock(); err != nil {
			fail(err)
		}
		l, err := mlist.OnMemfd(a, &root.L)
		if err != nil {
			fail(err)
		}
		if e := l.Back(); e != nil && e.Value.Side == 1 {
			p := e.Value
			p.Seen = monotonic() - p.At
			if _, err := l.Remove(e); err != nil {
				fail(err)
			}
			p.Side = 2
			if _, err := l.PushBack(p); err != nil {
				fail(err)
			}
			done = int(p.I) == n-1
		}
		a.Unlock()
	}
	os.Exit(0)
}

// BenchmarkRefListCrossProcess measures how long a push takes to be
// seen by another process: this process pushes a ping (under the
// arena's lock) stamped with CLOCK_MONOTONIC, a child process attached
// to the same Memfd polls the list under the lock, and on finding the
// ping records how long after the push that was. The median and 99th
// percentile of those are p50-ns and p99-ns; ns/op is the whole round
// trip (the child's pong seen here). Both sides poll, so each takes a
// core: on a machine with fewer idle cores than two the figures measure
// the scheduler as much as the list. There is no Go heap line: goroutines
// of one process share memory without a mapping, and the figure to set
// this beside is BenchmarkMemfdLock's.
func BenchmarkRefListCrossProcess(b *testing.B) {
	b.Run("peer=process", func(b *testing.B) {
		mapcheck.Baseline(b)
		a, root, err := arena.CreateMemfd[pingRoot](&arena.Options{Name: "ping"})
		require.NoError(b, err)
		defer a.Close()
		require.NoError(b, a.Lock())
		l, err := mlist.OnMemfd(a, &root.L)
		require.NoError(b, err)
		a.Unlock()
		n := b.N
		cmd := refChild(b, a, "echo", n)
		require.Eventually(b, func() bool { return atomic.LoadUint32(&root.ready) != 0 }, 10*time.Second, time.Millisecond)
		seen := make([]int64, 0, n)
		b.ResetTimer()
		for i := range n {
			require.NoError(b, a.Lock())
			_, err := l.PushBack(ping{Side: 1, I: uint32(i), At: monotonic()})
			require.NoError(b, err)
			a.Unlock()
			for got := false; !got; {
				require.NoError(b, a.Lock())
				if e := l.Back(); e != nil && e.Value.Side == 2 {
					require.Equal(b, uint32(i), e.Value.I)
					seen = append(seen, e.Value.Seen)
					_, err := l.Remove(e)
					require.NoError(b, err)
					got = true
				}
				a.Unlock()
			}
		}
		b.StopTimer()
		require.NoError(b, cmd.Wait())
		slices.Sort(seen)
		b.ReportMetric(float64(seen[len(seen)/2]), "p50-ns")
		b.ReportMetric(float64(seen[len(seen)*99/100]), "p99-ns")
		b.Logf("n=%s: seen after %d ns (p50), %d ns (p99), %d ns (max)", strconv.Itoa(n), seen[len(seen)/2], seen[len(seen)*99/100], seen[len(seen)-1])
	})
}
