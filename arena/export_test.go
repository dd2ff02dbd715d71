package arena

// FreedLargeKept is how many freed large blocks a FreeList remembers.
const FreedLargeKept = freedLargeKept

// SitesFormatted is how many creation sites have been formatted so far.
func SitesFormatted() int {
	n := 0
	sites.Range(func(any, any) bool { n++; return true })
	return n
}
