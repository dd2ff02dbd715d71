package guard

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
)

// A Region is one reservation of address space: [low guard][usable][high
// guard], made by one mmap and released by Close. The usable part starts
// Ready up to the size given to Map and Reserved beyond it (see
// Options.Reserve).
//
// A Region's methods are safe for concurrent use; the memory they hand out
// (Bytes, Pointer) is the caller's to synchronise. A Region must not be
// copied after Map returns it.
type Region struct {
	_ noCopy

	id       uint64
	name     string
	addr     uintptr // start of the reservation (low guard); kept after Close for reports
	total    uintptr // bytes reserved: guard + size + guard; page multiple
	guard    uintptr // bytes in each guard; page multiple, may be 0
	size     uintptr // usable bytes reserved; page multiple, > 0
	fence    Fence   // FenceMprotect or FenceMarkers, never FenceAuto
	huge     bool    // MADV_HUGEPAGE was accepted for the reservation
	populate bool    // Options.Populate: committed pages are faulted in ahead
	file     bool    // MapFile mapped a file over the usable part; set once, under mu

	shm *shmFile // the memfd of a shared region (shm.go); nil otherwise. guarded by mu

	mu        sync.Mutex
	base      unsafe.Pointer // addr as a pointer; nil after Close. guarded by mu
	committed uintptr        // usable bytes Ready from the start; size >= committed. guarded by mu
	charged   uintptr        // bytes counted in Committed for the region; committed while live, 0 once closed. guarded by mu
	spans     spans          // page states of the whole reservation. guarded by mu
	spare     spans          // the buffer the previous spans were in, reused by the next change. guarded by mu
	in        *info          // what Lookup sees of the region, updated by sync. guarded by mu and registry.mu
	vmas      int            // kernel mappings charged to the budget; == spans.vmas(splits). guarded by mu
	splits    []uintptr      // offsets where mprotect or munmap cut the mapping; sorted. guarded by mu
	closed    bool           // guarded by mu
	retired   bool           // closed by Retire and still mapped, fenced, in the quarantine; implies closed. guarded by mu
}

// noCopy lets go vet's copylocks check catch a Region copied by value.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}

// maxReserve bounds one reservation: 128 TiB on 64-bit systems, the user
// half of a 48-bit address space (x86-64 and arm64 with 4-level page
// tables), and 2 GiB on 32-bit ones. Larger requests cannot succeed and
// are refused before asking the kernel.
const (
	ptrBits    = 32 << (^uintptr(0) >> 63) // 64 or 32
	maxReserve = uintptr(1) << (ptrBits/2 + 15)
)

// markers records whether this kernel has guard markers:
// 0 not yet known, 1 yes, 2 no. Set by the first Map that tries them.
var markers atomic.Int32

var nextID atomic.Uint64

