package arena

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/shmlock"
)

// Memfd arenas: a bump arena in one memfd that several processes map
// (guard.MapShared, guard.AttachShared), each at its own address.
//
// Layout. The memfd starts with a header (memfdHeader, memfdHeaderSize
// bytes), then the root T the arena was made for, then the blocks Alloc
// handed out, in order; cursor is the next free byte and committed the
// file's size. Every process reserves the header's reserve bytes of
// address space, so growth never moves a mapping: Alloc under the lock
// grows the file with guard's Commit (ftruncate, then mmap MAP_FIXED
// over the reserved pages) and records the new size in the header; the
// other side, at its next Lock, sees committed above what it maps and
// maps the file up to there. Nothing is ever freed or reused, and a
// memfd's new pages read as zero, so every block is zeroed.
//
// References. The offset space of a Ref into a Memfd is the file itself,
// offset 0 being the header: the contiguous case of ref.go, one slot run
// from offset 0, with no table. The key (tag and generation) Refs carry
// is drawn once by the creator and kept in the header, so a Ref means
// the same in every process; In subtracts it and bounds the offset by
// what this process maps.

// memfdMagic opens every memfd arena: the bytes "mmarenaM" on a
// little-endian machine. A memfd is shared on one machine only, so the
// byte order is never crossed.
const memfdMagic = 0x4d616e6572616d6d

// memfdVersion is the header's format version; an arena of another
// version is refused at attach (ErrHeader).
const memfdVersion = 1

// memfdMaxReserve bounds the reservation: a Ref's offset has refOffBits.
const memfdMaxReserve = 1 << refOffBits

// defaultMemfdReserve is the Limit of a memfd arena made without one:
// address space only (PROT_NONE), so a large default costs nothing.
const defaultMemfdReserve = 1 << 30

// A memfdHeader is the first memfdHeaderSize bytes of a memfd arena.
// Every field but cursor and committed is written once, by the creator,
// before any other process can see the file; magic is written last.
// Its layout is the format: changing it means a new memfdVersion.
type memfdHeader struct {
	magic     uint64        // memfdMagic
	version   uint32        // memfdVersion
	pageSize  uint32        // the creator's page size; an attacher's must match
	layout    uint64        // layoutHash of the root type
	key       uint64        // tag and generation of every Ref into the arena (newRefBase)
	reserve   uint64        // bytes of address space each process reserves; page multiple, <= memfdMaxReserve
	root      uint64        // offset of the root T; memfdHeaderSize <= root, root+sizeof(T) <= cursor
	cursor    uint64        // next free byte; root <= cursor <= committed; guarded by mu
	committed uint64        // the file's size as the arena knows it; committed <= reserve; guarded by mu
	mu        shmlock.Mutex // the arena's lock, Memfd.Lock
}

const memfdHeaderSize = uint64(unsafe.Sizeof(memfdHeader{}))

// ErrHeader reports a file whose header AttachMemfd refuses: not a memfd
// arena (bad magic), another format version, a page size or root type
// layout other than this process's, or fields out of range. The error
// names which.
var ErrHeader = errors.New("arena: not a memfd arena this process can attach")

// ErrOwnerDead is returned by Memfd.Lock when the process that held the
// lock died holding it; the caller holds the lock then, repairs what the
// dead process may have left half done, calls MarkConsistent and
// Unlocks. It matches unix.EOWNERDEAD too.
var ErrOwnerDead = shmlock.ErrOwnerDead

