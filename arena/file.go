package arena

import (
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmarena/mmarena/align"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// File arenas: a bump arena in a regular file mapped MAP_SHARED
// (guard.MapFileShared), so that what is built in it is on disk and can
// be reopened, by this or another process, at any address, with no
// decoding.
//
// Layout. The file starts with two header slots, fileSlot values at
// offsets 0 and fileSlotGap (each in its own 512-byte sector), then the
// blocks Alloc handed out from fileDataStart, in order. A slot records a
// commit: its sequence number, the used size (the cursor at the commit),
// the root's offset and a checksum of the rest. Commit writes the data
// with msync, then the slot the newest does not occupy, then msyncs the
// header; open takes the valid slot (right magic and checksum) with the
// larger sequence number. A crash while a slot is being written leaves
// it failing its checksum, and the other slot, the previous commit,
// wins. Blocks past the committed used size are never trusted: the
// cursor starts at used on reopen, and Alloc clears what it hands out
// below the size the file had at open.
//
// References. As in a Memfd, a Ref's offset is from the file's start,
// and the key it carries is drawn at create and kept in the header, so a
// Ref stored in the file means the same after any reopen.

// fileMagic opens every header slot: the bytes "mmarenaF" on a
// little-endian machine. The file is read with the byte order it was
// written with; a big-endian reader sees a bad magic.
const fileMagic = 0x46616e6572616d6d

// fileVersion is the format version; another is refused at open
// (ErrFileHeader).
const fileVersion = 1

// fileSlotGap is the offset of the second header slot, and
// fileDataStart where allocation starts: each slot in its own 512-byte
// sector, so that a device that writes sectors whole never tears both.
const (
	fileSlotGap   = 512
	fileDataStart = 2 * fileSlotGap
)

// defaultFileReserve is the address space a file arena reserves when
// Limit is not given (at least the file's size): PROT_NONE, so it costs
// nothing while open; a quarter of guard's quarantine, so that a closed
// arena's range waits there fenced rather than pushing it out at once.
const defaultFileReserve = 256 << 20

// A fileSlot is one of the two header slots. Its layout is the format:
// changing it means a new fileVersion.
type fileSlot struct {
	magic    uint64 // fileMagic
	version  uint32 // fileVersion
	pageSize uint32 // the creator's page size; an opener's must match
	layout   uint64 // layoutHash of the root type
	key      uint64 // tag and generation of every Ref into the file
	seq      uint64 // commit number: 1 at create, +1 per Commit; the larger valid slot wins
	used     uint64 // bytes in use at the commit; fileDataStart <= used <= the file's size
	root     uint64 // offset of the root, or 0 for none; fileDataStart <= root, root+sizeof(T) <= used
	sum      uint64 // crc64 (ECMA) of the fields above
}

const fileSlotSize = int(unsafe.Sizeof(fileSlot{}))

var crcTable = crc64.MakeTable(crc64.ECMA)

// checksum is the crc64 of every field of s but sum.
func (s *fileSlot) checksum() uint64 {
	b := bytesOf(unsafe.Pointer(s), fileSlotSize) // ok: s is a whole fileSlot
	return crc64.Checksum(b[:fileSlotSize-8], crcTable)
}

// ErrFileHeader reports a file OpenFile refuses: not a file arena (no
// slot has the magic), both slots failing their checksums, another
// format version, page size or root type layout than this process's, or
// fields out of range. The error names which.
var ErrFileHeader = errors.New("arena: not a file arena this process can open")

// ErrLocked reports a file arena another open holds: a writer excludes
// every other open, readers exclude writers (flock). It matches
// unix.EWOULDBLOCK too.
var ErrLocked = errors.New("arena: file arena is locked by another open")

// A File is a bump arena in a regular file, mapped MAP_SHARED inside a
// larger reservation, so that what is built in it is the file: Close it,
// and OpenFile maps it again, here or in another process, at whatever
// address, with nothing to decode. Structures in it link with Refs
// (FileRef, Ref.InFile), which mean the same at every address; a pointer
// into it is valid only until Close. The root (SetFileRoot, FileRoot) is
// where a reopen starts.
//
// Durability. Writes reach the file's pages in the page cache at once
// and survive the process; Sync writes them to the device (msync
// MS_SYNC). Commit makes the arena's state durable atomically: the used
// size and the root, written in a header slot after the data is synced.
// After a crash of the process or the machine, OpenFile finds the state
// of the last Commit that returned, or of one that was under way when
// the crash came, never a mix. What can be lost: every allocation made
// after the last commit (its bytes may be on disk, but past the
// committed used size, and the next writer reuses them) and a root set
// since. What is not protected: bytes written in place, after a commit,
// into blocks that commit covered: they reach the disk whenever the
// kernel writes the page, so after a crash they may be there, or not,
// or (for a write that spans pages) in part. A structure that must
// survive crashes whole is built append-only: new blocks, then a new
// root, then Commit. For a machine crash this holds where msync does
// what it promises (the data and the file's size are on the device when
// it returns) and the device writes a 512-byte sector whole or not at
// all; a slot torn anyway fails its checksum, and the previous commit
// stands. A process crash needs neither: the page cache keeps every
// write.
//
// A File opened for writing holds an exclusive flock on the file, one
// opened with Options.ReadOnly a shared one, so there is one writer or
// any number of readers, across processes. Read-only, the pages are
// PROT_READ: a write faults, and guard.Catch names it a read-only file
// page; an access past the file's end (another program truncated it)
// faults with SIGBUS, which Catch names "past the end of file". A File
// must not be used by two goroutines at once, nor copied. Linux only:
// elsewhere CreateFile and OpenFile return an error matching
// errors.ErrUnsupported.
type File struct {
	_      noCopy
	f      *os.File // holds the flock; nil after Close
	r      *guard.Region
	base   unsafe.Pointer // start of the mapping; nil after Close
	n      uint64         // bytes mapped, from base: what Alloc may hand out
	refs   RefSpace       // base + fileDataStart, slot.key + fileDataStart, n - fileDataStart: what InFile resolves in (place)
	cursor uint64         // next free byte; fileDataStart <= cursor <= n
	dirty  uint64         // bytes below which the file may hold stale data (its size at open); Alloc clears there
	root   uint64         // the root's offset, as set since the last commit; 0 for none
	slot   fileSlot       // the newest commit's slot, as written
	cur    int            // which slot holds it, 0 or 1
	ro     bool
	name   string
	cl     runtime.Cleanup // reports the arena if it is dropped without Close

	// The registry's entry (file_stats.go): its id, the slot summaries
	// go in, and the snapshot count last answered.
	id       uint64
	entry    *atomic.Pointer[Summary]
	answered uint64
}

// CreateFile makes a new file arena at path for a root of type T, which
// must not exist yet (an error matching os.ErrExist), and returns it
// opened for writing, with no root. The file appears at path whole or
// not at all: it is written in a temporary file in path's directory
// (".NAME.creating-*"), synced, and renamed to path, so a crash during
// CreateFile leaves no file at path, at worst the temporary one.
// Options: Name (Default: the file's base name); Limit, the address
// space reserved and so the most the file grows to while this open
// lasts (Default: 256 MiB, at most 1 TiB); InitialSize, the file's first
// size, in whole pages (Default: one page); NoGuards. Others are refused
// with ErrUnsupported. It returns a *PointerError if T holds Go
// pointers, and the error of creating, locking, renaming or mapping the
// file.
func CreateFile[T any](path string, opts *Options) (*File, error) {
	if err := checkType[T](); err != nil {
		return nil, err
	}
	o, err := opts.resolve(kindFile)
	if err != nil {
		return nil, err
	}
	if o.ReadOnly {
		return nil, fmt.Errorf("%w: file arena %q: ReadOnly: CreateFile makes a file to write", ErrUnsupported, o.Name)
	}
	name := fileName(path, o.Name)
	fail := func(err error) (*File, error) {
		return nil, fmt.Errorf("arena: create file arena %q: %w", name, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fail(&os.PathError{Op: "create", Path: path, Err: os.ErrExist})
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".creating-*")
	if err != nil {
		return fail(err)
	}
	renamed := false
	defer func() {
		tmp.Close()
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	// The lock is taken on the temporary file's open description, which
	// the descriptor f below shares: it holds from before the file has
	// its name until Close.
	if err := lockFile(tmp, false, name); err != nil {
		return nil, err
	}
	ps := uint64(align.PageSize())
	size := (max(uint64(o.InitialSize), fileDataStart) + ps - 1) &^ (ps - 1)
	s := fileSlot{magic: fileMagic, version: fileVersion, pageSize: uint32(ps),
		layout: layoutHash(reflect.TypeFor[T]()), key: newRefBase(), seq: 1, used: fileDataStart}
	s.sum = s.checksum()
	if err := tmp.Truncate(int64(size)); err != nil {
		return fail(err)
	}
	if _, err := tmp.WriteAt(bytesOf(unsafe.Pointer(&s), fileSlotSize), 0); err != nil { // ok: s is a whole fileSlot
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	// The rename fails if path exists: no arena is ever replaced.
	if err := renameNoReplace(tmp.Name(), path); err != nil {
		return fail(err)
	}
	renamed = true
	syncDir(filepath.Dir(path))
	fd, err := unix.FcntlInt(tmp.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		os.Remove(path)
		return fail(os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err))
	}
	f := os.NewFile(uintptr(fd), path)
	a, err := openFile[T](f, &o, name, true)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	a.watch(callerPC(1))
	return a, nil
}

// linkReplace is renameNoReplace by a hard link, which fails if new
// exists, and an unlink of old.
func linkReplace(old, new string) error {
	if err := os.Link(old, new); err != nil {
		return err
	}
	return os.Remove(old)
}

// syncDir makes a new name in dir durable (fsync of the directory), as
// well as the system allows: some refuse to sync a directory, and the
// name is there for this and every other process either way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// OpenFile opens the file arena at path, made by CreateFile for a root
// of type T, at the state of its last commit: allocation continues from
// the committed used size, and FileRoot returns the committed root. It
// reads and checks the header before it maps anything, and a failed
// open writes nothing to the file: ErrFileHeader for a file that is not
// a file arena, whose slots both fail their checksums, of another format
// version or page size, or whose root type's layout differs from T's;
// ErrSize for a file shorter than its header says; ErrLocked when
// another open holds it; guard.ErrNotMappable on a filesystem that
// refuses a shared mapping; the error of opening the file otherwise.
// Options: Name, Limit and NoGuards as for CreateFile, the reservation
// being at least the file's size; ReadOnly opens it PROT_READ with a
// shared lock, for any number of readers (Alloc, Commit and SetFileRoot
// then return ErrFrozen). Others are refused with ErrUnsupported.
func OpenFile[T any](path string, opts *Options) (*File, error) {
	if err := checkType[T](); err != nil {
		return nil, err
	}
	o, err := opts.resolve(kindFile)
	if err != nil {
		return nil, err
	}
	if o.InitialSize != 0 {
		return nil, fmt.Errorf("%w: file arena %q: InitialSize is CreateFile's", ErrUnsupported, o.Name)
	}
	name := fileName(path, o.Name)
	flag := os.O_RDWR
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("arena: open file arena %q: %w", name, err)
	}
	a, err := openFile[T](f, &o, name, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.watch(callerPC(1))
	return a, nil
}

// openFile is OpenFile once the file is open: lock (unless CreateFile
// holds the lock already), read and check the header, map.
func openFile[T any](f *os.File, o *Options, name string, locked bool) (*File, error) {
	if !locked {
		if err := lockFile(f, o.ReadOnly, name); err != nil {
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("arena: open file arena %q: %w", name, err)
	}
	var hdr [fileDataStart]byte
	n, err := f.ReadAt(hdr[:], 0)
	if err != nil && n < len(hdr) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("arena: open file arena %q: %w", name, err)
	}
	var zero T
	s, cur, err := parseFileHeader(hdr[:n], uint64(st.Size()), reflect.TypeFor[T](), uint64(unsafe.Sizeof(zero)), uint64(unsafe.Alignof(zero)))
	if err != nil {
		return nil, fmt.Errorf("arena: open file arena %q: %w", name, err)
	}
	a, err := mapFile(f, uint64(st.Size()), o.ReadOnly, o, name)
	if err != nil {
		return nil, err
	}
	if ps := int64(align.PageSize()); !o.ReadOnly && st.Size()%ps != 0 {
		// The last page is mapped whole, but bytes past the file's end
		// never reach it: make the file cover the page before Alloc
		// hands them out. The open has succeeded; this is its first
		// write.
		if err := f.Truncate((st.Size() + ps - 1) / ps * ps); err != nil {
			a.discard()
			return nil, fmt.Errorf("arena: open file arena %q: %w", name, err)
		}
	}
	a.slot, a.cur = s, cur
	a.cursor, a.root, a.dirty = s.used, s.root, a.n
	a.place()
	return a, nil
}

// parseFileHeader picks the newest valid slot of hdr, the first
// fileDataStart bytes of a file of size bytes (fewer if the file is
// shorter), and checks it against a root type t of size tsize and
// alignment talign. It returns the slot and its index, or an error
// matching ErrFileHeader or ErrSize. It reads nothing but hdr.
func parseFileHeader(hdr []byte, size uint64, t reflect.Type, tsize, talign uint64) (fileSlot, int, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, ErrFileHeader)...)
	}
	if len(hdr) < fileDataStart || size < fileDataStart {
		if len(hdr) >= fileSlotSize && readSlot(hdr, 0).magic == fileMagic {
			return fileSlot{}, 0, errSize("the file holds %d bytes, fewer than its %d-byte header (truncated?)", size, fileDataStart)
		}
		return fileSlot{}, 0, bad("%d bytes, too short for a file arena", size)
	}
	var best fileSlot
	cur, magic := -1, false
	for i := range 2 {
		s := readSlot(hdr, i*fileSlotGap)
		if s.magic != fileMagic {
			continue
		}
		magic = true
		if s.sum == s.checksum() && (cur < 0 || s.seq > best.seq) {
			best, cur = s, i
		}
	}
	switch {
	case !magic:
		return fileSlot{}, 0, bad("no header slot has the magic of a file arena")
	case cur < 0:
		return fileSlot{}, 0, bad("both header slots fail their checksums")
	}
	s := best
	ps := uint64(align.PageSize())
	switch {
	case s.version != fileVersion:
		return fileSlot{}, 0, bad("format version %d, this build reads %d", s.version, fileVersion)
	case uint64(s.pageSize) != ps:
		return fileSlot{}, 0, bad("made with %d-byte pages, this process has %d", s.pageSize, ps)
	case s.layout != layoutHash(t):
		return fileSlot{}, 0, bad("root type %v has layout hash %#x here, the file's root has %#x", t, layoutHash(t), s.layout)
	case s.used < fileDataStart || s.used > fileMaxReserve:
		return fileSlot{}, 0, bad("used size %d out of range", s.used)
	case s.root != 0 && (s.root < fileDataStart || s.root%talign != 0 || s.root > s.used || tsize > s.used-s.root):
		return fileSlot{}, 0, bad("root at %d, used %d: out of range", s.root, s.used)
	case s.used > size:
		return fileSlot{}, 0, errSize("the header says %d bytes are used, the file holds %d (truncated?)", s.used, size)
	}
	return s, cur, nil
}