// Map reserves a region with size usable bytes Ready, rounded up to whole
// pages (a 100-byte request still costs a page), fenced by guard pages.
// The memory reads as zero. Map returns an error, and maps nothing, when
// size is zero or negative (ErrSize, unix.EINVAL), too large for the
// address space or for RAM and swap together (ErrSize, unix.ENOMEM; not
// checked where vm.overcommit_memory is 1), an option is invalid, the mapping
// budget is exhausted (ErrBudget, unix.ENOMEM), or the kernel refuses.
func Map(size int, opts *Options) (*Region, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "region"
	}
	ps := uintptr(align.PageSize())
	if size <= 0 {
		return nil, sizeError("map %q: size %d must be positive", o.Name, size)
	}
	committed, ok := align.Up(uintptr(size), ps)
	if !ok || committed > maxReserve {
		return nil, tooLarge("map %q: size %d is larger than the address space", o.Name, size)
	}
	if lim := sysBackable(); committed > lim {
		// Ready pages are a promise of memory; MAP_NORESERVE keeps the
		// kernel from checking it, so guard does what heuristic
		// overcommit would have done: refuse more than RAM plus swap,
		// rather than let the first touch of the far pages OOM-kill the
		// process. Reserve is not limited: it is only address space.
		return nil, tooLarge("map %q: size %d is more than this machine's RAM and swap (%d bytes) could ever back", o.Name, size, lim)
	}
	usable := committed
	if o.Reserve < 0 {
		return nil, sizeError("map %q: reserve %d is negative", o.Name, o.Reserve)
	}
	if r, ok := align.Up(uintptr(o.Reserve), ps); !ok || r > maxReserve {
		return nil, tooLarge("map %q: reserve %d is larger than the address space", o.Name, o.Reserve)
	} else if r > usable {
		usable = r
	}
	var guard uintptr
	switch {
	case o.GuardPages < 0:
		return nil, sizeError("map %q: %d guard pages", o.Name, o.GuardPages)
	case o.NoGuards:
	case o.GuardPages == 0:
		guard = ps
	default:
		guard = uintptr(o.GuardPages) * ps
		if guard/ps != uintptr(o.GuardPages) {
			return nil, tooLarge("map %q: %d guard pages is larger than the address space", o.Name, o.GuardPages)
		}
	}
	alignTo := ps
	if o.Align < 0 || (o.Align > 0 && !align.IsPowerOfTwo(uintptr(o.Align))) {
		return nil, alignError(o.Align)
	} else if uintptr(o.Align) > ps {
		alignTo = uintptr(o.Align)
	}
	// total = 2*guard + usable, and the mapping asks for alignTo-ps more
	// so that an aligned start exists inside it; none of it may wrap.
	if guard > (maxReserve-usable)/2 || alignTo-ps > maxReserve-2*guard-usable {
		return nil, tooLarge("map %q: %d bytes with guards and alignment is larger than the address space", o.Name, usable)
	}
	total := 2*guard + usable
	mapLen := total + alignTo - ps

	fence, err := resolveFence(o.Fence)
	if err != nil {
		return nil, fmt.Errorf("%w (map %q)", err, o.Name)
	}

	// Everything PROT_NONE first, then the committed part read-write,
	// unless there is nothing to fence that way: with guard markers and
	// no extra reservation, the whole mapping is read-write from the
	// start and the guards get markers, so the region is one kernel
	// mapping.
	allRW := usable == committed && (guard == 0 || fence == FenceMarkers)
	guardProt := protNone
	if allRW {
		guardProt = protRW
	}
	var sp spans
	switch {
	case guard > 0 && usable == committed:
		// The usual layout, built at once: one allocation, not four.
		sp = spans{{0, guard, PartLowGuard, guardProt, ""}, {guard, usable, PartUsable, protRW, ""}, {guard + usable, guard, PartHighGuard, guardProt, ""}}
	case guard > 0:
		sp = spans{}.
			set(0, total, PartReserved, protNone).
			set(0, guard, PartLowGuard, guardProt).
			set(guard+usable, guard, PartHighGuard, guardProt).
			set(guard, committed, PartUsable, protRW)
	default:
		sp = spans{}.set(0, total, PartReserved, protNone).set(0, committed, PartUsable, protRW)
	}
	vmas := sp.vmas(nil)
	if err := chargeBytes(committed, "map", o.Name); err != nil {
		return nil, err
	}
	if usable == committed && !o.HugePages {
		// A reservation of this layout that has left the quarantine
		// costs one system call instead of a mapping (cache.go).
		if r := reuse(o.Name, usable, guard, alignTo, fence, sp, vmas); r != nil {
			r.charged = committed
			if r.populate = o.Populate; r.populate {
				populate(add(r.base, r.guard), r.committed, reason{"populate", o.Name})
			}
			return r, nil
		}
	}
	_ = retryUnmaps() // ranges a munmap failed on before go first; the budget counts them
	if err := charge(vmas, "map", o.Name); err != nil {
		unchargeBytes(committed)
		return nil, err
	}
	r, err := mapRegion(o.Name, mapLen, total, guard, usable, committed, alignTo, ps, allRW, fence)
	if err != nil {
		_ = charge(-vmas, "", "")
		unchargeBytes(committed)
		return nil, fmt.Errorf("guard: map %q: %w", o.Name, err)
	}
	r.spans, r.vmas, r.charged = sp, vmas, committed
	sysName(r.base, r.total, "mmarena:"+o.Name)
	if o.HugePages {
		// The whole reservation, guards included, so the advice sets a
		// flag on the kernel mapping rather than splitting it.
		r.huge = sysHuge(r.base, r.total, reason{"huge pages", o.Name})
	}
	if r.populate = o.Populate; r.populate {
		populate(add(r.base, r.guard), r.committed, reason{"populate", o.Name})
	}
	r.in = r.info()
	publish(r.in)
	return r, nil
}

