package guard

import (
	"slices"
	"sort"
)

// A span is a run of pages of one region in one state. A region's spans
// are sorted, cover its whole reservation (guards included) without gaps,
// and never have two equal neighbours. set returns a new value rather
// than change its receiver; a region alternates between two buffers (see
// Region.transition).
type span struct {
	off  uintptr // from the start of the reservation; page-aligned
	n    uintptr // bytes; page-aligned, > 0
	part Part    // what the pages are, for fault reports
	prot prot    // what the kernel sees, for counting its mappings
	why  string  // for PartProtected: the caller's reason, e.g. "use after reset"
}

// prot is the kernel's view of a span: two adjacent spans with the same
// prot are one kernel mapping (a VMA); a hole is none.
type prot uint8

const (
	protRW   prot = iota // PROT_READ|PROT_WRITE, guard markers included
	protNone             // PROT_NONE
	protHole             // unmapped
	protRO               // PROT_READ
)

type spans []span

// set returns a copy of s in which [off, off+n) has the given part and
// prot, with equal neighbours merged. O(len(s)).
func (s spans) set(off, n uintptr, part Part, p prot) spans {
	return s.setWhy(off, n, part, p, "")
}

// setWhy is set with a reason attached to the new span.
func (s spans) setWhy(off, n uintptr, part Part, p prot, why string) spans {
	return s.setWhyInto(make(spans, 0, len(s)+2), off, n, part, p, why)
}

// setWhyInto is setWhy building the result in out, an empty slice whose
// array must not be s's.
func (s spans) setWhyInto(out spans, off, n uintptr, part Part, p prot, why string) spans {
	end := off + n
	push := func(sp span) {
		if sp.n == 0 {
			return
		}
		if k := len(out) - 1; k >= 0 && out[k].part == sp.part && out[k].prot == sp.prot && out[k].why == sp.why && out[k].off+out[k].n == sp.off {
			out[k].n += sp.n
			return
		}
		out = append(out, sp)
	}
	inserted := false
	for _, sp := range s {
		spEnd := sp.off + sp.n
		if spEnd <= off || sp.off >= end {
			if sp.off >= end && !inserted {
				push(span{off, n, part, p, why})
				inserted = true
			}
			push(sp)
			continue
		}
		if sp.off < off {
			push(span{sp.off, off - sp.off, sp.part, sp.prot, sp.why})
		}
		if !inserted {
			push(span{off, n, part, p, why})
			inserted = true
		}
		if spEnd > end {
			push(span{end, spEnd - end, sp.part, sp.prot, sp.why})
		}
	}
	if !inserted {
		push(span{off, n, part, p, why})
	}
	return out
}

// at returns the span holding offset off, and false when off is past the
// end.
func (s spans) at(off uintptr) (span, bool) {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m].off+s[m].n <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s) && s[lo].off <= off {
		return s[lo], true
	}
	return span{}, false
}

// allProt reports whether every page of [off, off+n) already has prot p,
// so that setting it changes nothing the kernel sees.
func (s spans) allProt(off, n uintptr, p prot) bool {
	for _, sp := range s {
		if sp.off+sp.n <= off || sp.off >= off+n {
			continue
		}
		if sp.prot != p {
			return false
		}
	}
	return true
}

// only reports whether every page of [off, off+n) has one of the parts
// allowed.
func (s spans) only(off, n uintptr, allowed ...Part) bool {
	for _, sp := range s {
		if sp.off+sp.n <= off || sp.off >= off+n {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || sp.part == a
		}
		if !ok {
			return false
		}
	}
	return true
}

// vmas returns how many kernel mappings the spans cost: one per maximal
// run of mapped spans with the same prot, plus one for each split point
// inside such a run. A split point is an offset where an mprotect or
// munmap once cut a mapping: the kernel re-merges the two sides only when
// their anonymous memory is compatible, which it stops being once each
// side has faulted pages in on its own, so guard counts the cut as
// permanent. The result is an upper bound: the kernel may merge more.
func (s spans) vmas(splits []uintptr) int {
	count := 0
	last := protHole
	for _, sp := range s {
		if sp.prot != protHole && sp.prot != last {
			count++
		}
		last = sp.prot
	}
	for _, p := range splits {
		if p == 0 {
			continue
		}
		left, ok1 := s.at(p - 1)
		right, ok2 := s.at(p)
		if ok1 && ok2 && left.prot == right.prot && left.prot != protHole {
			count++
		}
	}
	return count
}

// addSplits returns splits with off and end added, sorted and unique; it
// does not modify splits.
func addSplits(splits []uintptr, off, end uintptr) []uintptr {
	if slices.Contains(splits, off) && slices.Contains(splits, end) {
		return splits // the usual case once pages have been fenced before
	}
	out := make([]uintptr, 0, len(splits)+2)
	out = append(out, splits...)
	for _, p := range []uintptr{off, end} {
		i := sort.Search(len(out), func(i int) bool { return out[i] >= p })
		if i == len(out) || out[i] != p {
			out = append(out, 0)
			copy(out[i+1:], out[i:])
			out[i] = p
		}
	}
	return out
}