// readSlot copies the slot at off of hdr, which holds it whole.
func readSlot(hdr []byte, off int) fileSlot {
	var s fileSlot
	copy(bytesOf(unsafe.Pointer(&s), fileSlotSize), hdr[off:off+fileSlotSize]) // ok: s is a whole fileSlot
	return s
}

// fileMaxReserve bounds the reservation: a Ref's offset has refOffBits.
const fileMaxReserve = 1 << refOffBits

// fileName is the arena's name: the Name option, or path's base name.
func fileName(path, name string) string {
	if name != "" && name != kindFile {
		return name
	}
	return filepath.Base(path)
}

// lockFile takes f's flock without waiting: shared for a reader,
// exclusive for a writer.
func lockFile(f *os.File, shared bool, name string) error {
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("arena: file arena %q: %w (%w)", name, ErrLocked, os.NewSyscallError("flock", err))
		}
		return fmt.Errorf("arena: file arena %q: %w", name, os.NewSyscallError("flock", err))
	}
}

// mapFile maps f, of size bytes, in a reservation of Limit (or the
// default, and at least the file), and returns the File around it.
func mapFile(f *os.File, size uint64, ro bool, o *Options, name string) (*File, error) {
	ps := uint64(align.PageSize())
	reserve := uint64(o.Limit)
	if reserve == 0 {
		reserve = defaultFileReserve
	}
	reserve = (max(reserve, size) + ps - 1) &^ (ps - 1)
	if reserve > fileMaxReserve {
		return nil, errTooLarge("file arena %q: reservation %d is over the 1 TiB a Ref can address", name, reserve)
	}
	r, err := guard.MapFileShared(f, ro, &guard.Options{Name: name, NoGuards: o.NoGuards, Reserve: int(reserve)})
	if err != nil {
		return nil, fmt.Errorf("arena: file arena %q: %w", name, err)
	}
	return &File{f: f, r: r, base: r.Pointer(), n: uint64(r.Committed()), ro: ro, name: name}, nil
}