// mapRegion makes the mapping Map has planned and fences it; on failure
// nothing stays mapped.
func mapRegion(name string, mapLen, total, guard, usable, committed, alignTo, ps uintptr, allRW bool, fence Fence) (*Region, error) {
	prot := unix.PROT_NONE
	if allRW {
		prot = unix.PROT_READ | unix.PROT_WRITE
	}
	p, err := sysMap(mapLen, prot, reason{"map", name})
	if err != nil {
		return nil, err
	}
	// Trim to alignment: the lecture's "munmap shrinks a mapping at its
	// edges". start is the first address whose usable part is aligned.
	start := align.Down(uintptr(p)+guard+alignTo-1, alignTo) - guard
	head := start - uintptr(p)
	tail := mapLen - head - total
	// Until the region exists, a failure undoes the mapping, which is
	// one kernel mapping (the fences come last, and guard markers do not
	// split it); a refused undo is deferred, not leaked (deferred.go).
	if head > 0 {
		if err := sysUnmap(p, head, reason{"trim to alignment", name}); err != nil {
			_ = unmapOrDefer(p, mapLen, 1, reason{"undo map", name})
			return nil, err
		}
	}
	base := add(p, head)
	if tail > 0 {
		if err := sysUnmap(add(base, total), tail, reason{"trim to alignment", name}); err != nil {
			_ = unmapOrDefer(base, total+tail, 1, reason{"undo map", name})
			return nil, err
		}
	}
	fail := func(err error) (*Region, error) {
		_ = unmapOrDefer(base, total, 1, reason{"undo map", name})
		return nil, err
	}
	if !allRW {
		if err := sysProtect(add(base, guard), committed, unix.PROT_READ|unix.PROT_WRITE, reason{"commit", name}); err != nil {
			return fail(err)
		}
	} else if guard > 0 {
		if err := sysFenceInstall(base, guard, reason{"low guard", name}); err != nil {
			return fail(err)
		}
		if err := sysFenceInstall(add(base, guard+usable), guard, reason{"high guard", name}); err != nil {
			return fail(err)
		}
	}
	return &Region{
		id:        nextID.Add(1),
		name:      name,
		addr:      uintptr(base),
		total:     total,
		guard:     guard,
		size:      usable,
		fence:     fence,
		base:      base,
		committed: committed,
	}, nil
}

// resolveFence turns FenceAuto into what this kernel can do, probing for
// guard markers once per process.
func resolveFence(f Fence) (Fence, error) {
	switch f {
	case FenceMprotect:
		return f, nil
	case FenceAuto, FenceMarkers:
	default:
		return 0, fmt.Errorf("guard: unknown fence %d: %w", f, unix.EINVAL)
	}
	if markers.Load() == 0 {
		markers.Store(probeMarkers())
	}
	if markers.Load() == 1 {
		return FenceMarkers, nil
	}
	if f == FenceMarkers {
		return 0, errNoMarkers
	}
	return FenceMprotect, nil
}

// probeMarkers maps one page, installs a guard marker on it and unmaps it:
// 1 if that worked, 2 if the kernel does not know MADV_GUARD_INSTALL.
func probeMarkers() int32 {
	if !haveMarkers {
		return 2
	}
	ps := uintptr(align.PageSize())
	why := reason{"probe for guard markers", ""}
	p, err := sysMap(ps, unix.PROT_READ|unix.PROT_WRITE, why)
	if err != nil {
		return 0 // try again next time
	}
	defer unmapOrDefer(p, ps, 1, why)
	switch err := sysFenceInstall(p, ps, why); {
	case err == errNoMarkers:
		return 2
	case err != nil:
		return 0 // out of memory or told to retry: the kernel said nothing about markers
	}
	return 1
}

