package arena

import (
	"fmt"
	"time"

	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// Options configure an arena of any kind. A nil *Options means every
// default. Each field says which kinds use it; giving a non-zero value
// to a kind that does not (a Quarantine to NewFreeList, a Sample to
// NewShared) is refused with ErrUnsupported naming the field, and a value
// out of range with ErrSize, by the one check every constructor runs.
// Constructors copy them, so they may be changed or shared once the
// constructor returns (the *hardened.Options of Sample too).
type Options struct {
	// Name labels the arena in Stats, fault reports and leak reports.
	// Every kind. Default: the kind, "bump", "shared" or "freelist".
	Name string

	// Limit caps the usable bytes of all the arena's mappings together;
	// an allocation that would pass it fails with ErrLimit and changes
	// nothing. Every kind; sampled blocks (Sample) do not count against
	// it. Default: 0, no limit.
	Limit int64

	// NoGuards maps chunks without guard pages: no fault at the end of a
	// chunk, but one kernel mapping less where guard markers are missing.
	// Every kind. Default: false, one guard page at each end of every
	// chunk.
	NoGuards bool

	// HugePages backs chunks of 2 MiB and more with transparent huge
	// pages (MADV_HUGEPAGE, chunks aligned to 2 MiB): first touch of a
	// large arena becomes several times cheaper, at the price of RSS in
	// 2 MiB steps. Every kind. Default: false.
	HugePages bool

	// Prefault faults each chunk's pages in when it is mapped
	// (MADV_POPULATE_WRITE), so no allocation takes a page fault. Every
	// kind. Default: false.
	Prefault bool

	// InitialSize is the usable size of the first chunk, rounded up to
	// whole pages; each further chunk doubles it, up to MaxChunk, and an
	// allocation larger than that gets a chunk of its own. Bump and
	// Shared; a FreeList's chunks are 4 MiB. Default: 64 KiB.
	InitialSize int

	// MaxChunk caps the size chunks grow to. Bump and Shared.
	// Default: 64 MiB.
	MaxChunk int

	// ResetRelease makes Reset give used pages back to the OS
	// (MADV_DONTNEED) instead of keeping them and zeroing them as they are
	// handed out again. Keeping is faster when the arena is refilled (a
	// page fault costs more than clearing a hot page: see
	// BenchmarkResetRefill); releasing keeps RSS down between uses. Bump
	// and Shared, which have a Reset. Default: false.
	ResetRelease bool

	// Quarantine is a debugging aid: for this many Resets after a Reset,
	// the memory it freed stays fenced (PROT_NONE or guard markers) and is
	// never handed out, so a pointer kept past Reset faults and is named
	// "use after reset". It costs fresh chunks for every Reset. Bump and
	// Shared. Default: 0, off.
	Quarantine int

	// CheckFreed makes a FreeList zero each block when it is freed and
	// check it is still zero when it is next handed out, so a write after
	// free is reported (ErrWriteAfterFree, naming the block) instead of
	// silently corrupting the next owner. It costs a clear on every Free
	// and a scan on every reuse. FreeList and SyncFreeList.
	// Default: false.
	CheckFreed bool

	// LargeCache bounds, in bytes, the freed large blocks (over 32 KiB,
	// or aligned to more than a page) a FreeList keeps mapped for reuse
	// instead of giving them back: the next large Alloc that fits takes
	// one with no system call. A freed block in the cache is not fenced,
	// so a use after free of it is not caught; see the FreeList doc. A
	// negative value turns the cache off: every large Free retires its
	// block into guard's quarantine, as CheckFreed does. FreeList and
	// SyncFreeList, without CheckFreed. Default: 64 MiB.
	LargeCache int64

	// LargeDecay is how long a cached large block keeps its pages before
	// they are given back (MADV_DONTNEED), so that RSS falls once the
	// blocks stop being reused; the block stays cached, reading zero. A
	// negative value gives them back at Free. Decay is lazy: it happens
	// during the arena's own calls, never in the background. FreeList
	// and SyncFreeList, without CheckFreed. Default: 10 s, jemalloc's
	// dirty_decay_ms.
	LargeDecay time.Duration

	// Sample turns on hardened mode: one allocation in Sample.Every (1:
	// every one, as Electric Fence does) is placed flush against a fenced
	// page by a pool of package hardened, and the call stack that made it
	// is recorded. Free (FreeList), Reset or Close fence its pages again
	// and record that stack too; the freed block then stays fenced in a
	// first-in first-out quarantine of Sample.Slots slots. A fault at or
	// next to a sampled block is explained by hardened.Catch or
	// hardened.Explain as an overflow, underflow, use after free, use
	// after reset or use after close, naming both sites. A sampled
	// allocation costs a system call or two (see BenchmarkSampled); the
	// others cost a counter. When guard's mapping budget is spent,
	// sampling stops for the rest of the arena's life
	// (Stats.Sample.Stopped says why) rather than an allocation failing.
	// Sample.Name defaults to Name. Bump, FreeList and SyncFreeList; a
	// Shared cannot sample (use a Bump per goroutine, or a SyncFreeList).
	// Default: nil, off.
	Sample *hardened.Options

	// ReadOnly opens a file arena PROT_READ under a shared lock, for
	// any number of readers at once: a write through a pointer faults,
	// and Alloc, Commit and SetFileRoot return ErrFrozen. OpenFile only.
	// Default: false, open for writing, alone.
	ReadOnly bool
}

// The arena kinds, as Stats.Kind, Summary.Kind and LeakReport.Kind name
// them.
const (
	kindBump     = "bump"
	kindShared   = "shared"
	kindFreeList = "freelist"
	kindMemfd    = "memfd"
	kindFile     = "file"
	// kindMemfdAttach is AttachMemfd's check: the creator fixed the rest.
	kindMemfdAttach = "attached memfd"
)

// resolve is the one check of every constructor: it returns a copy of
// opts (nil: every default) with the defaults of kind filled in, or an
// error naming the first option that kind does not use (ErrUnsupported)
// or that is out of range (ErrSize). Sample's own fields are checked by
// hardened.NewPool, in newSampler.
func (opts *Options) resolve(kind string) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = kind
	}
	chunked := kind == kindBump || kind == kindShared
	unsupported := func(option string) error {
		return fmt.Errorf("%w: %s arena %q: %s", ErrUnsupported, kind, o.Name, option)
	}
	if kind == kindMemfd || kind == kindMemfdAttach || kind == kindFile {
		return o, o.memfd(kind, unsupported)
	}
	switch {
	case o.ReadOnly:
		return o, unsupported("ReadOnly is for OpenFile")
	case o.Limit < 0:
		return o, errSize("%s arena %q: Limit %d is negative", kind, o.Name, o.Limit)
	case o.InitialSize < 0:
		return o, errSize("%s arena %q: InitialSize %d is negative", kind, o.Name, o.InitialSize)
	case o.MaxChunk < 0:
		return o, errSize("%s arena %q: MaxChunk %d is negative", kind, o.Name, o.MaxChunk)
	case o.Quarantine < 0:
		return o, errSize("%s arena %q: Quarantine %d is negative", kind, o.Name, o.Quarantine)
	case !chunked && o.InitialSize != 0:
		return o, unsupported("InitialSize is for Bump and Shared; a FreeList's chunks are 4 MiB")
	case !chunked && o.MaxChunk != 0:
		return o, unsupported("MaxChunk is for Bump and Shared; a FreeList's chunks are 4 MiB")
	case !chunked && o.ResetRelease:
		return o, unsupported("ResetRelease is for Bump and Shared, which have a Reset")
	case !chunked && o.Quarantine != 0:
		return o, unsupported("Quarantine is for Bump and Shared, which have a Reset")
	case kind != kindFreeList && o.CheckFreed:
		return o, unsupported("CheckFreed is for FreeList and SyncFreeList, which free blocks one by one")
	case kind != kindFreeList && (o.LargeCache != 0 || o.LargeDecay != 0):
		return o, unsupported("LargeCache and LargeDecay are for FreeList and SyncFreeList, which have large blocks")
	case o.CheckFreed && (o.LargeCache > 0 || o.LargeDecay != 0):
		return o, unsupported("LargeCache and LargeDecay: CheckFreed retires every freed large block into the quarantine, so it caches none")
	case kind == kindShared && o.Sample != nil:
		return o, unsupported("Sample is not supported; sample with a Bump per goroutine or a SyncFreeList")
	}
	if kind == kindFreeList {
		switch {
		case o.CheckFreed || o.LargeCache < 0:
			o.LargeCache = 0 // off
		case o.LargeCache == 0:
			o.LargeCache = defaultLargeCache
		}
		switch {
		case o.LargeDecay < 0:
			o.LargeDecay = 0 // at Free
		case o.LargeDecay == 0:
			o.LargeDecay = defaultLargeDecay
		}
	}
	if chunked {
		if o.InitialSize == 0 {
			o.InitialSize = defaultInitial
		}
		if o.MaxChunk == 0 {
			o.MaxChunk = defaultMaxChunk
		}
		o.MaxChunk = max(o.MaxChunk, o.InitialSize)
	}
	return o, nil
}

