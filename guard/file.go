package guard

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/internal/errs"
	"github.com/mmarena/mmarena/internal/inject"
)

// MapFile maps the first size bytes of f (rounded up to whole pages),
// fenced by guard pages like Map. With shared false the mapping is
// private (MAP_PRIVATE): writes go to copy-on-write pages of this process
// and never reach the file. With shared true (MAP_SHARED) writes reach the
// file, and every process mapping it sees them. f must be open for
// reading, and for writing too if shared; pages past the file's end
// fault (SIGBUS), as with any file mapping. Reserve, Align, HugePages,
// Populate and Fence are ignored: the guards are mprotect fences. The
// file may be closed once MapFile returns.
func MapFile(f *os.File, size int, shared bool, opts *Options) (*Region, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Reserve, o.Align, o.HugePages, o.Populate = 0, 0, false, false
	o.Fence = FenceMprotect // the guards are a PROT_NONE reservation around the file
	if o.Name == "" {
		o.Name = f.Name()
	}
	// Map the layout with mprotect fences, then map the file over the
	// usable part with MAP_FIXED: the guards stay, no other mapping can
	// slip in between, and the kernel mappings stay three (guard, file,
	// guard), as charged to the budget.
	r, err := Map(size, &o)
	if err != nil {
		return nil, err
	}
	flags := unix.MAP_FIXED | unix.MAP_PRIVATE
	if shared {
		flags = unix.MAP_FIXED | unix.MAP_SHARED
	}
	r.mu.Lock()
	r.file = true // never handed out again as anonymous memory (Region.cacheable)
	var p unsafe.Pointer
	if e := inject.Fail(inject.Mmap); e != 0 {
		err = e
	} else {
		p, err = unix.MmapPtr(int(f.Fd()), 0, add(r.base, r.guard), r.size, unix.PROT_READ|unix.PROT_WRITE, flags)
	}
	record("mmap", keeps, uintptr(p), r.size, reason{"map file", r.name}, err)
	r.mu.Unlock()
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("guard: map file %q: %w", f.Name(), sysError("mmap", 0, r.size, err))
	}
	return r, nil
}

// ErrNotMappable reports a file MapFileShared cannot map shared: not a
// regular file, or on a filesystem that refuses MAP_SHARED (the error
// wraps the kernel's answer, often unix.ENODEV or unix.EACCES).
var ErrNotMappable = errors.New("guard: file cannot be mapped shared")

