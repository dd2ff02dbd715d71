package arena_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/inject"
	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/internal/procmaps"
	"github.com/mmarena/mmarena/list"
)

// injKinds are the arenas FuzzInjectedOps drives, by kind byte mod 6:
// the four arena kinds, and a list on a Bump and on a FreeList.
var injKinds = [...]string{"bump", "shared", "freelist", "syncfreelist", "list-bump", "list-freelist"}

// injArena is one arena under injected failures, with the model of what
// it handed out.
type injArena struct {
	t     *testing.T
	kind  int
	name  string
	bump  *arena.Bump
	sh    *arena.Shared
	fl    *arena.FreeList
	sfl   *arena.SyncFreeList
	l     *list.List[[4]uint64]
	lvals [][4]uint64 // the list's elements, front to back
	live  []injBlock
	tag   byte
	gen   int // arenas opened so far, for unique names
	opts  arena.Options
}

// injBlock is a live allocation and the byte written into all of it.
type injBlock struct {
	p   unsafe.Pointer
	n   uintptr
	tag byte
}

// injCounts, when MMARENA_INJECT_STATS names a directory, are written
// there after each input by each fuzzing process (one file per process:
// inputs, operations, injected failures), so that a long run's totals
// can be added up.
var injCounts struct{ inputs, ops, failures uint64 }