// Name returns the name given in Options.
func (r *Region) Name() string { return r.name }

// Addr returns the address of the first usable byte. It stays the same
// after Close, for reports; the memory does not.
func (r *Region) Addr() uintptr { return r.addr + r.guard }

// Size returns the usable bytes reserved, a whole number of pages.
func (r *Region) Size() int { return int(r.size) }

// GuardSize returns the bytes in each guard (0 with NoGuards).
func (r *Region) GuardSize() int { return int(r.guard) }

// Fence returns the mechanism in use for guards and Protect:
// FenceMarkers or FenceMprotect.
func (r *Region) Fence() Fence { return r.fence }

// Committed returns the usable bytes made Ready by Map and Commit.
func (r *Region) Committed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.committed)
}

// HugePages reports whether the kernel accepted MADV_HUGEPAGE for the
// region (Options.HugePages): with transparent huge pages in "madvise"
// mode, 2 MiB-aligned runs of it may then be backed by huge pages.
func (r *Region) HugePages() bool { return r.huge }

// Mappings returns how many kernel mappings the region costs now, as
// charged to the budget (an upper bound: the kernel may merge one with a
// neighbour). 0 after Close.
func (r *Region) Mappings() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vmas
}

// Pointer returns a pointer to the first usable byte, or nil after Close.
func (r *Region) Pointer() unsafe.Pointer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	return add(r.base, r.guard)
}

// Bytes returns the committed usable memory as a slice, or nil after
// Close. The slice is valid until Close; touching a page that was
// protected or punched faults (see Catch).
func (r *Region) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	return bytesAt(add(r.base, r.guard), r.committed)
}

// Commit moves usable pages from Reserved to Ready until at least n bytes
// are committed (n rounded up to a page). A smaller n than Committed
// does nothing. It returns ErrRange if n exceeds Size or the pages to
// commit were punched, and ErrClosed after Close. A shared region grows
// its file to n bytes first unless another process has (ftruncate), then
// maps the new pages of the file in place (mmap MAP_FIXED|MAP_SHARED);
// a file mapped read-only (MapFileShared) refuses to grow, with an error
// matching errors.ErrUnsupported.
func (r *Region) Commit(n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if n <= int(r.committed) {
		return nil
	}
	if r.shm != nil && r.shm.ro {
		return fmt.Errorf("guard: commit in region %q: file %q is mapped read-only: %w", r.name, r.shm.path, errors.ErrUnsupported)
	}
	if uintptr(n) > r.size {
		return rangeError("commit %d bytes of region %q: only %d are reserved", n, r.name, r.size)
	}
	want, _ := align.Up(uintptr(n), uintptr(align.PageSize())) // ok: n <= size, a page multiple
	off, grow := r.guard+r.committed, want-r.committed
	if !r.spans.only(off, grow, PartReserved) {
		return rangeError("commit %d bytes of region %q: pages past %d were punched", n, r.name, r.committed)
	}
	// A regular file's pages (MapFileShared) are the file's: the kernel
	// writes them back and drops them under pressure, so they are not
	// memory the arenas hold, and Committed leaves them out.
	charge := grow
	if r.shm != nil && r.shm.path != "" {
		charge = 0
	}
	if charge > 0 {
		if err := chargeBytes(charge, "commit in region", r.name); err != nil {
			return err
		}
	}
	err := r.transition(off, grow, PartUsable, protRW, "", "commit", func() error {
		if r.shm != nil {
			return r.commitShared(off, grow)
		}
		return sysProtect(add(r.base, off), grow, unix.PROT_READ|unix.PROT_WRITE, reason{"commit", r.name})
	})
	if err == nil && r.populate {
		populate(add(r.base, off), grow, reason{"populate", r.name})
	}
	if err == nil {
		r.committed = want
		r.charged += charge
		r.sync()
	} else {
		unchargeBytes(charge)
	}
	return err
}

