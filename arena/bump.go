package arena

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/mmarena/mmarena/align"
)

// A Bump is a monotonic arena: each allocation takes the next bytes of the
// current chunk, nothing is freed one by one, and Reset frees everything
// at once. The fast path is an add and a compare: no system call, no
// lock, no Go heap allocation.
//
// Make a Bump with NewBump. The zero Bump has nothing to allocate from:
// its methods return ErrNoArena, or do nothing, and never panic.
//
// A Bump must not be used by two goroutines at once (builds with the
// arenadebug tag detect it); use a Shared for that. A Bump must not be
// copied after first use.
type Bump struct {
	_ noCopy

	// The fast path reads and writes only these three, which describe
	// the current chunk.
	base   unsafe.Pointer // first usable byte of the current chunk; nil before the first chunk and after Close
	off    uintptr        // next free byte, from base; off <= zeroTo
	zeroTo uintptr        // [off, zeroTo) reads as zero; faulted in but for a large allocation's tail; zeroTo <= the chunk's size

	allocs    uint64         // allocations with size > 0, ever
	requested uint64         // bytes asked for, ever
	okType    unsafe.Pointer // the *T descriptor of the last type New vetted (typeWord); nil at first
	gen       uint64         // Reset and Close so far: see State
	stride    uintptr        // the last stride prepared ahead; 0 after a Reset, else clearMin <= stride <= populateMax

	st      *bumpState // the rest; also what the leak cleanup holds
	cleanup runtime.Cleanup

	// inner is nil but in hardened mode (Options.Sample): see
	// bump_sampled.go, which holds everything a sampling Bump does
	// differently.
	inner *Bump
}

// Clearing and populating ahead. Each time the fast path reaches the
// frontier, the stride doubles, from clearMin after a Reset (or at the
// first allocation): what is prepared ahead is sized by the current fill,
// never by how far an earlier fill went.
const (
	// Dirty memory (left by a Reset) is cleared clearMin bytes at first,
	// so a small refill clears little whatever the arena once held, and
	// at most clearMax at a time: the lines a 32 KiB clear brings into
	// L1/L2 are still there when the objects are written, where a 32 MiB
	// clear (memclr's non-temporal stores) sent them to memory and each
	// was fetched again by its first write: W1 warm went from 8.1 to 6.4
	// CPU ns/object. A loop clearing 4, 8, 16, 32, 64 KiB or 32 MiB ahead
	// of its writes took 7.6, 6.5, 5.9, 5.2, 8.6 and 13.1 ns/object
	// (bench/issue-14-bump-fast.txt).
	clearMin = 1 << 10
	clearMax = 32 << 10
	// Fresh memory is faulted in with MADV_POPULATE_WRITE, at least
	// populateMin and at most populateMax a call: one system call per
	// 2 MiB costs nothing measurable, and RSS stays close to what is
	// used (W3's bytes per node went from 26.9 to 24.x).
	populateMin = 64 << 10
	populateMax = 2 << 20
)

// NewBump returns an empty bump arena; nothing is mapped until the first
// allocation. It returns an error for options out of range.
func NewBump(opts *Options) (*Bump, error) { return newBump(opts, callerPC(1)) }

// newBump is NewBump for an arena made at pc (NewBump's caller, or
// Pool.Get's).
func newBump(opts *Options, pc uintptr) (*Bump, error) {
	st, err := newState(kindBump, opts, pc)
	if err != nil {
		return nil, err
	}
	b := &Bump{st: st}
	if st.opts.Sample != nil {
		if err := b.startSampling(); err != nil {
			return nil, err
		}
	}
	b.cleanup = runtime.AddCleanup(b, (*bumpState).leaked, st)
	registerAt(Summary{Name: st.name, Kind: st.kind}, st.site, st.published, &st.id, &st.slot)
	return b, nil
}

