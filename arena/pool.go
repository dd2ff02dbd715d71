package arena

import (
	"fmt"
	"runtime"
	"sync"
)

// A Pool hands out reset Bumps and takes them back, so that a program can
// give every request an arena of its own without paying for one: Get
// returns a kept arena (no system call, no Go heap allocation) or makes a
// new one, Put resets it and keeps it for the next Get. The pool keeps at
// most PoolOptions.Max arenas and PoolOptions.MaxBytes of their chunks;
// Put trims an arena that would pass the byte bound (its kept chunks
// unmapped, its pages given back) and closes one that still would, or
// that finds the pool full.
//
// The rules:
//
//  1. Put ends the caller's use of the arena, as Close does: every
//     pointer it handed out is invalid, its generation changes
//     (Bump.State), and until a Get hands it out again it refuses to
//     allocate or freeze (an error matching ErrClosed) and ignores Reset. A Get
//     arena reads zero wherever it allocates, as a new one does.
//  2. Put takes only arenas this pool's Get made, open and not already
//     in the pool; anything else is refused with an error (ErrNotOwned,
//     ErrClosed, ErrDoubleFree, ErrNoArena) and changes nothing.
//  3. An arena from Get must go back by Put or Close: one dropped is
//     reported as a leak, like any Bump (it may hold live pointers). The
//     arenas the pool holds are never reported; if the pool itself is
//     dropped without Close, they are closed, since nothing may point
//     into them.
//  4. After Close, Get returns ErrClosed, and Put closes the arena it is
//     given and returns what its Close returns.
//
// Get, Put and Close are safe for concurrent use; each arena, between
// Get and Put, belongs to one goroutine, as any Bump does. Make a Pool
// with NewPool; the zero Pool's methods return ErrNoArena. A Pool must
// not be copied after first use.
type Pool struct {
	_  noCopy
	st *poolState // also what the cleanup holds: never the Pool itself
}

// PoolOptions configure a Pool. A nil *PoolOptions means every default.
// NewPool copies them.
type PoolOptions struct {
	// Arena is what every arena of the pool is made with, as NewBump
	// takes it. Default: nil, NewBump's defaults.
	Arena *Options

	// Max bounds how many arenas the pool keeps between uses; a Put that
	// finds it full closes the arena. Default: 4 per GOMAXPROCS.
	Max int

	// MaxBytes bounds the usable bytes of the chunks of the arenas kept
	// (their Stats.Committed, added up); a Put that would pass it trims
	// the arena to its first chunk, pages given back, and closes it if
	// that is still too much. Default: 64 MiB.
	MaxBytes int64
}

// Defaults of PoolOptions.
const (
	defaultPoolPerProc = 4
	defaultPoolBytes   = 64 << 20
)

// poolState is a Pool's state, held by the Pool, by the cleanup that
// closes its arenas if the Pool is dropped, and by each arena it made.
type poolState struct {
	opts     Options // resolved for a Bump
	max      int     // > 0
	maxBytes uint64  // > 0

	mu     sync.Mutex
	free   []keptArena // the arenas kept, last Put last; guarded by mu
	bytes  uint64      // their bytes, as counted when Put; <= maxBytes. guarded by mu
	closed bool        // guarded by mu
}

// keptArena is an arena waiting in a pool, with the bytes it was
// counted for.
type keptArena struct {
	b     *Bump
	bytes uint64
}

// NewPool returns an empty pool of Bump arenas. It returns an error
// matching ErrSize for a negative bound, and whatever NewBump would
// return for opts.Arena. Nothing is mapped until an arena allocates.
func NewPool(opts *PoolOptions) (*Pool, error) {
	var o PoolOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Max < 0:
		return nil, errSize("pool: Max %d is negative", o.Max)
	case o.MaxBytes < 0:
		return nil, errSize("pool: MaxBytes %d is negative", o.MaxBytes)
	}
	ao, err := o.Arena.resolve(kindBump)
	if err != nil {
		return nil, err
	}
	if o.Max == 0 {
		o.Max = defaultPoolPerProc * runtime.GOMAXPROCS(0)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultPoolBytes
	}
	st := &poolState{opts: ao, max: o.Max, maxBytes: uint64(o.MaxBytes), free: make([]keptArena, 0, min(o.Max, 64))}
	p := &Pool{st: st}
	runtime.AddCleanup(p, (*poolState).dropped, st)
	return p, nil
}

// Get returns an arena of the pool: the one Put last, reset, if the pool
// keeps any, else a new one (see NewBump; the creation site recorded is
// Get's caller). It returns ErrClosed after Close. O(1); no system call
// and no Go heap allocation when an arena is kept.
func (p *Pool) Get() (*Bump, error) {
	st := p.st
	if st == nil {
		return nil, errNoArena("Pool")
	}
	st.mu.Lock()
	// Last in, first out: the arena Put last has the warmest pages and
	// cache lines, and the ones below it age toward the bound's trims.
	for {
		if st.closed {
			st.mu.Unlock()
			return nil, fmt.Errorf("arena: Get from a closed pool: %w", ErrClosed)
		}
		n := len(st.free)
		if n == 0 {
			break
		}
		k := st.free[n-1]
		st.free[n-1] = keptArena{}
		st.free = st.free[:n-1]
		st.bytes -= k.bytes
		if k.b.st.closed {
			continue // closed while kept, by a holder that broke rule 1
		}
		k.b.unpool()
		st.mu.Unlock()
		return k.b, nil
	}
	st.mu.Unlock()
	// None kept: a new arena, outside the lock (NewBump maps nothing,
	// but registers the arena and sets its leak cleanup). Its creation
	// site is the caller's, so that a leak report names the handler.
	b, err := newBump(&st.opts, callerPC(1))
	if err != nil {
		return nil, err
	}
	b.st.pool = st
	return b, nil
}

