//go:build !linux

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// listeners needs Linux's /proc/PID/net/tcp and /proc/PID/fd; elsewhere
// it returns errors.ErrUnsupported.
func listeners(pid int) ([]netip.AddrPort, error) {
	return nil, fmt.Errorf("finding process %d's port on %s: %w", pid, runtime.GOOS, errors.ErrUnsupported)
}
