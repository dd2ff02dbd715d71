//go:build unix && !linux

package guard

import "unsafe"

// sysMove returns errNoMove: these systems have no mremap, so callers
// of MoveTo copy instead.
func sysMove(src, dst unsafe.Pointer, n uintptr, why reason) error { return errNoMove }