// Put resets b and keeps it for a later Get, trimming it to the pool's
// byte bound, or closes it when the pool is full or closed (see the
// rules on Pool). It returns an error, and changes nothing, for a nil
// or zero Bump (ErrNoArena), an arena another pool or NewBump made
// (ErrNotOwned), a closed one (ErrClosed) or one already in the pool
// (ErrDoubleFree); otherwise the error of the Trim or Close it made, if
// any. No system call and no Go heap allocation when b is kept whole.
func (p *Pool) Put(b *Bump) error {
	st := p.st
	switch {
	case st == nil:
		return errNoArena("Pool")
	case b == nil || b.st == nil:
		return fmt.Errorf("%w: Put of a nil or zero Bump", ErrNoArena)
	case b.st.pool != st:
		return fmt.Errorf("arena: Put of %q, which this pool's Get did not make: %w", b.st.name, ErrNotOwned)
	}
	st.mu.Lock()
	switch {
	case b.st.pooled || b.st.putting:
		st.mu.Unlock()
		return fmt.Errorf("arena: Put of %q, already in the pool: %w", b.st.name, ErrDoubleFree)
	case b.st.closed:
		st.mu.Unlock()
		return fmt.Errorf("arena: Put of %q, which is closed: %w", b.st.name, ErrClosed)
	case st.closed:
		st.mu.Unlock()
		return b.Close()
	}
	b.st.putting = true // claimed: a second Put is refused from here on
	st.mu.Unlock()

	// The reset, and the trim or close below, run outside the lock: the
	// trim and close make system calls, and the arena is this caller's
	// alone until keep publishes it to the free list. Reset changes the
	// generation (rule 1) and publishes the arena's numbers if a
	// snapshot asked, without allocating.
	b.Reset()
	if b.st.frozen { // Reset could not thaw it: it cannot be handed out
		return b.closePooled()
	}
	switch st.keep(b) {
	case kept:
		return nil
	case overBytes:
		err := b.Trim()
		if err == nil && st.keep(b) == kept {
			return nil
		}
		if cerr := b.closePooled(); err == nil {
			err = cerr
		}
		return err
	}
	return b.closePooled() // full, or closed meanwhile
}

// What keep did with an arena.
const (
	kept      = iota
	overBytes // it would pass MaxBytes: trimming may help
	full      // the pool holds Max arenas, or is closed
)

// keep adds b, reset and claimed, to the free list if the bounds allow
// it, and says what it did. An arena is counted for its committed bytes
// as it stands at Put (its chunks, kept or current), which its stay in
// the pool cannot change: nothing allocates from it there.
func (st *poolState) keep(b *Bump) int {
	n := uint64(b.st.mapped)
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.closed || len(st.free) >= st.max:
		return full
	case st.bytes+n > st.maxBytes:
		return overBytes
	}
	b.shut()
	st.free = append(st.free, keptArena{b, n})
	st.bytes += n
	return kept
}

// closePooled closes b, which Put claimed but cannot keep, or which a
// closing pool kept.
func (b *Bump) closePooled() error {
	b.st.pool.mu.Lock()
	b.st.pooled, b.st.putting = false, false
	b.st.pool.mu.Unlock()
	return b.Close()
}

// shut closes b's fast path while it waits in the pool: every allocation
// reaches allocSlow, which refuses it (rule 1). st.pool.mu must be held.
func (b *Bump) shut() {
	x := b
	if b.inner != nil {
		x = b.inner // a sampling Bump's twin holds the fast path
	}
	b.st.keptTo, x.zeroTo = x.zeroTo, 0
	b.st.pooled, b.st.putting, b.st.state = true, false, errPooled
	b.publish()
}

// unpool reopens the fast path of b, taken from the pool. st.pool.mu
// must be held.
func (b *Bump) unpool() {
	x := b
	if b.inner != nil {
		x = b.inner
	}
	x.zeroTo, b.st.keptTo = b.st.keptTo, 0
	b.st.pooled, b.st.state = false, nil
}

// errPooled is the answer of an arena waiting in its pool (rule 1).
var errPooled = fmt.Errorf("arena: the arena was Put back in its pool: %w", ErrClosed)

// Close closes every arena the pool keeps, and returns the first error.
// Afterwards Get returns ErrClosed and Put closes what it is given. A
// second Close returns nil.
func (p *Pool) Close() error {
	if p.st == nil {
		return errNoArena("Pool")
	}
	return p.st.close()
}

func (st *poolState) close() error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil
	}
	free := st.free
	st.free, st.bytes, st.closed = nil, 0, true
	st.mu.Unlock()
	var first error
	for _, k := range free {
		if err := k.b.closePooled(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dropped runs when a Pool became unreachable without Close: the arenas
// it keeps are closed, not reported, since nothing may point into them
// (rule 1).
func (st *poolState) dropped() { _ = st.close() }