// watch arranges for a leak report if a is dropped without Close.
func (a *File) watch(pc uintptr) {
	a.register(pc)
	a.cl = watchRegion(a, regionLeak{name: a.name, kind: kindFile, site: pc, r: a.r, slot: a.entry})
}

// Alloc returns size zeroed bytes aligned to al from the cursor, growing
// the file (in steps that double the mapping, up to the reservation)
// when they do not fit. It returns ErrClosed after Close, ErrFrozen for
// a read-only open, ErrLimit past the reservation (changing nothing), an
// error matching align.ErrAlignment for an alignment that is not a power
// of two or is over the page size, and a valid pointer that uses no
// memory for size 0. The block is the file's until the next Commit
// records it; a crash before that discards it. O(1); without growth, no
// system call.
func (a *File) Alloc(size, al uintptr) (unsafe.Pointer, error) {
	switch {
	case a == nil || a.base == nil:
		return nil, ErrClosed
	case a.ro:
		return nil, fmt.Errorf("arena: file arena %q is open read-only: %w", a.name, ErrFrozen)
	case al == 0 || al&(al-1) != 0 || al > maxAlign:
		return nil, errAlign(al)
	case size == 0:
		return zeroSized(), nil
	}
	off := (a.cursor + uint64(al) - 1) &^ uint64(al-1)
	end := off + uint64(size)
	if end < off || end > uint64(a.r.Size()) {
		return nil, errLimit(a.name, size, uintptr(a.cursor), uintptr(a.r.Size()))
	}
	if end > a.n {
		ps := uint64(align.PageSize())
		c := min(uint64(a.r.Size()), max((end+ps-1)&^(ps-1), 2*a.n))
		if err := a.r.Commit(int(c)); err != nil {
			return nil, fmt.Errorf("arena: file arena %q: grow to %d bytes: %w", a.name, c, err)
		}
		a.n = c
		a.place()
	}
	if off < a.dirty {
		// Below the size the file had at open, the bytes past the
		// committed cursor may be blocks of a writer that did not
		// commit; a file's new pages read as zero.
		clearBytes(add(a.base, uintptr(off)), uintptr(min(end, a.dirty)-off)) // ok: off < end <= n, mapped
	}
	a.cursor = end
	a.publish()
	return add(a.base, uintptr(off)), nil // ok: end <= n, mapped
}