// Protect moves the usable pages [off, off+n) from Ready to Reserved: any
// access faults and Lookup names them "protected". Their contents are
// discarded; after Unprotect they read as zero. On an error the pages
// stay Ready, though their contents may already be discarded. It needs committed,
// unpunched pages and page-aligned off and n (ErrRange), and may need
// kernel mappings (ErrBudget) when the fence is mprotect. A shared
// region (MapShared) refuses it, with an error matching
// errors.ErrUnsupported: its pages keep their bytes for other processes.
func (r *Region) Protect(off, n int) error {
	return r.fenceOp("protect", off, n, true, "")
}

// ProtectFor is Protect with a reason that fault reports give for these
// pages: ProtectFor(off, n, "use after reset") makes a stray access read
// `... (protected page: use after reset)`.
func (r *Region) ProtectFor(off, n int, reason string) error {
	return r.fenceOp("protect", off, n, true, reason)
}

// Unprotect moves the usable pages [off, off+n) from Reserved back to
// Ready, reading as zero. Pages already Ready are left alone.
func (r *Region) Unprotect(off, n int) error {
	return r.fenceOp("unprotect", off, n, false, "")
}

func (r *Region) fenceOp(what string, off, n int, on bool, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, l, err := r.check(what, off, n)
	if err != nil {
		return err
	}
	if r.shm != nil {
		return r.errSharedOp(what)
	}
	if !r.spans.only(o, l, PartUsable, PartProtected) {
		return rangeError("%s [%d, %d) of region %q: pages must be committed and mapped", what, off, off+n, r.name)
	}
	p := add(r.base, o)
	switch {
	case on && r.fence == FenceMarkers:
		return r.transition(o, l, PartProtected, protRW, why, what, func() error { return sysFenceInstall(p, l, reason{what, r.name}) })
	case on:
		// Discard first, then fence: if the mprotect fails, the pages
		// stay Ready (reading zero), as the failed call reports; the
		// other order could leave them PROT_NONE while guard, told of a
		// failure, still counted them Ready.
		return r.transition(o, l, PartProtected, protNone, why, what, func() error {
			if err := sysDiscard(p, l, reason{what, r.name}); err != nil {
				return err
			}
			return sysProtect(p, l, unix.PROT_NONE, reason{what, r.name})
		})
	case r.fence == FenceMarkers:
		return r.transition(o, l, PartUsable, protRW, "", what, func() error { return sysFenceRemove(p, l, reason{what, r.name}) })
	default:
		return r.transition(o, l, PartUsable, protRW, "", what, func() error {
			return sysProtect(p, l, unix.PROT_READ|unix.PROT_WRITE, reason{what, r.name})
		})
	}
}

// Freeze makes the usable pages [off, off+n) read-only (mprotect
// PROT_READ), keeping their contents: a structure built there can be read
// but a stray write faults, and Lookup names the page "read-only page,
// frozen". The pages must be Ready (ErrRange otherwise); in the middle of
// the region this costs kernel mappings of the budget. Thaw undoes it.
func (r *Region) Freeze(off, n int) error {
	return r.setReadOnly("freeze", off, n, true)
}

// Thaw makes frozen pages [off, off+n) writable again; Ready pages in the
// range are left alone.
func (r *Region) Thaw(off, n int) error {
	return r.setReadOnly("thaw", off, n, false)
}

func (r *Region) setReadOnly(what string, off, n int, ro bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, l, err := r.check(what, off, n)
	if err != nil {
		return err
	}
	if !r.spans.only(o, l, PartUsable, PartFrozen) {
		return rangeError("%s [%d, %d) of region %q: pages must be Ready or frozen", what, off, off+n, r.name)
	}
	p := add(r.base, o)
	if ro {
		return r.transition(o, l, PartFrozen, protRO, "", what, func() error {
			return sysProtect(p, l, unix.PROT_READ, reason{what, r.name})
		})
	}
	return r.transition(o, l, PartUsable, protRW, "", what, func() error {
		return sysProtect(p, l, unix.PROT_READ|unix.PROT_WRITE, reason{what, r.name})
	})
}

