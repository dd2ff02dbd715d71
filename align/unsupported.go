//go:build !linux && !darwin && !freebsd

// mmarena is built on mmap, mprotect and madvise as Linux, macOS and
// FreeBSD provide them, through golang.org/x/sys/unix. On any other
// system this file is the one compiled in, and its import fails at once
// with a message that names the supported systems, before the compiler
// reaches the unix names that do not exist there.

package align

import _ "mmarena/supported-systems-are-linux-darwin-and-freebsd"