// Sync writes every dirty page of the file to the device and waits
// (msync MS_SYNC). It does not commit: after a crash, OpenFile still
// starts from the last commit. It returns ErrClosed after Close, and an
// error wrapping the errno if the device fails (unix.EIO). A read-only
// open has nothing to write and returns nil.
func (a *File) Sync() error {
	if a == nil || a.base == nil {
		return ErrClosed
	}
	if a.ro {
		return nil
	}
	if err := a.r.Sync(0, int(a.n)); err != nil {
		return fmt.Errorf("arena: sync file arena %q: %w", a.name, err)
	}
	return nil
}

// Commit makes the arena's state durable: it syncs the data (Sync), then
// writes the used size and the root into the header slot the last
// commit does not occupy, with the next sequence number and a checksum,
// and syncs that. Once it returns, a crash leaves the file at this
// state; a crash during it leaves the file at this state or the
// previous one. It returns ErrClosed after Close, ErrFrozen for a
// read-only open, and Sync's errors, in which case the previous commit
// stands (the new slot is written only after the data is on disk).
func (a *File) Commit() error {
	switch {
	case a == nil || a.base == nil:
		return ErrClosed
	case a.ro:
		return fmt.Errorf("arena: file arena %q is open read-only: %w", a.name, ErrFrozen)
	}
	if err := a.Sync(); err != nil {
		return err
	}
	s := a.slot
	s.seq++
	s.used, s.root = a.cursor, a.root
	s.sum = s.checksum()
	next := 1 - a.cur
	// ok: both slots lie in the first fileDataStart bytes, mapped.
	*viewAs[fileSlot](add(a.base, uintptr(next*fileSlotGap))) = s
	if err := a.r.Sync(0, fileDataStart); err != nil {
		return fmt.Errorf("arena: commit file arena %q: %w", a.name, err)
	}
	a.slot, a.cur = s, next
	a.publish()
	return nil
}

