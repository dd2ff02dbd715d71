package main

import "golang.org/x/sys/unix"

// ioctlGetTermios is the request isTerminal asks a file descriptor with.
const ioctlGetTermios = unix.TCGETS