// A Memfd is an arena in a memfd that other processes can attach to, at
// whatever address they get, and allocate from: the shared quadrant of
// mmap. It is not called Shared because Shared already names the arena
// that goroutines of one process share; Memfd names what backs it.
// CreateMemfd makes one with a root T; File hands its memfd to a child
// (exec.Cmd.ExtraFiles, or SCM_RIGHTS), which calls AttachMemfd with the
// same T. Structures in it link with Refs (MemfdRef, Ref.In), which mean
// the same in every process; a pointer into it is valid only in the
// process that made it, until Close.
//
// The arena's lock lives in its shared memory: Lock, Unlock and
// MarkConsistent are safe for concurrent use by any goroutine of any
// process mapping it, and Lock reports a holder that died (ErrOwnerDead).
// Everything else — Alloc, New, MakeSlice, MemfdRef, In, and every read
// or write of the arena's memory — needs the lock held by this process,
// and Close must not run concurrently with any call. Linux only:
// elsewhere CreateMemfd and AttachMemfd return an error matching
// errors.ErrUnsupported. A Memfd must not be copied.
type Memfd struct {
	_ noCopy
	// mu is taken by Lock before the shared lock and released by Unlock
	// after it, in race builds only (raceEnabled): the race detector
	// ignores atomics on memory the Go runtime did not allocate, such as
	// the shared lock word, and would see goroutines of this process
	// that the shared lock orders as racing on n. Elsewhere the shared
	// lock's compare-and-swap and swap order them (the Go memory model
	// holds for atomics wherever they are), and an uncontended Lock and
	// Unlock cost 2.3x sync.Mutex's with mu, 1.4x without
	// (BenchmarkMemfdLock: 43 and 25 ns against 18, medians of 3 and 4).
	mu     sync.Mutex
	r      *guard.Region
	hdr    *memfdHeader   // the shared header, at base
	base   unsafe.Pointer // start of the mapping; nil after Close
	n      uint64         // bytes mapped here, from base; changed under the lock, with place
	refs   RefSpace       // base + header, key + header, n - header: what In resolves in (place)
	key    uint64         // hdr.key, copied at create or attach
	name   string
	closed bool
	cl     runtime.Cleanup // reports the arena if it is dropped without Close

	// The registry's entry (memfd_stats.go): its id, the slot summaries
	// go in, and the snapshot count last answered.
	id       uint64
	slot     *atomic.Pointer[Summary]
	answered uint64
}

// watch arranges for a leak report if a is dropped without Close,
// naming pc as the call that made or attached it. The mapping is kept,
// as every arena's is: a pointer into it may still be live.
func (a *Memfd) watch(pc uintptr) {
	a.register(pc)
	a.cl = watchRegion(a, regionLeak{name: a.name, kind: kindMemfd, site: pc, r: a.r, slot: a.slot})
}

// CreateMemfd makes a memfd arena for a root of type T and returns it
// with the root, a zeroed T at a fixed place after the header that every
// attacher gets back. Options: Name; Limit, the address space every
// process reserves and the most the file grows to (Default: 1 GiB, at
// most 1 TiB); InitialSize, the file's first size, rounded up to whole
// pages (Default: what the header and the root take, one page for a
// small T); NoGuards. Others are refused with ErrUnsupported. It
// returns a *PointerError if T holds Go pointers, ErrLimit if the header
// and the root do not fit in Limit, and guard's error if the memfd
// cannot be made (errors.ErrUnsupported off Linux).
func CreateMemfd[T any](opts *Options) (*Memfd, *T, error) {
	if err := checkType[T](); err != nil {
		return nil, nil, err
	}
	o, err := opts.resolve(kindMemfd)
	if err != nil {
		return nil, nil, err
	}
	// The root sits right after the header, aligned for T; the file
	// starts at InitialSize, or as large as header and root need, in
	// whole pages, and can grow to the reservation.
	var zero T
	ps := uint64(align.PageSize())
	reserve := uint64(o.Limit)
	if reserve == 0 {
		reserve = defaultMemfdReserve
	}
	reserve = (reserve + ps - 1) &^ (ps - 1)
	root := (memfdHeaderSize + uint64(unsafe.Alignof(zero)) - 1) &^ uint64(unsafe.Alignof(zero)-1)
	cursor := root + uint64(unsafe.Sizeof(zero))
	size := (max(uint64(o.InitialSize), cursor) + ps - 1) &^ (ps - 1)
	switch {
	case reserve > memfdMaxReserve:
		return nil, nil, errTooLarge("memfd arena %q: Limit %d is over the 1 TiB a Ref can address", o.Name, o.Limit)
	case size > reserve:
		return nil, nil, errLimit(o.Name, uintptr(size), 0, uintptr(reserve))
	}
	r, err := guard.MapShared(int(size), &guard.Options{Name: o.Name, NoGuards: o.NoGuards, Reserve: int(reserve)})
	if err != nil {
		return nil, nil, fmt.Errorf("arena: memfd arena %q: %w", o.Name, err)
	}
	// No other process can see the file yet, so the header is written
	// without the lock; the memfd is zero, so the lock is unlocked and
	// consistent and the root is a zero T.
	base := r.Pointer()
	h := viewAs[memfdHeader](base) // ok: the file's first page, page-aligned
	h.version, h.pageSize, h.layout = memfdVersion, uint32(ps), layoutHash(reflect.TypeFor[T]())
	h.key, h.reserve, h.root = newRefBase(), reserve, root
	h.cursor, h.committed = cursor, uint64(r.Committed())
	h.magic = memfdMagic
	a := &Memfd{r: r, hdr: h, base: base, n: h.committed, key: h.key, name: o.Name}
	a.place()
	a.watch(callerPC(1))
	return a, viewAs[T](add(base, uintptr(root))), nil // ok: root+sizeof(T) <= size, mapped
}