// Used returns the bytes in use: the header and every block handed out,
// committed or not. After OpenFile it is the committed used size.
func (a *File) Used() int64 {
	if a == nil || a.base == nil {
		return 0
	}
	return int64(a.cursor)
}

// FileRoot returns the arena's root, a *T where SetFileRoot put it,
// as last set (committed or not); nil if none was ever set. It returns
// ErrClosed after Close, and ErrFileHeader if T's layout is not the
// root type the file was made for.
func FileRoot[T any](a *File) (*T, error) {
	if a == nil || a.base == nil {
		return nil, ErrClosed
	}
	if err := a.checkRoot(reflect.TypeFor[T]()); err != nil {
		return nil, err
	}
	if a.root == 0 {
		return nil, nil
	}
	return viewAs[T](add(a.base, uintptr(a.root))), nil // ok: parseFileHeader or SetFileRoot put root+sizeof(T) inside the mapping
}

// SetFileRoot makes p, a T in the arena (New or Alloc handed it out),
// the root that FileRoot returns, and that the next Commit records; a
// nil p clears it. It returns ErrClosed after Close, ErrFrozen for a
// read-only open, ErrNotOwned for memory outside the arena's blocks, and
// ErrFileHeader if T's layout is not the file's root type.
func SetFileRoot[T any](a *File, p *T) error {
	switch {
	case a == nil || a.base == nil:
		return ErrClosed
	case a.ro:
		return fmt.Errorf("arena: file arena %q is open read-only: %w", a.name, ErrFrozen)
	}
	if err := a.checkRoot(reflect.TypeFor[T]()); err != nil {
		return err
	}
	if p == nil {
		a.root = 0
		return nil
	}
	o, err := a.offsetOf(unsafe.Pointer(p), unsafe.Sizeof(*p))
	if err != nil {
		return fmt.Errorf("arena: SetFileRoot: %w", err)
	}
	a.root = o
	return nil
}