// MapFileShared maps the whole of the regular file f (its size rounded
// up to whole pages) MAP_SHARED at the start of a region laid out as
// Map's, with Options.Reserve usable bytes of address space (at least
// the file's size) held for growth: writes reach the file and every process mapping it, and Commit
// grows the file (ftruncate) and maps its next pages in place, so growth
// never moves what is mapped. With readOnly the pages are PROT_READ: a
// write faults, and Lookup names it PartReadOnly; Commit is then refused.
// f must be open for reading, and for writing too unless readOnly; the
// region keeps a duplicate of its descriptor, so f may be closed. An
// access past the file's end (another process truncated it) raises
// SIGBUS, which Catch names PartPastEOF with the file's name. It returns
// ErrNotMappable for a file that is not regular or whose filesystem
// refuses the mapping, ErrSize for an empty file, an error wrapping
// unix.EBADF for a nil f, and Map's errors. Unlike Map, it maps a file
// larger than RAM and swap together: its pages are the file's, which the
// kernel writes back and drops under pressure, so Committed and the cap
// of SetCommitLimit leave them out (the one page Map makes Ready under
// the file's first page aside).
// HugePages, Populate and FenceMarkers do not apply and are errors.
// Linux only: elsewhere it returns an error matching
// errors.ErrUnsupported.
func MapFileShared(f *os.File, readOnly bool, opts *Options) (*Region, error) {
	if f == nil {
		return nil, fmt.Errorf("guard: map file: nil file: %w", unix.EBADF)
	}
	o, err := sharedOptions(opts, f.Name())
	if err != nil {
		return nil, err
	}
	var st os.FileInfo
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("guard: map file %q: %w", f.Name(), err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, errs.New(ErrNotMappable, unix.ENODEV, "guard: map file %q: not a regular file (%v)", f.Name(), st.Mode().Type())
	case st.Size() == 0:
		return nil, sizeError("map file %q: the file is empty", f.Name())
	case uint64(st.Size()) > uint64(maxReserve):
		return nil, tooLarge("map file %q: %d bytes, more than the address space", f.Name(), st.Size())
	}
	fd, err := sysDupFd(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("guard: map file %q: %w", f.Name(), err)
	}
	// Map makes one page Ready and holds the rest as Reserved, since
	// Map refuses more Ready pages than RAM and swap could back, and a
	// file's pages are backed by the file: a file larger than memory
	// maps. The file is then mapped over its share of the usable part.
	size, _ := align.Up(uintptr(st.Size()), uintptr(align.PageSize())) // ok: size <= maxReserve, checked above
	o.Reserve = max(o.Reserve, int(size))
	r, err := Map(align.PageSize(), &o)
	if err != nil {
		sysCloseFd(fd)
		return nil, err
	}
	r.mu.Lock()
	r.file = true // never cached nor moved (Region.cacheable, MoveTo)
	r.shm = &shmFile{fd: fd, ro: readOnly, path: f.Name()}
	off := r.guard
	part, p, prot, why := PartUsable, protRW, unix.PROT_READ|unix.PROT_WRITE, "map file shared"
	if readOnly {
		part, p, prot, why = PartReadOnly, protRO, unix.PROT_READ, "map file read-only"
	}
	err = r.transition(off, size, part, p, "", "map file", func() error {
		return sysMapFile(fd, add(r.base, off), 0, size, prot, reason{why, r.name})
	})
	if err == nil {
		r.committed = size
		r.sync()
	}
	if err == nil {
		registry.mu.Lock()
		r.in.file = &fileInfo{fd: fd, path: f.Name()}
		registry.mu.Unlock()
	}
	r.mu.Unlock()
	if err != nil {
		_ = r.Close() // closes fd too
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("guard: map file %q shared, the filesystem refuses: %w (%w)", f.Name(), ErrNotMappable, err)
		}
		return nil, fmt.Errorf("guard: map file %q shared: %w", f.Name(), err)
	}
	return r, nil
}

// fileInfo is what Lookup needs to tell a page past a file's end: the
// region's descriptor, valid while the region is live (unmap retires
// the region from Lookup before it closes the descriptor), and the
// file's name.
type fileInfo struct {
	fd   int
	path string
}

// pastEOF reports whether offset off of the file lies past its end now,
// and the file's size; false when the size cannot be read.
func (fi *fileInfo) pastEOF(off int64) (int64, bool) {
	size, err := sysFileSize(fi.fd)
	if err != nil {
		return 0, false
	}
	return size, off >= size
}

// Sync writes the dirty pages of [off, off+n) of a shared region (a
// file or a memfd) to its file and waits until the device has them
// (msync MS_SYNC); off and n are rounded out to whole pages and clipped
// to the committed pages. It returns ErrClosed after Close, ErrRange for
// a negative range, and an error wrapping the errno (unix.EIO when the
// device failed) otherwise. A private region has no file: ErrNotShared.
func (r *Region) Sync(off, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case r.shm == nil:
		return errs.New(ErrNotShared, unix.EINVAL, "guard: sync region %q: not a shared mapping", r.name)
	case off < 0 || n < 0:
		return rangeError("sync [%d, %d) of region %q: negative", off, off+n, r.name)
	}
	ps := uintptr(align.PageSize())
	lo := uintptr(off) &^ (ps - 1)
	hi := min(uintptr(off)+uintptr(n), r.committed)
	if hi <= lo {
		return nil
	}
	hi = (hi + ps - 1) &^ (ps - 1)
	if err := sysSync(add(r.base, r.guard+lo), hi-lo, reason{"sync", r.name}); err != nil {
		return fmt.Errorf("guard: sync region %q: %w", r.name, err)
	}
	return nil
}
