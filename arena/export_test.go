package arena

// FreedLargeKept is how many freed large blocks a FreeList remembers.
const FreedLargeKept = freedLargeKept

// ForgetSites empties the cache of formatted creation sites.
func ForgetSites() { sites.Clear() }

// SitesFormatted is how many creation sites have been formatted since
// the cache was last emptied.
func SitesFormatted() int {
	n := 0
	sites.Range(func(any, any) bool { n++; return true })
	return n
}
