package guard

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/internal/errs"
)

// Shared memory: a memfd mapped MAP_SHARED over the start of a region's
// usable part, so that every process mapping the same file sees the same
// bytes. The layout is Map's: [low guard][file pages][reserved][high
// guard], the guards and the reserved pages PROT_NONE anonymous memory
// (mprotect fences, as MapFile uses: guard markers would save no kernel
// mapping here, since the file's mapping splits the reservation into
// three either way). Commit grows the file with ftruncate and maps its
// next pages with MAP_FIXED over the reserved ones, so growth never
// moves what is mapped, and the file's mappings merge into one kernel
// mapping: the budget counts a shared region as it counts a private
// one. Guard markers do work on the file's pages on
// Linux 6.13 and later (TestSharedMarkers), but Protect and Release are
// refused: both promise pages that read back as zero, and a shared page
// keeps its bytes for the other processes.
//
// The file is sealed against shrinking (F_SEAL_SHRINK) when it is made,
// so no process can cut it under another's mapping (which would turn
// each access past the new end into SIGBUS), and against further seals
// (F_SEAL_SEAL), so none can forbid growth or writes; AttachShared
// refuses a file without the first. Close, and a retired region leaving
// the quarantine, close the region's descriptor; the memory lives on
// while any process maps the file or holds a descriptor of it.

// ErrNotShared reports a file descriptor that AttachShared cannot map:
// not a memfd, or one not sealed against shrinking, or a file this
// process has mapped already.
var ErrNotShared = errors.New("guard: not a shared memory file")

// shmFile is the memfd behind a shared region. Set once by MapShared or
// AttachShared; fd is closed, and the file forgotten by attached, when
// the region is unmapped.
type shmFile struct {
	fd   int
	key  shmKey // zero for a file MapFileShared mapped: it is not claimed
	ro   bool   // mapped PROT_READ (MapFileShared); Commit is refused
	path string // the file's name, for a file MapFileShared mapped
}

// shmKey names a file in this process: device and inode.
type shmKey struct{ dev, ino uint64 }

// attached holds the files this process has mapped, so that one mapped
// twice (two regions aliasing the same bytes) is refused.
var attached struct {
	mu    sync.Mutex
	files map[shmKey]string // region names; guarded by mu
}

// claim records key for the region name, or reports the region that
// holds it already.
func claim(key shmKey, name string) error {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	if other, ok := attached.files[key]; ok {
		return errs.New(ErrNotShared, unix.EBUSY, "guard: attach %q: the file is mapped in this process already, by region %q", name, other)
	}
	if attached.files == nil {
		attached.files = make(map[shmKey]string)
	}
	attached.files[key] = name
	return nil
}

func unclaim(key shmKey) {
	attached.mu.Lock()
	delete(attached.files, key)
	attached.mu.Unlock()
}

// sharedOptions checks the options a shared region takes: Name, Reserve,
// GuardPages, NoGuards and Align. The others do not apply and are errors.
func sharedOptions(opts *Options, def string) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = def
	}
	switch {
	case o.HugePages:
		return o, fmt.Errorf("guard: shared region %q: HugePages does not apply to a memfd: %w", o.Name, unix.EINVAL)
	case o.Populate:
		return o, fmt.Errorf("guard: shared region %q: Populate does not apply to a memfd: %w", o.Name, unix.EINVAL)
	case o.Fence == FenceMarkers:
		return o, fmt.Errorf("guard: shared region %q: its guards are mprotect fences; FenceMarkers does not apply: %w", o.Name, unix.EINVAL)
	}
	o.Fence = FenceMprotect
	return o, nil
}

// MapShared makes a new memfd of size bytes (rounded up to whole pages),
// sealed against shrinking, and maps it shared at the start of a region
// laid out as Map's, with Options.Reserve usable bytes of address space
// held for growth (Commit grows the file and maps it in place). The
// memory reads as zero. SharedFile returns the file to hand to
// another process (exec.Cmd.ExtraFiles, or SCM_RIGHTS), which maps it
// with AttachShared. Options.HugePages, Populate and FenceMarkers do not
// apply and are errors. Linux only: elsewhere it returns an error
// matching errors.ErrUnsupported.
func MapShared(size int, opts *Options) (*Region, error) {
	o, err := sharedOptions(opts, "shared")
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, sizeError("map shared %q: size %d must be positive", o.Name, size)
	}
	n, ok := align.Up(uintptr(size), uintptr(align.PageSize()))
	if !ok || n > maxReserve {
		return nil, tooLarge("map shared %q: size %d is larger than the address space", o.Name, size)
	}
	f, err := sysMemfd(o.Name, n)
	if err != nil {
		return nil, fmt.Errorf("guard: map shared %q: %w", o.Name, err)
	}
	return mapShm(f, int(n), &o)
}