// Release drops the contents of the usable pages [off, off+n) and gives
// their RAM back to the kernel (MADV_DONTNEED). The pages stay in their
// state; Ready ones read back as zero when next touched. A shared
// region refuses it (errors.ErrUnsupported), as it refuses Protect.
func (r *Region) Release(off, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, l, err := r.check("release", off, n)
	if err != nil {
		return err
	}
	if r.shm != nil {
		return r.errSharedOp("release")
	}
	if !r.spans.only(o, l, PartUsable, PartProtected) {
		return rangeError("release [%d, %d) of region %q: pages must be committed and mapped", off, off+n, r.name)
	}
	if err := sysDiscard(add(r.base, o), l, reason{"release", r.name}); err != nil {
		return fmt.Errorf("guard: release in region %q: %w", r.name, err)
	}
	return nil
}

// Punch moves the usable pages [off, off+n) to Unmapped with munmap. In
// the middle of the region this splits its kernel mapping in two (visible
// in /proc/self/maps) and costs one more mapping of the budget; touching
// the hole faults and Lookup names it "punched". A hole is never mapped
// again by the region. It returns ErrRange for pages already punched.
func (r *Region) Punch(off, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, l, err := r.check("punch", off, n)
	if err != nil {
		return err
	}
	if !r.spans.only(o, l, PartUsable, PartProtected, PartReserved) {
		return rangeError("punch [%d, %d) of region %q: pages already punched", off, off+n, r.name)
	}
	return r.transition(o, l, PartPunched, protHole, "", "punch", func() error { return sysUnmap(add(r.base, o), l, reason{"punch", r.name}) })
}

// Populate faults the usable pages [off, off+n) in for writing with one
// system call (MADV_POPULATE_WRITE), which costs far less than taking a
// page fault on each. It returns an error matching errors.ErrUnsupported
// where the kernel cannot (before Linux 5.14, or not Linux), the errno
// when it runs out of memory (ENOMEM) or asks to retry, ErrRange for
// pages that are not Ready, and ErrClosed after Close.
func (r *Region) Populate(off, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, l, err := r.check("populate", off, n)
	if err != nil {
		return err
	}
	if !r.spans.only(o, l, PartUsable) {
		return rangeError("populate [%d, %d) of region %q: pages must be Ready", off, off+n, r.name)
	}
	if err := sysPopulate(add(r.base, o), l, reason{"populate", r.name}); err != nil {
		return fmt.Errorf("guard: populate in region %q: %w", r.name, err)
	}
	return nil
}

// Resident returns how many usable bytes of the region are in RAM now,
// asked of the kernel with mincore. Guards and holes are not counted.
func (r *Region) Resident() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	ps := uintptr(align.PageSize())
	var in uintptr
	for _, sp := range r.spans {
		if sp.prot == protHole || sp.part == PartLowGuard || sp.part == PartHighGuard {
			continue
		}
		n, err := sysResident(add(r.base, sp.off), sp.n, ps)
		if err != nil {
			return 0, fmt.Errorf("guard: resident bytes of region %q: %w", r.name, err)
		}
		in += n
	}
	return int(in), nil
}

// Close unmaps the whole region, holes excepted (their addresses may
// belong to someone else by now), and returns its mappings to the budget.
// It is idempotent: a second Close returns nil. After Close every other
// method returns ErrClosed, and Lookup names the old addresses "closed"
// until they are mapped again. Close of a retired region takes it out of
// the quarantine and unmaps it now.
//
// Close always closes. If the kernel refuses a munmap (ENOMEM at
// vm.max_map_count, say), the region is closed all the same, but the
// range stays mapped, still charged to the budget, and guard tries again
// at the next Map or Close, at FlushUnmaps and at FlushQuarantine; Close
// then returns an error wrapping the errno. Nothing is left mapped for
// good.
func (r *Region) Close() error {
	r.mu.Lock()
	if r.retired {
		// Only a retired region is looked for in the quarantine: the
		// search is O(regions held), and every other Close skips it.
		r.mu.Unlock()
		if dequeue(r) != nil || uncache(r) {
			return r.unmapRetired()
		}
		return nil // leaving the quarantine or the cache right now: whoever took it unmaps or reuses it
	}
	defer r.mu.Unlock()
	if r.closed {
		return retryUnmaps()
	}
	r.closed = true
	return r.unmap("close")
}

