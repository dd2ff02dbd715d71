package guard

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

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
