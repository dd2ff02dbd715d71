// Arenastat prints what mmarena's memory looks like from the inside: the
// page size, guarded mappings as the kernel lists them in /proc/self/maps,
// holes punched into them, and faults caught and named.
//
// Usage:
//
//	arenastat [flags] [command]
//
// The commands are:
//
//	tour    walk through the lecture on real memory (the default)
//
// The flags are:
//
//	-h, -help
//		Print this help and exit.
//
// Run with no arguments, arenastat takes the tour: it reads the page size
// and says where from, maps a 100-byte region and shows that it costs a
// whole page between two PROT_NONE guard pages, puts 100,000 small objects
// in a bump arena and prints its statistics, churns a free-list arena and
// prints its per-class table, with a double free and a foreign free
// refused and posix_memalign's answers, shows the same region
// fenced by guard markers as one kernel mapping, punches a hole in a
// mapping and shows the split, releases pages and shows RSS fall, and
// provokes a one-byte overflow that is caught and named. Every address
// and /proc/self/maps line it prints is real.
//
// Exit status is 0 on success, 1 when something fails, 2 for a usage
// error.
package main