// AttachMemfd maps the memfd arena in f, made by CreateMemfd for a root
// of type T in this or another process, and returns it with the root.
// The caller keeps f and may close it. It reads and checks the header
// before it trusts it, and writes nothing: ErrHeader for a file that is
// not a memfd arena, of another format version or page size, or whose
// root type's layout (field names, kinds, offsets and sizes, recursively)
// differs from T's; ErrSize for a file shorter than its header says;
// guard.ErrNotShared for a descriptor that is not a memfd made by guard,
// or one this process maps already (guard refuses two mappings of one
// file); a *PointerError for a T that holds Go pointers. Options: Name
// and NoGuards; the others are fixed by the creator and refused
// (ErrUnsupported). Linux only, as CreateMemfd.
func AttachMemfd[T any](f *os.File, opts *Options) (*Memfd, *T, error) {
	if err := checkType[T](); err != nil {
		return nil, nil, err
	}
	o, err := opts.resolve(kindMemfdAttach)
	if err != nil {
		return nil, nil, err
	}
	if f == nil {
		return nil, nil, fmt.Errorf("arena: attach memfd arena %q: nil file: %w", o.Name, unix.EBADF)
	}
	// A copy of the header, read before mapping, tells how much address
	// space to reserve; a file too short or not a memfd leaves it zero,
	// and guard names what is wrong.
	var h memfdHeader
	_, _ = f.ReadAt(bytesOf(unsafe.Pointer(&h), int(memfdHeaderSize)), 0) // ok: h is a Go variable of that size
	reserve := h.reserve
	if reserve > memfdMaxReserve {
		reserve = 0
	}
	r, err := guard.AttachShared(int(f.Fd()), int(memfdHeaderSize), &guard.Options{Name: o.Name, NoGuards: o.NoGuards, Reserve: int(reserve)})
	if err != nil {
		return nil, nil, fmt.Errorf("arena: attach memfd arena %q: %w", o.Name, err)
	}
	var zero T
	if err := h.check(o.Name, uint64(r.Committed()), reflect.TypeFor[T](), uint64(unsafe.Sizeof(zero)), uint64(unsafe.Alignof(zero))); err != nil {
		_ = r.Close()
		return nil, nil, err
	}
	// ok: the header is the file's first page, and check put the root
	// inside the file's size.
	base := r.Pointer()
	a := &Memfd{r: r, hdr: viewAs[memfdHeader](base), base: base, n: uint64(r.Committed()), key: h.key, name: o.Name}
	a.place()
	a.watch(callerPC(1))
	return a, viewAs[T](add(base, uintptr(h.root))), nil
}

