package guard

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Part names what an address is, relative to a region.
type Part uint8

const (
	PartUnknown   Part = iota // outside every region guard knows
	PartLowGuard              // the guard pages below the usable part
	PartHighGuard             // the guard pages above the usable part
	PartUsable                // Ready usable pages
	PartReserved              // usable pages not committed yet
	PartProtected             // usable pages fenced by Protect
	PartPunched               // usable pages unmapped by Punch
	PartClosed                // a region that has been closed
	PartFrozen                // usable pages made read-only by Freeze
	PartReadOnly              // pages of a file mapped read-only (MapFileShared)
	PartPastEOF               // pages of a file mapping past the file's end: SIGBUS
)

var partNames = [...]string{
	PartUnknown:   "unknown",
	PartLowGuard:  "low guard page",
	PartHighGuard: "high guard page",
	PartUsable:    "usable page",
	PartReserved:  "reserved page",
	PartProtected: "protected page",
	PartPunched:   "punched hole",
	PartClosed:    "closed region",
	PartFrozen:    "read-only page, frozen",
	PartReadOnly:  "read-only file page",
	PartPastEOF:   "page past the end of the file",
}

// String names the part as fault reports do: "high guard page".
func (p Part) String() string {
	if int(p) < len(partNames) {
		return partNames[p]
	}
	return "Part(" + itoa(int64(p)) + ")"
}

// A Location says what an address is: which region, which part of it,
// and where relative to its usable start.
type Location struct {
	Addr      uintptr // the address looked up
	Region    string  // the region's name; "" for PartUnknown
	Part      Part
	Offset    int64  // Addr minus the region's usable start; negative in the low guard
	Size      int    // the region's usable bytes
	Committed int    // the region's committed bytes
	Reason    string // for PartProtected: the reason given to ProtectFor; for PartClosed: the one given to Retire; or ""
	Site      string // for PartClosed: where Retire was called, as its caller formats it; or ""
	File      string // for a region mapping a file (MapFileShared): the file's name; or ""
	FileSize  int64  // for PartPastEOF: the file's size when the fault was named
}

// String describes the location the way a fault report reads:
// `3 bytes past the end of region "nodes" (high guard page)`.
func (l Location) String() string {
	switch l.Part {
	case PartUnknown:
		return fmt.Sprintf("at %#x, outside every region", l.Addr)
	case PartHighGuard:
		return fmt.Sprintf("%s past the end of region %q (%s)", bytesWord(l.Offset-int64(l.Size)+1), l.Region, l.Part)
	case PartLowGuard:
		return fmt.Sprintf("%s before the start of region %q (%s)", bytesWord(-l.Offset), l.Region, l.Part)
	case PartReserved:
		return fmt.Sprintf("%s past the committed end of region %q (%s)", bytesWord(l.Offset-int64(l.Committed)+1), l.Region, l.Part)
	case PartPastEOF:
		return fmt.Sprintf("at offset %d of region %q, past the end of file %q (%d bytes)", l.Offset, l.Region, l.File, l.FileSize)
	case PartReadOnly:
		return fmt.Sprintf("at offset %d of region %q (%s of %q)", l.Offset, l.Region, l.Part, l.File)
	case PartClosed:
		why := "use after Close"
		if l.Reason != "" {
			why = l.Reason
		}
		if l.Site != "" {
			why += ", retired at " + l.Site
		}
		return fmt.Sprintf("at offset %d of region %q (%s: %s)", l.Offset, l.Region, l.Part, why)
	}
	if l.Reason != "" {
		return fmt.Sprintf("at offset %d of region %q (%s: %s)", l.Offset, l.Region, l.Part, l.Reason)
	}
	return fmt.Sprintf("at offset %d of region %q (%s)", l.Offset, l.Region, l.Part)
}

func bytesWord(n int64) string {
	if n == 1 {
		return "1 byte"
	}
	return itoa(n) + " bytes"
}

// A FaultError is a memory fault caught by Catch, with the location of
// the faulting address. Go does not say whether the access was a read or
// a write, so neither does the report.
type FaultError struct {
	Location
	Err  error  // the runtime's error, which carries the address
	Site string // the faulting access, "function file:line"; "" when the stack did not show it
}

// Error reads like `guard: fault 1 byte past the end of region "nodes" (high guard page)`.
func (e *FaultError) Error() string { return "guard: fault " + e.Location.String() }

// Unwrap returns the runtime's error.
func (e *FaultError) Unwrap() error { return e.Err }

// Catch runs fn and turns a memory fault inside it into a *FaultError
// naming the address; it returns nil if fn returns normally. Any other
// panic passes through unchanged. It sets debug.SetPanicOnFault for the
// calling goroutine only, and restores it; a fault in any other goroutine
// still kills the process, as Go's runtime decides.
func Catch(fn func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		re, ok := v.(runtime.Error)
		ad, ok2 := v.(interface{ Addr() uintptr })
		if !ok || !ok2 {
			panic(v)
		}
		err = &FaultError{Location: Lookup(ad.Addr()), Err: re, Site: faultSite()}
	}()
	fn()
	return nil
}

// faultSite names the function that faulted, from the deferred call of
// Catch that recovered: the panicking frames are still on the stack
// below it, and the faulting function is the one under runtime.sigpanic.
func faultSite() string {
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	fs := runtime.CallersFrames(pcs[:n])
	next := false
	for {
		f, more := fs.Next()
		if next {
			return f.Function + " " + f.File + ":" + itoa(int64(f.Line))
		}
		next = f.Function == "runtime.sigpanic"
		if !more {
			return ""
		}
	}
}

// attribute is the pure core of Lookup: it names addr against the live
// regions (retired ones in the quarantine among them: their addresses are
// still reserved, so nothing else can be there) and then the recently
// unmapped ones (newest first). A region with a mapped page at addr wins
// over one whose hole covers it, and over every unmapped one, since
// unmapped addresses may since have been mapped again: the live owner is
// named, never a closed arena.
func attribute(addr uintptr, live, closed []*info) Location {
	var hole *info
	for _, in := range live {
		if addr < in.addr || addr-in.addr >= in.total {
			continue
		}
		sp, _ := in.spans.at(addr - in.addr)
		if sp.part == PartPunched {
			hole = in
			continue
		}
		if sp.part == PartClosed {
			return in.closedAt(addr)
		}
		loc := in.locate(addr, sp.part)
		loc.Reason = sp.why
		if in.file != nil && (sp.part == PartUsable || sp.part == PartReadOnly) {
			// A file mapping faults on a mapped page when the file
			// ends before it (SIGBUS): the size is read now, since
			// another process may have truncated it.
			loc.File = in.file.path
			if size, past := in.file.pastEOF(loc.Offset); past {
				loc.Part, loc.FileSize = PartPastEOF, size
			}
		}
		return loc
	}
	if hole != nil {
		return hole.locate(addr, PartPunched)
	}
	for _, in := range closed {
		if addr >= in.addr && addr-in.addr < in.total {
			return in.closedAt(addr)
		}
	}
	return Location{Addr: addr}
}