func (a *injArena) open() {
	a.gen++
	a.name = fmt.Sprintf("inject-%s-%d", injKinds[a.kind], a.gen)
	opts := &arena.Options{Name: a.name, InitialSize: 16 << 10, MaxChunk: 256 << 10,
		Quarantine: a.opts.Quarantine, ResetRelease: a.opts.ResetRelease,
		Sample: a.opts.Sample}
	if a.kind != 0 && a.kind != 1 {
		opts.Quarantine, opts.ResetRelease = 0, false // Reset options of Bump and Shared only
	}
	if a.kind == 2 || a.kind == 3 || a.kind == 5 {
		opts.InitialSize, opts.MaxChunk = 0, 0 // a FreeList's chunks are 4 MiB: it refuses both
	}
	if a.kind == 1 || a.kind >= 4 {
		opts.Sample = nil // Shared does not sample; lists run on plain arenas
	}
	var err error
	// Opening maps nothing; a failure here is not injected.
	switch a.kind {
	case 0, 4:
		a.bump, err = arena.NewBump(opts)
	case 1:
		a.sh, err = arena.NewShared(opts)
	case 2, 5:
		a.fl, err = arena.NewFreeList(opts)
	case 3:
		a.sfl, err = arena.NewSyncFreeList(opts)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	if a.kind >= 4 {
		var al align.Allocator = a.bump
		if a.kind == 5 {
			al = a.fl
		}
		if a.l, err = list.New[[4]uint64](al, nil); err != nil {
			a.t.Fatal(err)
		}
		a.lvals = nil
	}
	a.live = nil
}

func (a *injArena) alloc(size, al uintptr) (unsafe.Pointer, error) {
	switch {
	case a.bump != nil:
		return a.bump.Alloc(size, al)
	case a.sh != nil:
		return a.sh.Alloc(size, al)
	case a.fl != nil:
		return a.fl.Alloc(size, al)
	}
	return a.sfl.Alloc(size, al)
}

func (a *injArena) free(p unsafe.Pointer) error {
	if a.fl != nil {
		return a.fl.Free(p)
	}
	return a.sfl.Free(p)
}

func (a *injArena) close() error {
	var err error
	switch {
	case a.bump != nil:
		err = a.bump.Close()
	case a.sh != nil:
		err = a.sh.Close()
	case a.fl != nil:
		err = a.fl.Close()
	default:
		err = a.sfl.Close()
	}
	a.bump, a.sh, a.fl, a.sfl, a.l, a.live, a.lvals = nil, nil, nil, nil, nil, nil, nil
	return err
}

// committed and resident are the arena's Stats.
func (a *injArena) stats() (committed, resident uint64) {
	switch {
	case a.bump != nil:
		s := a.bump.Stats()
		return s.Committed, s.Resident
	case a.sh != nil:
		s := a.sh.Stats()
		return s.Committed, s.Resident
	case a.fl != nil:
		s := a.fl.Stats()
		return s.Committed, s.Resident
	}
	s := a.sfl.Stats()
	return s.Committed, s.Resident
}

// step runs one operation and returns its error, if any.
func (a *injArena) step(op, arg byte) error {
	if a.l != nil {
		return a.listStep(op, arg)
	}
	canFree := a.fl != nil || a.sfl != nil
	if a.frozen() && op%10 < 7 {
		op = 9 // allocation is refused while frozen: thaw instead
	}
	switch op % 10 {
	case 0, 1, 2: // small
		return a.allocOne(uintptr(arg%64+1)*8, 8<<(arg%4))
	case 3: // medium, up to 64 KiB
		return a.allocOne(uintptr(arg)*256+1, 16)
	case 4: // large: a chunk of its own, or a FreeList's large block
		al := uintptr(64)
		if canFree && arg&1 != 0 {
			al = 8192 // more than a page: a mapping trimmed to alignment
		}
		return a.allocOne(uintptr(arg%32+1)*(32<<10)+uintptr(arg), al)
	case 5:
		if canFree {
			return a.freeOne(int(arg))
		}
		a.live = nil // Reset frees everything
		if a.bump != nil {
			a.bump.Reset()
		} else {
			a.sh.Reset()
		}
		return nil
	case 6:
		if canFree {
			return a.freeOne(int(arg))
		}
		if a.bump != nil {
			return a.bump.Trim()
		}
		return a.sh.Trim()
	case 8:
		return a.freeze(true)
	case 9:
		return a.freeze(false)
	}
	// Close and open another: the closed arena's ranges go to the
	// quarantine, which is small enough here to evict.
	err := a.close()
	a.open()
	return err
}

// frozen reports whether the arena says it is read-only.
func (a *injArena) frozen() bool {
	switch {
	case a.bump != nil:
		_, err := a.bump.State()
		return errors.Is(err, arena.ErrFrozen)
	case a.fl != nil:
		_, err := a.fl.State()
		return errors.Is(err, arena.ErrFrozen)
	}
	return false
}

// freeze freezes or thaws the arenas that can be.
func (a *injArena) freeze(on bool) error {
	switch {
	case a.bump != nil && on:
		return a.bump.Freeze()
	case a.bump != nil:
		return a.bump.Thaw()
	case a.fl != nil && on:
		return a.fl.Freeze()
	case a.fl != nil:
		return a.fl.Thaw()
	}
	return nil
}

func (a *injArena) allocOne(size, al uintptr) error {
	p, err := a.alloc(size, al)
	if err != nil {
		return err
	}
	if uintptr(p)%al != 0 {
		a.t.Fatalf("%d bytes at %#x not aligned to %d", size, p, al)
	}
	mem := unsafe.Slice((*byte)(p), size)
	if !isZero(mem) {
		a.t.Fatalf("%d bytes at %#x not zeroed", size, p)
	}
	a.tag = a.tag%254 + 1
	for i := range mem {
		mem[i] = a.tag
	}
	a.live = append(a.live, injBlock{p, size, a.tag})
	return nil
}

func (a *injArena) freeOne(i int) error {
	if len(a.live) == 0 {
		return nil
	}
	i %= len(a.live)
	if err := a.free(a.live[i].p); err != nil {
		return err
	}
	a.live[i] = a.live[len(a.live)-1]
	a.live = a.live[:len(a.live)-1]
	return nil
}

func (a *injArena) listStep(op, arg byte) error {
	switch op % 4 {
	case 0, 1:
		a.tag = a.tag%254 + 1
		v := [4]uint64{uint64(a.tag), uint64(arg), uint64(a.tag) << 32, ^uint64(a.tag)}
		if _, err := a.l.PushBack(v); err != nil {
			return err
		}
		a.lvals = append(a.lvals, v)
	case 2:
		if e := a.l.Front(); e != nil {
			if _, err := a.l.Remove(e); err != nil {
				return err
			}
			a.lvals = a.lvals[1:]
		}
	default:
		// Many at once: a slab from the arena, or the whole push refused.
		other, err := list.New[[4]uint64](a.bumpOrFL(), nil)
		if err != nil {
			return err
		}
		var add [][4]uint64
		for i := range int(arg%64) + 1 {
			v := [4]uint64{uint64(i), uint64(arg), 7, 9}
			if _, err := other.PushBack(v); err != nil {
				return err // other is dropped; its nodes are the arena's
			}
			add = append(add, v)
		}
		if err := a.l.PushBackList(other); err != nil {
			return err
		}
		a.lvals = append(a.lvals, add...)
	}
	return nil
}

func (a *injArena) bumpOrFL() align.Allocator {
	if a.bump != nil {
		return a.bump
	}
	return a.fl
}

// verify checks the model: every live block holds its pattern, the list
// holds its values, and the arena's stats agree with the kernel.
func (a *injArena) verify(what string) {
	t := a.t
	for _, b := range a.live {
		mem := unsafe.Slice((*byte)(b.p), b.n)
		for i, x := range mem {
			if x != b.tag {
				t.Fatalf("after %s: block [%#x, +%d) byte %d is %#x, written %#x", what, b.p, b.n, i, x, b.tag)
			}
		}
	}
	if a.l != nil {
		if a.l.Len() != len(a.lvals) {
			t.Fatalf("after %s: list has %d elements, the model %d", what, a.l.Len(), len(a.lvals))
		}
		i := 0
		for e := range a.l.All() {
			if e.Value != a.lvals[i] {
				t.Fatalf("after %s: element %d is %v, pushed %v", what, i, e.Value, a.lvals[i])
			}
			i++
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	committed, resident := a.stats()
	ms, err := procmaps.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	snap := arena.TakeSnapshot()
	var ranges []arena.Range
	for _, s := range snap.Arenas {
		if s.Name == a.name {
			ranges = s.Ranges
		}
	}
	var sum uint64
	for _, r := range ranges {
		sum += r.End - r.Start
		if !covered(ms, uintptr(r.Start), uintptr(r.End)) {
			t.Fatalf("after %s: the arena's range [%#x, %#x) is not all mapped", what, r.Start, r.End)
		}
	}
	if sum != committed && (a.opts.Quarantine == 0 || sum > committed) { // quarantined chunks are committed, not published
		t.Fatalf("after %s: Stats.Committed is %d, the published ranges hold %d", what, committed, sum)
	}
	// Every page written is in RAM (mincore), and RAM is within what is
	// committed. Sampled blocks (Options.Sample) live in the sampling
	// pool's own regions, which Committed and Resident do not count.
	ps := uintptr(os.Getpagesize())
	pages := map[uintptr]bool{}
	for _, b := range a.live {
		if guard.Lookup(uintptr(b.p)).Region != a.name {
			continue
		}
		for p := uintptr(b.p) &^ (ps - 1); p < uintptr(b.p)+b.n; p += ps {
			pages[p] = true
		}
	}
	if touched := uint64(len(pages)) * uint64(ps); resident < touched || resident > committed {
		t.Fatalf("after %s: Resident %d, but %d bytes of pages written and %d committed", what, resident, touched, committed)
	}
}

// covered reports whether [lo, hi) lies in mapped lines of ms.
func covered(ms []procmaps.Mapping, lo, hi uintptr) bool {
	for _, m := range procmaps.Overlapping(ms, lo, hi) {
		if m.Start > lo {
			return false
		}
		lo = m.End
		if lo >= hi {
			return true
		}
	}
	return lo >= hi
}

// FuzzInjectedOps runs random operation sequences on every arena kind
// and on a list, with one in every few system calls guard makes failing
// on purpose (internal/inject, seeded by the input). After each step it
// checks that an error wraps the injected errno, that every live block
// still holds the pattern written into it, that the list holds what was
// pushed, and that the arena's stats agree with /proc/self/maps and
// mincore; at the end, that Close leaves nothing mapped once the
// quarantine is flushed.
func FuzzInjectedOps(f *testing.F) {
	for k := range byte(len(injKinds)) {
		f.Add(uint64(k)+1, byte(3), k, []byte{0, 1, 4, 9, 3, 200, 5, 0, 4, 31, 1, 7, 6, 2, 7, 0, 4, 3, 0, 0})
	}
	f.Fuzz(func(t *testing.T, seed uint64, every byte, kind byte, ops []byte) {
		if len(ops) > 256 {
			ops = ops[:256]
		}
		mapcheck.Baseline(t)
		oldQ := guard.SetQuarantine(512 << 10)
		a := &injArena{t: t, kind: int(kind) % len(injKinds)}
		a.opts.Quarantine = int(seed>>8) % 3 // Reset fences chunks for 0 to 2 Resets
		a.opts.ResetRelease = seed&(1<<12) != 0
		if seed&(1<<13) != 0 { // hardened: every other allocation sampled, fenced, in 8 slots
			a.opts.Sample = &hardened.Options{Every: 2, Slots: 8}
		}
		a.open()
		before := inject.Counts()
		inject.Arm(seed, int(every%16)+2)
		defer func() {
			inject.Disarm()
			if a.name != "" && (a.bump != nil || a.sh != nil || a.fl != nil || a.sfl != nil) {
				_ = a.close()
			}
			guard.SetQuarantine(oldQ)
		}()
		for i := 0; i+1 < len(ops); i += 2 {
			what := fmt.Sprintf("op %d (%d, %d) on %s", i/2, ops[i], ops[i+1], a.name)
			err := a.step(ops[i], ops[i+1])
			if os.Getenv("MMARENA_INJECT_DEBUG") != "" {
				// Each step on stderr, which a fault's crash does not
				// swallow as it does t.Log: replaying a failing input
				// with this set shows the step that broke.
				fmt.Fprintln(os.Stderr, what, err, len(a.live))
			}
			injCounts.ops++
			if err != nil && !errors.Is(err, unix.ENOMEM) && !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("%s: %v wraps neither ENOMEM nor EAGAIN", what, err)
			}
			inject.Disarm() // checking maps and reads /proc: no failures there
			a.verify(what)
			inject.Arm(seed+uint64(i), int(every%16)+2)
		}
		err := a.close()
		if err != nil && !errors.Is(err, unix.ENOMEM) && !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("close: %v wraps neither ENOMEM nor EAGAIN", err)
		}
		inject.Disarm()
		if err := guard.FlushQuarantine(); err != nil {
			t.Fatalf("flush after close: %v", err)
		}
		if n, bytes := guard.DeferredUnmaps(); n != 0 {
			t.Fatalf("after close: %d ranges (%d bytes) still wait for munmap", n, bytes)
		}
		after := inject.Counts()
		injCounts.inputs++
		injCounts.failures += after.Failures - before.Failures
		if dir := os.Getenv("MMARENA_INJECT_STATS"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprint(os.Getpid())),
				fmt.Appendf(nil, "%d %d %d\n", injCounts.inputs, injCounts.ops, injCounts.failures), 0o644)
		}
	})
}