// check reports what makes h, read from a file of size bytes, unfit to
// attach with a root of type t (size and alignment tsize, talign).
func (h *memfdHeader) check(name string, size uint64, t reflect.Type, tsize, talign uint64) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("arena: attach memfd arena %q: "+format+": %w", append(append([]any{name}, args...), ErrHeader)...)
	}
	ps := uint64(align.PageSize())
	switch {
	case h.magic != memfdMagic:
		return bad("magic %#x is not a memfd arena's", h.magic)
	case h.version != memfdVersion:
		return bad("format version %d, this build reads %d", h.version, memfdVersion)
	case uint64(h.pageSize) != ps:
		return bad("made with %d-byte pages, this process has %d", h.pageSize, ps)
	case h.layout != layoutHash(t):
		return bad("root type %v has layout hash %#x here, the arena's root has %#x", t, layoutHash(t), h.layout)
	case h.reserve > memfdMaxReserve || h.reserve%ps != 0 || h.committed > h.reserve:
		return bad("reserve %d, committed %d out of range", h.reserve, h.committed)
	case h.root < memfdHeaderSize || h.root%talign != 0 || h.root+tsize > h.cursor || h.cursor > h.committed:
		return bad("root at %d, cursor %d, committed %d out of order", h.root, h.cursor, h.committed)
	case h.committed > size:
		return errSize("attach memfd arena %q: the header says %d bytes, the memfd holds %d (truncated?)", name, h.committed, size)
	}
	return nil
}

// layoutHash is the FNV-1a hash of t's layout: its kind and size, and
// for a struct each field's name, offset and type, for an array its
// length and element, recursively. Type names are left out, so renaming
// a type keeps its arenas; renaming, moving, resizing or retyping a field
// does not.
func layoutHash(t reflect.Type) uint64 {
	h := fnv.New64a()
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		h.Write([]byte(t.Kind().String() + "/" + strconv.FormatUint(uint64(t.Size()), 10) + "{"))
		switch t.Kind() {
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				h.Write([]byte(f.Name + "@" + strconv.FormatUint(uint64(f.Offset), 10) + ":"))
				walk(f.Type)
			}
		case reflect.Array:
			h.Write([]byte(strconv.Itoa(t.Len()) + "x"))
			walk(t.Elem())
		}
		h.Write([]byte("}"))
	}
	walk(t)
	return h.Sum64()
}

// Lock takes the arena's lock, sleeping while a goroutine of this or
// another process holds it, then maps what another process grew the
// file to since. It returns nil; ErrOwnerDead when the previous holder
// died holding it (the caller holds the lock and should repair, then
// MarkConsistent); ErrClosed after Close; or, without the lock, the
// error of the futex (errors.ErrUnsupported off Linux) or of mapping the
// growth. Uncontended and with no growth to map, it makes no system
// call and does not allocate.
func (a *Memfd) Lock() error {
	if a == nil || a.closed {
		return ErrClosed
	}
	if raceEnabled {
		a.mu.Lock()
	}
	err := a.hdr.mu.Lock()
	if err != nil && !errors.Is(err, ErrOwnerDead) {
		a.raceUnlock()
		return fmt.Errorf("arena: lock memfd arena %q: %w", a.name, err)
	}
	if c := a.hdr.committed; c > a.n {
		if gerr := a.mapTo(c); gerr != nil {
			a.hdr.mu.Unlock()
			a.raceUnlock()
			return gerr
		}
	}
	return err
}

// Unlock releases the arena's lock. It panics if this process does not
// hold it, as sync.Mutex does; after Close it does nothing.
func (a *Memfd) Unlock() {
	if a == nil || a.closed {
		return
	}
	if !a.hdr.mu.Held() {
		panic("arena: Unlock of a Memfd this process has not locked")
	}
	a.publish() // under the lock, so n is this process's to read
	a.hdr.mu.Unlock()
	a.raceUnlock()
}

