package hardened

import (
	"runtime/pprof"

	"github.com/mmarena/mmarena/internal/callers"
)

// ProfileName is the name of the runtime/pprof profile of live sampled
// blocks: every block a Pool holds live, by the call stack that
// allocated it, the arena's own frames left out. It is registered when
// the package is loaded, so a program that imports net/http/pprof
// serves it at /debug/pprof/mmarena.sampled, and pprof.Lookup(ProfileName)
// writes it (WriteTo with debug 0 for go tool pprof, 1 for text). A
// count profile: each block counts one, whatever its size. Recording a
// block's stack for it costs a sampled allocation about 2 us and two
// heap allocations (BenchmarkProfileAdd), beside the 15 to 30 us of its
// system calls; an allocation that is not sampled pays nothing.
const ProfileName = "mmarena.sampled"

// profile holds each live block under its *block, added by Alloc and
// removed when the block is freed, reset or closed. A slot's record is
// reused only after its block was removed, so a key is never added twice.
var profile = pprof.NewProfile(ProfileName)

// profileAdd adds a block just allocated, with the stack that begins at
// the first frame of the caller's code. Add records from runtime.Callers
// with skip+1, whose first frame is Add itself; after it come this
// function, Pool.Alloc, and the allocator frames pcs starts with (pcs
// was recorded from Pool.Alloc's caller). Called from Pool.Alloc only.
func profileAdd(b *block) {
	profile.Add(b, 3+callers.Skip(b.allocPC[:]))
}

// profileRemove drops a block that stops being live.
func profileRemove(b *block) { profile.Remove(b) }
