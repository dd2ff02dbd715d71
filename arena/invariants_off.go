//go:build !arenadebug

package arena

// invariantsEnabled turns on the debug tier: concurrent-use detection,
// poisoning of reset memory, a Bump's validate after each Reset, Trim and
// new chunk, and a FreeList's counter check after each Alloc and Free
// (with a whole walk every flValidateEvery calls), each of which panics
// naming the invariant broken. Build with -tags arenadebug to enable it.
const invariantsEnabled = false