// CheckHeld returns nil if this process holds a's lock (some goroutine
// of it: the lock cannot tell them apart), ErrClosed after Close, and an
// error matching unix.ENOLCK otherwise. Structures in the arena (a
// list.RefList, say) call it before they read or write the shared
// memory. One load and a compare; it allocates only to fail.
func (a *Memfd) CheckHeld() error {
	switch {
	case a == nil || a.closed:
		return ErrClosed
	case !a.hdr.mu.Held():
		return fmt.Errorf("arena: memfd arena %q: used without the arena's Lock: %w", a.name, unix.ENOLCK)
	}
	return nil
}

// raceUnlock releases mu in race builds; see Memfd.mu.
func (a *Memfd) raceUnlock() {
	if raceEnabled {
		a.mu.Unlock()
	}
}

// MarkConsistent records that the structure the lock guards has been
// repaired after ErrOwnerDead, so later Locks return nil. The caller
// holds the lock. After Close it does nothing.
func (a *Memfd) MarkConsistent() {
	if a == nil || a.closed {
		return
	}
	a.hdr.mu.MarkConsistent()
}

// mapTo maps the file up to c bytes, which the header says it holds.
// The lock must be held.
func (a *Memfd) mapTo(c uint64) error {
	if c > a.hdr.reserve || c > uint64(a.r.Size()) {
		return fmt.Errorf("arena: memfd arena %q: header says %d bytes, past the %d reserved: %w", a.name, c, a.r.Size(), ErrHeader)
	}
	if err := a.r.Commit(int(c)); err != nil {
		return fmt.Errorf("arena: memfd arena %q: map %d bytes: %w", a.name, c, err)
	}
	a.n = c
	a.place()
	return nil
}

// Alloc returns size zeroed bytes aligned to al from the shared cursor,
// growing the file (in steps that double it, up to Limit) when they do
// not fit; every process sees the bytes at the same offset. It needs the
// lock held by this process (an error matching unix.ENOLCK otherwise).
// It returns ErrClosed after Close, ErrLimit past the reservation
// (changing nothing), an error matching align.ErrAlignment for an
// alignment that is not a power of two or is over the page size, and a
// valid pointer that uses no memory for size 0. O(1); without growth, no
// system call.
func (a *Memfd) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	switch {
	case a == nil || a.closed:
		return nil, ErrClosed
	case !a.hdr.mu.Held():
		return nil, fmt.Errorf("arena: memfd arena %q: Alloc without the arena's Lock: %w", a.name, unix.ENOLCK)
	case al == 0 || al&(al-1) != 0 || al > maxAlign:
		return nil, errAlign(al)
	case size == 0:
		return zeroSized(), nil
	}
	// The lock is held, so cursor and committed are this process's to
	// read and write; the bytes from cursor up were never handed out, in
	// any process, and a memfd's pages start zero: nothing to clear.
	h := a.hdr
	off := (h.cursor + uint64(al) - 1) &^ uint64(al-1)
	end := off + uint64(size)
	if end < off || end > h.reserve {
		return nil, errLimit(a.name, size, uintptr(h.cursor), uintptr(h.reserve))
	}
	if end > h.committed {
		ps := uint64(align.PageSize())
		c := min(h.reserve, max((end+ps-1)&^(ps-1), 2*h.committed))
		if err := a.r.Commit(int(c)); err != nil {
			return nil, fmt.Errorf("arena: memfd arena %q: grow to %d bytes: %w", a.name, c, err)
		}
		h.committed = c   // only once the file holds c bytes: a peer may map up to it
		a.n = max(a.n, c) // an attach maps the whole file, which a peer that died growing it may have left longer
		a.place()
	} else if end > a.n {
		// Lock mapped up to committed, and the lock has been held
		// since, so this does not happen; it is kept so that a pointer
		// Alloc returns is mapped here whatever the header says.
		if err := a.mapTo(h.committed); err != nil {
			return nil, err
		}
	}
	// The cursor moves last: a holder killed before this line has
	// handed nothing out, and at worst grown the file.
	h.cursor = end
	return add(a.base, uintptr(off)), nil // ok: end <= committed = n, mapped here
}