// checkRoot reports a root type other than the file's.
func (a *File) checkRoot(t reflect.Type) error {
	if h := layoutHash(t); h != a.slot.layout {
		return fmt.Errorf("arena: file arena %q: root type %v has layout hash %#x, the file's root has %#x: %w", a.name, t, h, a.slot.layout, ErrFileHeader)
	}
	return nil
}

// offsetOf returns the offset of the size bytes at p, which must lie in
// the blocks handed out, or ErrNotOwned.
func (a *File) offsetOf(p unsafe.Pointer, size uintptr) (uint64, error) {
	o, ok := offsetIn(p, a.base, uintptr(a.cursor)) // ok: only compared with the mapping's bounds
	if !ok || uint64(o) < fileDataStart || size > uintptr(a.cursor)-o {
		return 0, fmt.Errorf("file arena %q: %w", a.name, ErrNotOwned)
	}
	return uint64(o), nil
}

// FileRef returns a Ref to *p, which must lie wholly in the blocks a
// handed out; a nil p gives the zero Ref. It returns ErrClosed after
// Close and ErrNotOwned for memory elsewhere. Stored in the file, the
// Ref resolves (Ref.InFile) to the same object after any reopen. O(1).
func FileRef[T any](a *File, p *T) (Ref[T], error) {
	switch {
	case p == nil:
		return Ref[T]{}, nil
	case a == nil || a.base == nil:
		return Ref[T]{}, ErrClosed
	}
	o, err := a.offsetOf(unsafe.Pointer(p), unsafe.Sizeof(*p))
	if err != nil {
		return Ref[T]{}, fmt.Errorf("arena: FileRef: %w", err)
	}
	return Ref[T]{a.slot.key | o}, nil
}