// Retire moves the whole region to Reserved and keeps it there: its
// contents are dropped and every mapped page fenced (one guard marker
// install per run where the kernel has them, MADV_DONTNEED and
// PROT_NONE elsewhere), and the region waits in the process-wide quarantine
// (SetQuarantine), its addresses still reserved, so that nothing else
// can be mapped there. A stray access faults, and Lookup names it
// PartClosed with why ("use after close") and the site that site
// returns (called only when a fault is named, so that retiring costs
// no formatting). The region is unmapped when it leaves the quarantine
// (see FlushQuarantine). With the quarantine off, or when the fence
// cannot be made, Retire unmaps at once, as Close does. Like Close, it is
// idempotent and leaves every other method returning ErrClosed.
func (r *Region) Retire(why string, site func() string) error {
	quarantine.mu.Lock()
	on := quarantine.limit > 0
	quarantine.mu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	registry.mu.Lock()
	r.in.why, r.in.site = why, site
	registry.mu.Unlock()
	if !on || r.fenceAll() != nil {
		defer r.mu.Unlock()
		return r.unmap("retire")
	}
	r.retired = true
	unchargeBytes(r.charged) // fenced and emptied: address space only now
	r.charged = 0
	total, vmas, reusable := r.total, r.vmas, r.cacheable()
	r.mu.Unlock()
	enqueue(r, total, vmas, reusable)
	return nil
}

// fenceAll drops the contents of every mapped page of the reservation
// and fences it, one run of mapped pages at a time; on failure the caller
// unmaps the region. With guard markers one madvise does both for each
// run (installing a marker frees the page under it) and splits nothing;
// otherwise each run takes MADV_DONTNEED and then mprotect(PROT_NONE),
// and the region ends as one kernel mapping per run. r.mu must be held.
func (r *Region) fenceAll() error {
	markers := r.fence == FenceMarkers
	next := r.spare[:0]
	for _, sp := range r.spans {
		switch {
		case sp.prot == protHole:
		case markers && sp.prot == protNone:
			sp.part, sp.why = PartClosed, "" // already inaccessible and empty
		case markers:
			sp.part, sp.prot, sp.why = PartClosed, protRW, "" // a marker, as guards are counted
		default:
			sp.part, sp.prot, sp.why = PartClosed, protNone, ""
		}
		if k := len(next) - 1; k >= 0 && next[k].part == sp.part && next[k].prot == sp.prot {
			next[k].n += sp.n
			continue
		}
		next = append(next, sp)
	}
	for _, sp := range next {
		p := add(r.base, sp.off)
		switch {
		case sp.prot == protHole:
		case markers && sp.prot == protRW:
			if err := sysFenceInstall(p, sp.n, reason{"retire", r.name}); err != nil {
				return err
			}
		case markers:
		default:
			if err := sysDiscard(p, sp.n, reason{"retire", r.name}); err != nil {
				return err
			}
			if err := sysProtect(p, sp.n, unix.PROT_NONE, reason{"retire", r.name}); err != nil {
				return err
			}
		}
	}
	delta := next.vmas(r.splits) - r.vmas
	_ = charge(delta, "", "") // delta <= 0: fences add no prot, and runs merge
	r.spans, r.spare, r.vmas = next, r.spans, r.vmas+delta
	r.sync()
	return nil
}

// unmapRetired unmaps a region that has left the quarantine.
func (r *Region) unmapRetired() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.retired {
		return nil
	}
	r.retired = false
	return r.unmap("leave quarantine")
}