// MemfdRef returns a Ref to *p, which must lie wholly in a's memory after
// the header: what Alloc, New or MakeSlice handed out, or the root. A nil
// p gives the zero Ref. It returns ErrClosed after Close and ErrNotOwned
// for memory elsewhere. The Ref resolves (Ref.In) to the same object in
// every process attached to a. O(1); the caller holds the lock.
func MemfdRef[T any](a *Memfd, p *T) (Ref[T], error) {
	switch {
	case p == nil:
		return Ref[T]{}, nil
	case a == nil || a.closed:
		return Ref[T]{}, ErrClosed
	}
	var zero T
	o, ok := offsetIn(unsafe.Pointer(p), a.base, uintptr(a.n)) // ok: only compared with the mapping's bounds
	if !ok || uint64(o) < memfdHeaderSize || unsafe.Sizeof(zero) > uintptr(a.n)-o {
		return Ref[T]{}, fmt.Errorf("arena: MemfdRef: %q: %w", a.name, ErrNotOwned)
	}
	return Ref[T]{a.key | uint64(o)}, nil
}

// In returns the T that r refers to in the memfd arena a, or nil if r is
// the zero Ref, a is nil or closed, or r is not a Ref into a (made by
// MemfdRef for another arena, or a Bump's) or points past what this
// process maps. A non-nil result is a whole, aligned T inside a's
// mapping, never the header. Ref.Get is its twin for a Bump. It makes
// no system call and is inlined. The caller holds a's lock: memory a
// peer grew is mapped here by Lock.
func (r Ref[T]) In(a *Memfd) *T {
	var zero T
	if a != nil {
		return viewAs[T](a.refs.resolve(r.v, unsafe.Sizeof(zero), unsafe.Alignof(zero))) // ok: resolve checked bounds and alignment
	}
	return nil
}

// place sets what resolve reads from base, the key and n: n changes
// under the lock (Alloc, Lock), and place follows it.
func (a *Memfd) place() { a.refs.set(a.base, a.n, a.key, memfdHeaderSize) }

// File returns a new *os.File for a close-on-exec duplicate of the
// arena's memfd, for another process: exec.Cmd.ExtraFiles (the child
// calls AttachMemfd with os.NewFile(3, name)), or its Fd over SCM_RIGHTS.
// The caller closes it. It returns ErrClosed after Close.
func (a *Memfd) File() (*os.File, error) {
	if a == nil || a.closed {
		return nil, ErrClosed
	}
	f, err := a.r.SharedFile()
	if err != nil {
		return nil, fmt.Errorf("arena: memfd arena %q: %w", a.name, err)
	}
	return f, nil
}

// Close releases the lock if this process holds it and gives up the
// arena here; the memfd and its contents live on while another process
// maps it or holds a descriptor. Every pointer into the arena and every
// later call but Close (which returns ErrClosed) is then invalid: In
// returns nil, Alloc and Lock ErrClosed. As with every arena, the range
// waits, fenced, in guard's quarantine, so a pointer kept past Close
// faults and hardened.Catch names it a use after close with this call's
// site; the file keeps its bytes, and until the range leaves the
// quarantine (guard.FlushQuarantine) this process still holds the memfd
// and cannot attach it again. A Memfd dropped without Close is reported
// (SetLeakHandler, kind "memfd") and keeps its mapping.
func (a *Memfd) Close() error {
	if a == nil || a.closed {
		return ErrClosed
	}
	if a.hdr.mu.Held() {
		a.Unlock()
	}
	a.cl.Stop()
	unregister(a.id)
	a.closed, a.hdr, a.base, a.n = true, nil, nil, 0
	a.refs = RefSpace{}
	return retireRegion(a.r, hardened.KindUseAfterClose, closeSite())
}