// memfd is resolve for CreateMemfd, AttachMemfd, CreateFile and
// OpenFile: Name, Limit, InitialSize and NoGuards; Name and NoGuards
// alone at attach; ReadOnly for a file alone (OpenFile refuses
// InitialSize itself). Defaults are filled in by the constructors, which
// round them to pages.
func (o *Options) memfd(kind string, unsupported func(string) error) error {
	switch {
	case o.Limit < 0:
		return errSize("%s arena %q: Limit %d is negative", kind, o.Name, o.Limit)
	case o.InitialSize < 0:
		return errSize("%s arena %q: InitialSize %d is negative", kind, o.Name, o.InitialSize)
	case kind == kindMemfdAttach && (o.Limit != 0 || o.InitialSize != 0):
		return unsupported("Limit and InitialSize are the creator's, kept in the arena's header")
	case o.HugePages || o.Prefault:
		return unsupported("HugePages and Prefault do not apply to a mapped file")
	case o.MaxChunk != 0:
		return unsupported("MaxChunk: a " + kind + " arena is one reservation, sized by Limit")
	case o.ResetRelease || o.Quarantine != 0:
		return unsupported("ResetRelease and Quarantine: a " + kind + " arena has no Reset")
	case o.CheckFreed || o.LargeCache != 0 || o.LargeDecay != 0:
		return unsupported("CheckFreed, LargeCache and LargeDecay are for FreeList and SyncFreeList")
	case o.Sample != nil:
		return unsupported("Sample: hardened mode's pool is private memory")
	case kind != kindFile && o.ReadOnly:
		return unsupported("ReadOnly is for OpenFile")
	}
	return nil
}

// Defaults of Bump and Shared.
const (
	defaultInitial  = 64 << 10
	defaultMaxChunk = 64 << 20
)

func (o *Options) regionOptions(name string, size uintptr) *guard.Options {
	g := &guard.Options{Name: name, NoGuards: o.NoGuards, Populate: o.Prefault}
	if o.HugePages && size >= hugePage {
		g.HugePages, g.Align = true, hugePage
	}
	return g
}

// hugePage is the x86-64 and arm64 (4 KiB base page) transparent huge
// page size.
const hugePage = 2 << 20
