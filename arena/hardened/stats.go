package hardened

// Stats describe a pool: the blocks an arena sampled into it, or those
// its own Alloc placed. A value: safe to read from any goroutine and to
// copy.
type Stats struct {
	Every       int    `json:"every"`             // Options.Every
	Sampled     uint64 `json:"sampled"`           // blocks placed against a fence, ever
	Skipped     uint64 `json:"skipped"`           // Allocs refused: every slot live, alignment above a page, or stopped
	Live        int    `json:"live"`              // blocks allocated now
	LiveBytes   uint64 `json:"live_bytes"`        // their bytes, as requested
	Quarantined int    `json:"quarantined"`       // freed blocks still fenced
	Slots       int    `json:"slots"`             // the pool's slots
	Syscalls    uint64 `json:"syscalls"`          // calls into guard made by the pool, ever
	Mappings    int    `json:"mappings"`          // kernel mappings the pool and the blocks with their own mapping cost now
	Stopped     string `json:"stopped,omitempty"` // why the pool stopped for good (the mapping budget ran out); "" while it runs
}

// A Block is a live block of a pool, as Unfreed lists it. A value: safe
// to read from any goroutine and to copy.
type Block struct {
	Addr      uintptr
	Size      uintptr  // as requested for a sampled block; the class size for a FreeList's others
	Allocated []string // the allocation's call stack, innermost first; nil for blocks not sampled
}
