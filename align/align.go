package align

// IsPowerOfTwo reports whether x is a power of two; zero is not.
func IsPowerOfTwo(x uintptr) bool {
	return x != 0 && x&(x-1) == 0
}

// Up returns the smallest multiple of a that is ≥ n, and false when that
// multiple does not fit in a uintptr (the result is then 0). Up(0, a) is 0.
// a must be a power of two; Up panics otherwise.
func Up(n, a uintptr) (uintptr, bool) {
	mustPow2(a)
	mask := a - 1
	if n > ^uintptr(0)-mask {
		return 0, false // n+mask would wrap past the top of the address space
	}
	return (n + mask) &^ mask, true
}

// Down returns the largest multiple of a that is ≤ n. It cannot overflow.
// a must be a power of two; Down panics otherwise.
func Down(n, a uintptr) uintptr {
	mustPow2(a)
	return n &^ (a - 1)
}

// IsAligned reports whether n is a multiple of a. Zero is aligned to
// everything. a must be a power of two; IsAligned panics otherwise.
func IsAligned(n, a uintptr) bool {
	mustPow2(a)
	return n&(a-1) == 0
}

// PageUp rounds n up to a whole number of pages, reporting false when the
// result does not fit in a uintptr. PageUp(0) is 0.
func PageUp(n uintptr) (uintptr, bool) { return Up(n, uintptr(pageSize)) }

// mustPow2 panics with a message that names the bad value. A non-power of
// two here is a bug in the caller, not bad user input: user-supplied
// alignments go through CheckAlignment first.
func mustPow2(a uintptr) {
	if !IsPowerOfTwo(a) {
		panic(&notPow2{a})
	}
}

type notPow2 struct{ a uintptr }

func (e *notPow2) Error() string {
	return "align: " + utoa(e.a) + " is not a power of two"
}
