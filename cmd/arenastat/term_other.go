//go:build unix && !linux

package main

import "golang.org/x/sys/unix"

// ioctlGetTermios is the BSD name of the request isTerminal makes.
const ioctlGetTermios = unix.TIOCGETA