// InFile returns the T that r refers to in the file arena a, or nil if r
// is the zero Ref, a is nil or closed, or r is not a Ref into a's file,
// is misaligned for T, or points past what is mapped. A non-nil result is a whole, aligned T
// in a's mapping, never the header. It makes no system call and is
// inlined.
func (r Ref[T]) InFile(a *File) *T {
	var zero T
	if a != nil {
		return viewAs[T](a.refs.resolve(r.v, unsafe.Sizeof(zero), unsafe.Alignof(zero))) // ok: resolve checked bounds and alignment
	}
	return nil
}

// place sets what resolve reads from base, the key and n.
func (a *File) place() { a.refs.set(a.base, a.n, a.slot.key, fileDataStart) }

// Close unmaps the arena and releases the file and its lock; it does
// not commit, so what was allocated since the last Commit is discarded
// at the next open. Every pointer into the arena is then invalid: as
// with every arena, the range waits, fenced, in guard's quarantine, so
// a pointer kept past Close faults and hardened.Catch names it a use
// after close. A second Close returns ErrClosed. A File dropped without
// Close is reported (SetLeakHandler, kind "file") and keeps its mapping
// and its lock.
func (a *File) Close() error {
	if a == nil || a.base == nil {
		return ErrClosed
	}
	a.cl.Stop()
	unregister(a.id)
	err := a.discardOn(closeSite())
	if cerr := a.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("arena: close file arena %q: %w", a.name, cerr)
	}
	a.f = nil
	return err
}

// discard gives up a half-made arena: the mapping, not the file.
func (a *File) discard() { _ = a.discardOn(new([4]uintptr)) }

// discardOn unlocks the file (its lock is on the open file description,
// which the quarantined region's descriptor shares, so it would outlive
// Close otherwise) and retires the mapping.
func (a *File) discardOn(pcs *[4]uintptr) error {
	_ = unix.Flock(int(a.f.Fd()), unix.LOCK_UN)
	a.base, a.n, a.cursor, a.dirty = nil, 0, 0, 0
	a.refs = RefSpace{}
	return retireRegion(a.r, hardened.KindUseAfterClose, pcs)
}
