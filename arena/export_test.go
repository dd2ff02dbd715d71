package arena

// FreedLargeKept is how many freed large blocks a FreeList remembers.
const FreedLargeKept = freedLargeKept