// Alloc returns size bytes of zeroed memory aligned to al, which must
// be a power of two no larger than the page size: otherwise it returns an
// error matching align.ErrAlignment, and unix.EINVAL for an al that is
// not a power of two or unix.ENOMEM for a larger power of two, which is
// valid but more than a chunk's start guarantees. A size of 0 succeeds,
// uses no memory and returns a pointer that must not be dereferenced. It
// returns an alignment error, ErrSize, ErrLimit, ErrClosed or a mapping
// error, and then changes nothing. O(1); a system call only when a new
// chunk is needed.
func (b *Bump) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	if al&(al-1) != 0 || al-1 >= maxAlign {
		return nil, errAlign(al) // al-1 wraps for 0, so 0 lands here too
	}
	if p, ok := b.fast(size, al); ok {
		return p, nil
	}
	return b.allocSlow(size, al)
}

// fast is the fast path, small enough to be inlined into its callers:
// bump off if the aligned allocation ends inside memory known to be zero.
// start cannot overflow, since off <= zeroTo <= the chunk's size; size-1
// wraps for 0, which sends size 0 to the slow path, as it does every call
// after Close (zeroTo is then 0).
func (b *Bump) fast(size, align uintptr) (unsafe.Pointer, bool) {
	start := (b.off + align - 1) &^ (align - 1)
	if start <= b.zeroTo && size-1 < b.zeroTo-start {
		b.off = start + size
		b.allocs++
		b.requested += uint64(size)
		return add(b.base, start), true
	}
	return nil, false
}

// maxAlign is the page size: the most a chunk's start guarantees. A
// variable, since the page size is only known at run time.
var maxAlign = uintptr(align.PageSize())

// allocMore is allocSlow for a Bump without sampling, and for the twin
// that serves a sampling Bump's unsampled allocations (bump_sampled.go).
func (b *Bump) allocMore(size, al uintptr) (unsafe.Pointer, error) {
	if b.st == nil {
		return nil, errNoArena("Bump") // the zero Bump: its fast path always fails
	}
	if invariantsEnabled {
		b.st.enter()
		defer b.st.exit()
	}
	st := b.st
	switch {
	case st.closed:
		return nil, ErrClosed
	case st.frozen:
		return nil, ErrFrozen
	case size == 0:
		return zeroSized(), nil
	}
	for {
		if st.cur >= 0 {
			start := (b.off + al - 1) &^ (al - 1)
			if start <= b.zeroTo && size <= b.zeroTo-start {
				b.off = start + size
				b.allocs++
				b.requested += uint64(size)
				return add(b.base, start), nil
			}
			c := st.chunks[st.cur]
			if start <= c.size && size <= c.size-start && b.zeroTo < c.size {
				// It fits, but past the prepared frontier: prepare
				// ahead, at least to the end of this allocation.
				b.prepare(c, start+size)
				continue
			}
		}
		if err := b.nextChunk(size); err != nil {
			return nil, err
		}
	}
}

// prepare moves the frontier zeroTo of the current chunk c to at least
// end, a stride at a time, the stride doubling from clearMin at each call
// (see clearMin). Memory a Reset left dirty is cleared, clearMax at most
// at a time; fresh memory is faulted in with one MADV_POPULATE_WRITE per
// stride, which costs about half as much per page as taking the faults
// one by one (BenchmarkFirstTouch), and keeps RSS within a stride of what
// is used.
func (b *Bump) prepare(c *chunk, end uintptr) {
	b.stride = min(max(b.stride*2, clearMin), populateMax)
	for b.zeroTo < end {
		switch {
		case b.zeroTo < c.dirty:
			to := min(max(end, b.zeroTo+min(b.stride, clearMax)), c.dirty)
			clearBytes(add(c.base, b.zeroTo), to-b.zeroTo)
			b.zeroTo = to
			c.ready = max(c.ready, to)
		case b.zeroTo < c.ready:
			b.zeroTo = c.ready
		case !canPopulate.Load():
			b.zeroTo = c.size // the pages fault in as they are touched
		default:
			ps := uintptr(align.PageSize())
			from := align.Down(b.zeroTo, ps)
			to, _ := align.Up(max(end, b.zeroTo+max(b.stride, populateMin)), ps) // ok: below size + populateMax
			to = min(to, c.size)
			// A larger allocation is faulted in for its first populateMax
			// bytes only: the rest is fresh, reads zero and faults in as it
			// is touched, so Alloc(512 MiB) does not take 512 MiB of RAM
			// at once (and cannot be OOM-killed for memory never used).
			pop := min(to, from+populateMax)
			if err := c.r.Populate(int(from), int(pop-from)); err != nil {
				if errors.Is(err, errors.ErrUnsupported) {
					canPopulate.Store(false) // fault pages as they are touched, from now on
				}
				b.zeroTo = c.size // fresh memory reads zero either way
				continue
			}
			b.zeroTo, c.ready = to, to // [pop, to) is fresh: it reads zero too
		}
	}
}

