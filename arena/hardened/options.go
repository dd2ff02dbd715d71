package hardened

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Options configure a Pool. A nil *Options means every default. New
// copies them, so they may be changed or shared once it returns.
type Options struct {
	// Name labels the pool's blocks in reports and its regions in guard
	// (as "name (sampled)"). An arena gives its own name when this is
	// empty. Default: "hardened".
	Name string

	// Every is, for an arena that samples into the pool, how many of its
	// allocations make one sampled block: 1 places every one in the pool,
	// as Electric Fence does; 1000 is cheap enough to leave on (see
	// arena's BenchmarkW2SampleOverhead). A Pool's own Alloc places every
	// block it is asked for. Default: 1.
	Every int

	// Underflow places blocks against the fence below them instead of
	// above, to catch underflows (an access before the start) rather
	// than overflows. Default: false, overflows.
	Underflow bool

	// Slots is how many blocks of up to four pages the pool holds at
	// once, live and quarantined; an Alloc while all are live fails.
	// Each slot is five pages of address space, but memory only while
	// live. Larger blocks get a mapping each, and the last 64 freed stay
	// fenced. At most 1<<20. Default: 1024.
	Slots int
}

// resolve checks o and fills in the defaults.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	switch {
	case r.Every < 0:
		return r, errOption("Every", r.Every, "is negative", unix.EINVAL)
	case r.Slots < 0:
		return r, errOption("Slots", r.Slots, "is negative", unix.EINVAL)
	case r.Slots > maxSlots:
		return r, errOption("Slots", r.Slots, "is more than "+itoa(maxSlots), unix.ENOMEM)
	}
	if r.Name == "" {
		r.Name = "hardened"
	}
	if r.Every == 0 {
		r.Every = 1
	}
	if r.Slots == 0 {
		r.Slots = defaultSlots
	}
	return r, nil
}

// An optionError names an option out of range and matches the errno
// that says how.
type optionError struct {
	msg   string
	errno unix.Errno
}

func (e *optionError) Error() string        { return e.msg }
func (e *optionError) Is(target error) bool { return target == e.errno }

func errOption(name string, v int, why string, errno unix.Errno) error {
	return &optionError{"hardened: Options." + name + " " + itoa(v) + " " + why, errno}
}

func itoa(n int) string { return strconv.Itoa(n) }
