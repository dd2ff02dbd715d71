// Arenastat prints what mmarena's memory looks like from the inside: the
// page size, mappings as the kernel lists them in /proc/self/maps, arenas
// and their statistics, faults caught and named, and the arenas of a
// running service.
//
// # Synopsis
//
//	arenastat [-json] [tour]
//	arenastat [-json] bench [-n N] [-w W1,W2,W3,W4]
//	arenastat [-json] watch [-interval D] [-count N] [-pid PID] URL
//	arenastat [-json] maps [-url URL] PID
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
// budget; and the Go heap beside the arenas on one small workload.
//
// Bench runs the workloads side by side, arena against the Go heap, with
// times, GC cycles, RSS growth and ratios: W1 keeps small objects, W2
// churns a free list, W3 builds and walks a linked list, W4 churns the
// heap beside a live list. The -n flag sets the size: objects, operations
// or nodes (default 1,000,000). The -w flag picks the workloads. Progress
// goes to standard error when it is a terminal.
//
// Watch polls URL, the expvar endpoint (/debug/vars) of a program that
// called expvarpub.Publish (package arena/expvarpub), and redraws its
// arenas in place every -interval (in a terminal; piped, it prints one
// table after another), with guard's mapping budget and its quarantine of
// closed arenas' ranges. Each row's AGE is how old its numbers were when
// the snapshot was taken: 0s for a SyncFreeList or a Shared, which are
// asked at snapshot time under their locks; a Bump answers each snapshot
// at its next Reset, Trim or new chunk, so it is at most one draw behind
// while in use; a plain FreeList publishes every 1024 operations. The
// -count flag stops after that many draws. The
// -pid flag adds each arena's resident memory, read page by page from
// /proc/PID/pagemap.
//
// Maps lists process PID's mappings with their resident memory, marking
// PROT_NONE guards and reserves and mappings that carry guard markers, and
// naming the arenas that the expvar endpoint given by -url reports.
//
// The -json flag makes every command print JSON documents for scripts,
// one document per draw.
//
// # Exit status
//
// 0 on success, 1 when the work fails (an unreachable URL, an answer that
// is not a snapshot, a process that cannot be read), and 2 for a usage
// error; each failure is one line on standard error.
package main
