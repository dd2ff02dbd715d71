//go:build !arenadebug

package arena

// invariantsEnabled turns on the debug tier: concurrent-use detection,
// poisoning of reset memory, and validate after each Reset. Build with
// -tags arenadebug to enable it.
const invariantsEnabled = false