// AttachShared maps the memfd fd, made by MapShared in this or another
// process, at an address of the kernel's choosing, with the whole file
// Ready and Options.Reserve usable bytes held for growth (at least the
// file's size). The region keeps a duplicate of fd; the caller may close
// its own. It returns an error wrapping unix.EBADF for a descriptor that
// is not open, ErrNotShared for a file that is not a memfd, one that is
// not sealed against shrinking, or one this process has mapped already,
// and ErrSize when the file is empty or shorter than need bytes (a peer
// expects at least its header). Linux only, as MapShared.
func AttachShared(fd int, need int, opts *Options) (*Region, error) {
	o, err := sharedOptions(opts, "attached")
	if err != nil {
		return nil, err
	}
	f, size, err := sysAttach(fd, o.Name)
	if err != nil {
		return nil, err
	}
	if size < int64(need) || size == 0 {
		sysCloseFd(f.fd)
		return nil, sizeError("attach %q: the memfd holds %d bytes, fewer than the %d expected", o.Name, size, max(need, 1))
	}
	if uint64(size) > uint64(maxReserve) {
		sysCloseFd(f.fd)
		return nil, tooLarge("attach %q: the memfd holds %d bytes, more than the address space", o.Name, size)
	}
	return mapShm(f, int(size), &o)
}

// mapShm maps f's first size bytes over a new region; on failure the
// file is closed and nothing stays mapped.
func mapShm(f shmFile, size int, o *Options) (*Region, error) {
	if err := claim(f.key, o.Name); err != nil {
		sysCloseFd(f.fd)
		return nil, err
	}
	fail := func(err error) (*Region, error) {
		unclaim(f.key)
		sysCloseFd(f.fd)
		return nil, err
	}
	r, err := Map(size, o)
	if err != nil {
		return fail(err)
	}
	r.mu.Lock()
	r.file = true // never cached nor moved (Region.cacheable, MoveTo)
	err = sysMapShared(f.fd, add(r.base, r.guard), 0, r.committed, reason{"map shared", r.name})
	if err == nil {
		r.shm = &f
	}
	r.mu.Unlock()
	if err != nil {
		_ = r.Close()
		return fail(fmt.Errorf("guard: map shared %q: %w", o.Name, err))
	}
	return r, nil
}

// SharedFile returns a new *os.File for a duplicate (close-on-exec) of
// the memfd behind a region made by MapShared or AttachShared, for
// another process: put it in exec.Cmd.ExtraFiles, or send its Fd with
// SCM_RIGHTS. The caller owns it and closes it (os.File also closes it
// when garbage collected, which is why guard never hands out its own
// descriptor). It returns an error matching ErrNotShared for any other
// region, ErrClosed after Close, and the errno if the kernel refuses the
// duplicate (EMFILE).
func (r *Region) SharedFile() (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return nil, ErrClosed
	case r.shm == nil:
		return nil, errs.New(ErrNotShared, unix.EINVAL, "guard: region %q is not shared memory", r.name)
	}
	fd, err := sysDupFd(r.shm.fd)
	if err != nil {
		return nil, fmt.Errorf("guard: shared file of region %q: %w", r.name, err)
	}
	return os.NewFile(uintptr(fd), "memfd:mmarena:"+r.name), nil
}

// commitShared grows the file to at least off+n bytes of usable space
// and maps [off, off+n) of it at the same offset of the region. r.mu must
// be held; off is from the reservation's start.
func (r *Region) commitShared(off, n uintptr) error {
	return sysGrowShared(r.shm.fd, add(r.base, off), off-r.guard, n, reason{"commit", r.name})
}

// closeShared closes the file of a shared region being unmapped. r.mu
// must be held.
func (r *Region) closeShared() {
	if r.shm == nil {
		return
	}
	sysCloseFd(r.shm.fd)
	if r.shm.path == "" {
		unclaim(r.shm.key)
	}
	r.shm = nil
}

// errSharedOp reports a method a shared region refuses.
func (r *Region) errSharedOp(what string) error {
	return fmt.Errorf("guard: %s in shared region %q: its pages keep their bytes for other processes and cannot read back as zero: %w", what, r.name, errors.ErrUnsupported)
}
