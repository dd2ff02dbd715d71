// Arenastat prints what mmarena's memory looks like from the inside: the
// page size, mappings as the kernel lists them in /proc/self/maps, arenas
// and their statistics, faults caught and named, and the arenas of a
// running service.
//
// # Synopsis
//
//	arenastat [-json] [tour [-profile FILE]]
//	arenastat [-json] bench [-n N] [-w W1,W2,W3,W4] [-count N] [-benchfmt]
//	arenastat [-json] watch [-interval D] [-count N] [-pid PID] TARGET
//	arenastat [-json] maps [-url URL] PID
//	arenastat COMMAND -h
//	arenastat help [COMMAND]
//
// # Description
//
// The tour, the default, walks through memory mapping on real memory, each
// step printing real addresses, /proc/self/maps lines and the system calls
// it made: the page size and where it comes from; a file mapped private
// and shared beside anonymous memory; a 100-byte request costing a whole
// page between two PROT_NONE guard pages; 100,000 small objects sharing
// pages in a bump arena; the lecture's linked list with its nodes in an
// arena (list_init, list_add, list_visit, a removed node reused); the
// same list in a memfd, where a re-executed child's push through
// MAP_SHARED reaches the parent and a write through MAP_PRIVATE does
// not, with both maps lines (rw-s, rw-p); a
// free-list arena's per-class table, with a double and a foreign free
// refused and posix_memalign's answers; guard markers; a one-byte
// overflow caught and named; hardened mode naming a use after free; a
// pointer kept past an arena's Close caught and named with the Close call
// site, the closed range waiting in guard's quarantine; a leaked arena
// reported while its memory stays mapped (in a child process, since a
// leak lasts as long as the process); munmap punching a hole and
// shrinking a mapping; MADV_DONTNEED giving pages back; the mapping
// budget; a list built into a file arena, committed, closed and reopened
// by a child process at another address, both sides' rw-s mapping lines
// shown; and the Go heap beside the arenas on one small workload. The
// -profile flag writes the hardened step's live sampled blocks, by
// allocation site, to FILE as a pprof profile (read it with go tool pprof);
// a program serves the same profile, hardened.ProfileName, at
// /debug/pprof/mmarena.sampled when it imports net/http/pprof.
//
// Bench runs the workloads side by side, arena against the Go heap, with
// times, GC cycles, RSS growth and ratios: W1 keeps small objects, W2
// churns a free list, W3 builds and walks a linked list, W4 churns the
// heap beside a live list. The -n flag sets the size: objects, operations
// or nodes (default 1,000,000). The -w flag picks the workloads. The
// -count flag runs each workload that many times on each allocator
// (default 6, the fewest benchstat needs for a confidence interval); the
// table shows the median run and the spread, the largest distance of a
// run from the median as a share of it. On a terminal, standard error
// shows one progress line that rewrites itself; elsewhere nothing. The
// -benchfmt flag prints each run as it ends, in Go benchmark format
// (goos, goarch, pkg and cpu lines, then lines such as
// "BenchmarkW1/arena=bump/n=1000000-2 1000000 25.1 ns/op 0 gc-cycles
// 4161536 rss-B"), which benchstat reads; its column key /arena sets the
// allocators side by side.
//
// Watch polls TARGET, a program that called expvarpub.Publish (package
// arena/expvarpub) and serves /debug/vars, and redraws its arenas in
// place every -interval (in a terminal; piped, it prints one table after
// another), with guard's mapping budget and its quarantine of closed
// arenas' ranges. TARGET is a URL (/debug/vars if it has no path),
// HOST:PORT, :PORT (on localhost), or the PID of a local process: watch
// then asks each TCP port the process listens on (Linux: from
// /proc/PID/fd and /proc/PID/net/tcp) for /debug/vars and keeps the first
// that answers with a snapshot. Under the table, each free-list arena
// gets one bar per size class, blocks in use (#) against free blocks
// (.): a short bar over many spans is memory held for nothing. Each
// row's AGE, repeated over its classes, is how old its numbers were when
// the snapshot was taken: 0s for a SyncFreeList or a Shared, which are
// asked at snapshot time under their locks; a Bump answers each snapshot
// at its next Reset, Trim or new chunk, so it is at most one draw behind
// while in use; a plain FreeList publishes every 1024 operations, its
// classes at the first of those after a snapshot asked. The -count flag
// stops after that many draws. The -pid flag, implied by a PID target,
// adds each arena's resident memory, read page by page from
// /proc/PID/pagemap; a -pid that does not exist, or that maps none of
// the snapshot's arenas when the snapshot names another process, is an
// error rather than a column of zeros.
//
// Maps lists process PID's mappings with their resident memory, marking
// PROT_NONE guards and reserves and mappings that carry guard markers, and
// naming the arenas that the expvar endpoint given by -url reports.
//
// The -json flag, before or after the command, makes it print JSON: one
// object per line (NDJSON, as go test -json), each with a "format" field
// naming its layout. Watch prints one line per draw, the snapshot's
// fields (format arenastat-1) with "url" added and, per arena, "age_ns"
// and, with a PID, "rss"; bench one line (arenastat-bench-2) with each
// run and the medians; maps (arenastat-maps-1) and the tour
// (arenastat-tour-1) one line each.
//
// Flags may come before, between or after a command's operands; "--"
// ends them. COMMAND -h, and help COMMAND, print that
// command's usage and its own flags with their defaults; -h before any
// command, or help alone, prints this manual.
//
// # Exit status
//
// 0 on success, and for -h, -help and help, whose text is asked for and
// goes to standard output (as go help's does; the flag package's
// ExitOnError also exits 0 for -h); 1 when the work fails (an unreachable
// URL, an answer that is not a snapshot, a process that does not exist,
// cannot be read or serves no snapshot); and 2 for a usage error. Each
// failure is one line on standard error.
package main