// unmap unmaps every mapped run of the reservation, returns the region's
// mappings to the budget and moves it to Lookup's closed ring. r.mu must
// be held and r.closed set.
func (r *Region) unmap(what string) error {
	var first error
	_ = charge(-r.vmas, "", "")
	unchargeBytes(r.charged)
	r.charged = 0
	for i := 0; i < len(r.spans); {
		if r.spans[i].prot == protHole {
			i++
			continue
		}
		j, end := i, r.spans[i].off+r.spans[i].n
		for j+1 < len(r.spans) && r.spans[j+1].prot != protHole {
			j++
			end = r.spans[j].off + r.spans[j].n
		}
		// The run's own share of the region's mappings: runs are
		// separated by holes, so the shares add up to r.vmas.
		vmas := r.spans[i : j+1].vmas(r.splits)
		if err := unmapOrDefer(add(r.base, r.spans[i].off), end-r.spans[i].off, vmas, reason{what, r.name}); err != nil && first == nil {
			first = fmt.Errorf("guard: %s region %q: %w (%w)", what, r.name, err, errDeferred)
		}
		i = j + 1
	}
	r.base, r.vmas = nil, 0
	retire(r.in) // before the file's descriptor closes: Lookup may fstat it while the region is live
	r.closeShared()
	_ = retryUnmaps() // others' deferred ranges: their errors are theirs, and FlushUnmaps reports them
	return first
}

// String describes the region in one line, with human sizes.
func (r *Region) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	state := ""
	switch {
	case r.retired:
		state = ", closed (in the quarantine, or fenced in the reuse cache)"
	case r.closed:
		state = ", closed"
	}
	return fmt.Sprintf("region %q at %#x: %s usable (%s committed), %s guards, fence %s, %d mapping(s)%s",
		r.name, r.addr+r.guard, humanize.IBytes(uint64(r.size)), humanize.IBytes(uint64(r.committed)),
		humanize.IBytes(uint64(r.guard)), r.fence, r.vmas, state)
}

// check validates a usable range [off, off+n) and returns it as offsets
// from the start of the reservation. r.mu must be held.
func (r *Region) check(what string, off, n int) (uintptr, uintptr, error) {
	if r.closed {
		return 0, 0, ErrClosed
	}
	ps := align.PageSize()
	switch {
	case n <= 0:
		return 0, 0, rangeError("%s region %q: length %d must be positive", what, r.name, n)
	case off < 0 || uintptr(off) > r.size || uintptr(n) > r.size-uintptr(off):
		return 0, 0, rangeError("%s [%d, %d) is outside the %d usable bytes of region %q", what, off, off+n, r.size, r.name)
	case off%ps != 0 || n%ps != 0:
		return 0, 0, rangeError("%s [%d, %d) of region %q: offset and length must be multiples of the page size %d", what, off, off+n, r.name, ps)
	}
	return r.guard + uintptr(off), uintptr(n), nil
}

// transition moves [off, off+n) of the reservation to part and prot by
// calling sys, charging the budget for any mappings the change adds
// before making it and refunding any it frees after. r.mu must be held.
func (r *Region) transition(off, n uintptr, part Part, p prot, why, what string, sys func() error) error {
	// The new states are built in the spare buffer: Lookup reads spans
	// only under the registry's lock, and the old ones stop being
	// visible to it in sync, so each change reuses the buffer of the one
	// before and, once the buffers are large enough, allocates nothing.
	next := r.spans.setWhyInto(r.spare[:0], off, n, part, p, why)
	splits := r.splits
	// The kernel cuts the mapping where protections change, except
	// where a shared region maps the next pages of its file: contiguous
	// offsets of one file merge into the mapping before them.
	if !r.spans.allProt(off, n, p) && (r.shm == nil || part != PartUsable) {
		splits = addSplits(splits, off, off+n)
	}
	delta := next.vmas(splits) - r.vmas
	if delta > 0 {
		if err := charge(delta, what, r.name); err != nil {
			return err
		}
	}
	if err := sys(); err != nil {
		if delta > 0 {
			_ = charge(-delta, "", "")
		}
		return fmt.Errorf("guard: %s in region %q: %w", what, r.name, err)
	}
	if delta < 0 {
		_ = charge(delta, "", "")
	}
	r.spans, r.spare, r.splits, r.vmas = next, r.spans, splits, r.vmas+delta
	r.sync()
	return nil
}
func pageSize() int { return align.PageSize() }