// canPopulate turns false the first time the kernel refuses
// MADV_POPULATE_WRITE.
var canPopulate = func() *atomic.Bool { var v atomic.Bool; v.Store(true); return &v }()

// nextChunk leaves the current chunk and makes current one with room for
// size bytes.
func (b *Bump) nextChunk(size uintptr) error {
	c, err := b.st.advance(size, b.leave)
	if err != nil {
		return err
	}
	b.enterChunk(c)
	b.publish()
	if invariantsEnabled {
		b.validate()
	}
	return nil
}

// leave records the use of the chunk the fast path is leaving.
func (b *Bump) leave() {
	st := b.st
	if st.cur < 0 {
		return
	}
	c := st.chunks[st.cur]
	c.dirty = max(c.dirty, b.off)
	st.done += b.off
}

// enterChunk points the fast path at c. The frontier starts at 0 if a
// Reset left the chunk dirty, else at what is already faulted in.
func (b *Bump) enterChunk(c *chunk) {
	b.base, b.off = c.base, 0
	b.zeroTo = c.ready
	if c.dirty > 0 || !canPopulate.Load() && c.ready == 0 {
		b.zeroTo = 0
	}
}

// reset is Reset for a Bump without sampling, and for the twin
// that serves a sampling Bump's unsampled allocations (bump_sampled.go).
func (b *Bump) reset() {
	st := b.st
	if st == nil || st.closed || st.pooled {
		return // a pooled arena was reset by Put, and stays shut until Get
	}
	if invariantsEnabled {
		st.enter()
		defer st.exit()
	}
	if st.frozen {
		_ = b.thaw() // memory handed out again must be writable; if it cannot be, the arena stays frozen
	}
	b.gen++
	st.nextRefGen()
	st.peak = max(st.peak, st.done+b.off)
	st.resets++
	if st.cur >= 0 {
		c := st.chunks[st.cur]
		c.dirty = max(c.dirty, b.off)
		if invariantsEnabled {
			st.poison()
		}
	}
	st.recycle()
	st.done = 0
	b.stride = 0
	if len(st.chunks) == 0 {
		st.cur, b.base, b.off, b.zeroTo = -1, nil, 0, 0
		b.publish()
		return
	}
	st.cur = 0
	b.enterChunk(st.chunks[0])
	if st.frozen {
		// The thaw above failed: a chunk is still read-only, so the
		// fast path stays shut until Thaw succeeds.
		st.thawTo, b.zeroTo = b.zeroTo, 0
	}
	b.publish()
	if invariantsEnabled {
		b.validate()
	}
}

// trim is Trim for a Bump without sampling, and for the twin
// that serves a sampling Bump's unsampled allocations (bump_sampled.go).
func (b *Bump) trim() error {
	st := b.st
	switch {
	case st == nil:
		return errNoArena("Bump")
	case st.closed:
		return ErrClosed
	}
	if st.frozen {
		return ErrFrozen
	}
	if invariantsEnabled {
		st.enter()
		defer st.exit()
	}
	first := st.dropKept()
	if st.cur >= 0 {
		c := st.chunks[st.cur]
		ps := uintptr(align.PageSize())
		from, _ := align.Up(b.off, ps)               // ok: off <= size, a page multiple
		to, _ := align.Up(max(c.dirty, c.ready), ps) // ok: likewise
		if to > from {
			if err := c.r.Release(int(from), int(to-from)); err != nil && first == nil {
				first = err
			} else if err == nil {
				c.dirty = from
			}
		}
		// The released pages read zero but fault in again when touched.
		c.ready = min(c.ready, from)
		b.zeroTo = min(b.zeroTo, max(from, b.off))
	}
	b.publish()
	if invariantsEnabled {
		b.validate()
	}
	return first
}

