package arena

import "github.com/mmarena/mmarena/guard"

// Options configure an arena. A nil *Options means every default.
type Options struct {
	// Name labels the arena in Stats, fault reports and leak reports.
	// Default: "bump".
	Name string

	// InitialSize is the usable size of the first chunk, rounded up to
	// whole pages; each further chunk doubles it, up to MaxChunk, and an
	// allocation larger than that gets a chunk of its own. Default: 64 KiB.
	InitialSize int

	// MaxChunk caps the size chunks grow to. Default: 64 MiB.
	MaxChunk int

	// Limit caps the usable bytes of all chunks together; an allocation
	// that would pass it fails with ErrLimit and changes nothing.
	// Default: 0, no limit.
	Limit int64

	// NoGuards maps chunks without guard pages: no fault at the end of a
	// chunk, but one kernel mapping less where guard markers are missing.
	// Default: false, one guard page at each end of every chunk.
	NoGuards bool

	// HugePages backs chunks of 2 MiB and more with transparent huge
	// pages (MADV_HUGEPAGE, chunks aligned to 2 MiB): first touch of a
	// large arena becomes several times cheaper, at the price of RSS in
	// 2 MiB steps. Default: false.
	HugePages bool

	// Prefault faults each chunk's pages in when it is mapped
	// (MADV_POPULATE_WRITE), so no allocation takes a page fault.
	// Default: false.
	Prefault bool

	// ResetRelease makes Reset give used pages back to the OS
	// (MADV_DONTNEED) instead of keeping them and zeroing them as they are
	// handed out again. Keeping is faster when the arena is refilled (a
	// page fault costs more than clearing a hot page: see
	// BenchmarkResetRefill); releasing keeps RSS down between uses.
	// Default: false.
	ResetRelease bool

	// Hardened makes a FreeList zero each block when it is freed and
	// check it is still zero when it is next handed out, so a write after
	// free is reported (ErrWriteAfterFree, naming the block) instead of
	// silently corrupting the next owner. It costs a clear on every Free
	// and a scan on every reuse. Bump arenas ignore it. Default: false.
	Hardened bool

	// Quarantine is a debugging aid: for this many Resets after a Reset,
	// the memory it freed stays fenced (PROT_NONE or guard markers) and is
	// never handed out, so a pointer kept past Reset faults and is named
	// "use after reset". It costs fresh chunks for every Reset.
	// Default: 0, off.
	Quarantine int

	// Sample turns on hardened mode: every Sample-th allocation (1: every
	// one, as Electric Fence does) is placed flush against a fenced page,
	// in a pool of its own, and the call stack that made it is recorded.
	// Free (FreeList), Reset or Close fence its pages again and record
	// that stack too; the freed block then stays fenced in a first-in
	// first-out quarantine of SampleSlots slots. A fault at or next to a
	// sampled block is explained by Catch or Explain as an overflow,
	// underflow, use after free, use after reset or use after close,
	// naming both sites. A sampled allocation costs a system call or two
	// (see BenchmarkSampled); the others cost a counter. When guard's
	// mapping budget is spent, sampling stops for the rest of the
	// arena's life (SampleStats.Stopped says why) rather than an
	// allocation failing. Used by Bump and FreeList;
	// NewShared refuses it. Sampled blocks do not count against Limit.
	// Default: 0, off.
	Sample int

	// SampleUnderflow places sampled blocks against the fence below them
	// instead of above, to catch underflows (an access before the start)
	// rather than overflows. Default: false, overflows.
	SampleUnderflow bool

	// SampleSlots is how many sampled blocks of up to four pages the
	// arena holds at once, live and quarantined; a sample due while all
	// are live is skipped. Each slot is five pages of address space, but
	// memory only while live. Larger blocks get a mapping each, and the
	// last 64 freed stay fenced. At most 1<<20. Default: 1024.
	SampleSlots int
}

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
