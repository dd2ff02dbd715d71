//go:build !arenadebug

package list

// invariantsEnabled makes every method that changes a list walk it
// afterwards (verify) and panic at the first broken link. Build with
// -tags arenadebug to enable it; it turns each O(1) call into O(Len).
const invariantsEnabled = false