// freeze is Freeze for a Bump without sampling, and for the twin
// that serves a sampling Bump's unsampled allocations (bump_sampled.go).
func (b *Bump) freeze() error {
	st := b.st
	switch {
	case st == nil:
		return errNoArena("Bump")
	case st.closed:
		return ErrClosed
	case st.frozen:
		return nil
	}
	for i, c := range st.chunks {
		if err := c.r.Freeze(0, int(c.size)); err != nil {
			for _, d := range st.chunks[:i] {
				if d.r.Thaw(0, int(d.size)) != nil && !st.frozen {
					// A chunk stays read-only: the arena must say frozen,
					// or the next allocation would write to it. Thaw
					// retries. (Only once: a second failure must not
					// save the shut fast path's 0 as the frontier.)
					st.frozen, st.state, st.thawTo, b.zeroTo = true, ErrFrozen, b.zeroTo, 0
				}
			}
			return fmt.Errorf("arena: freeze %q: %w", st.name, err)
		}
	}
	st.frozen, st.state, st.thawTo, b.zeroTo = true, ErrFrozen, b.zeroTo, 0 // zeroTo 0 sends every allocation to the slow path
	return nil
}

// unfreeze is Thaw for a Bump without sampling, and for the twin
// that serves a sampling Bump's unsampled allocations (bump_sampled.go).
func (b *Bump) unfreeze() error {
	st := b.st
	switch {
	case st == nil:
		return errNoArena("Bump")
	case st.closed:
		return ErrClosed
	case !st.frozen:
		return nil
	}
	return b.thaw()
}

// thaw makes every chunk writable. If any stays read-only, the arena
// stays frozen, allocation stays refused, and the next Thaw (or Reset)
// tries again.
func (b *Bump) thaw() error {
	st := b.st
	var first error
	for _, c := range st.chunks {
		if err := c.r.Thaw(0, int(c.size)); err != nil && first == nil {
			first = fmt.Errorf("arena: thaw %q: %w", st.name, err)
		}
	}
	if first == nil {
		st.frozen, st.state, b.zeroTo = false, nil, st.thawTo
	}
	return first
}

// closeChunks is Close for every Bump; a sampling one first shuts its
// twin's fast path (bump_sampled.go).
func (b *Bump) closeChunks() error {
	st := b.st
	if st == nil {
		return errNoArena("Bump")
	}
	if st.closed {
		return nil
	}
	b.cleanup.Stop()
	b.base, b.off, b.zeroTo = nil, 0, 0
	b.gen++
	return st.close(closeSite())
}

// Name returns the arena's name.
func (b *Bump) Name() string {
	if b.st == nil {
		return ""
	}
	return b.st.name
}

// State returns the arena's generation, a number that changes whenever
// memory the arena handed out stops being valid (at every Reset and at
// Close), and nil while the arena may be written, ErrFrozen while Freeze
// has made it read-only, or ErrClosed after Close (ErrNoArena for the
// zero Bump). A structure that keeps pointers into the arena (a list,
// say) remembers the generation and compares, to notice cheaply that its
// nodes are gone. O(1), inlinable.
func (b *Bump) State() (generation uint64, err error) {
	if b.st == nil {
		return 0, errZeroBump
	}
	return b.gen, b.st.state
}

var errZeroBump = errNoArena("Bump")

// String returns Stats().String(): the arena as a small table.
func (b *Bump) String() string {
	if b.st == nil {
		return zeroString("Bump")
	}
	return b.Stats().String()
}
