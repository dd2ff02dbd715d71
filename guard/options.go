package guard

// Options configure Map. A nil *Options means every default.
type Options struct {
	// Name labels the region in fault reports and, where the kernel
	// supports PR_SET_VMA_ANON_NAME, in /proc/PID/maps as
	// [anon:mmarena:Name]. A kernel that refuses the name is not an error.
	// Default: "region".
	Name string

	// GuardPages is the width of each guard, in pages. Zero selects the
	// default; set NoGuards for none. Default: 1.
	GuardPages int

	// NoGuards maps the region without guard pages at either end.
	// Default: false.
	NoGuards bool

	// Reserve is the usable size, in bytes, to reserve for growth. When it
	// exceeds the size given to Map, the rest is held as Reserved address
	// space (PROT_NONE, MAP_NORESERVE: no RAM and no commit charge) and
	// Commit makes it Ready in steps. Rounded up to whole pages.
	// Default: 0, the region is exactly the size given to Map.
	Reserve int

	// Align is the alignment of the usable start, a power of two. Values
	// up to the page size change nothing, since mappings are page-aligned.
	// Larger values map extra address space and unmap the excess head and
	// tail. Default: the page size.
	Align int

	// Fence selects how guard pages and Protect fence memory.
	// Default: FenceAuto.
	Fence Fence

	// HugePages asks the kernel to back the region with transparent huge
	// pages (MADV_HUGEPAGE), which makes first touch of large regions
	// several times cheaper. It only helps where the usable part has
	// 2 MiB-aligned runs, so pair it with Align: 2 << 20. A kernel that
	// refuses the advice is not an error; Region.HugePages reports it.
	// Linux only. Default: false.
	HugePages bool

	// Populate faults the committed pages in at Map and Commit (as
	// MAP_POPULATE would), trading a slower Map for no page faults later.
	// Default: false.
	Populate bool
}

// Fence is a way of making pages inaccessible.
type Fence uint8

const (
	// FenceAuto uses guard markers where the kernel has them and mprotect
	// elsewhere.
	FenceAuto Fence = iota
	// FenceMprotect changes page protection with mprotect(PROT_NONE). Each
	// fence in the middle of a mapping costs the process kernel mappings.
	FenceMprotect
	// FenceMarkers installs guard markers with madvise(MADV_GUARD_INSTALL),
	// which fault like PROT_NONE but split no mapping. Map fails with an
	// error wrapping unix.EINVAL where the kernel lacks them (before 6.13).
	FenceMarkers
)

// String names the mechanism.
func (f Fence) String() string {
	switch f {
	case FenceAuto:
		return "auto"
	case FenceMprotect:
		return "mprotect"
	case FenceMarkers:
		return "guard markers (MADV_GUARD_INSTALL)"
	}
	return "Fence(" + itoa(int64(f)) + ")"
}
