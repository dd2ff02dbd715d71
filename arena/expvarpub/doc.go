// Package expvarpub publishes mmarena's registry of live arenas through
// expvar, for a service that wants its arenas watched from outside
// (arenastat watch and maps read them from /debug/vars).
//
// It is a package of its own so that publishing is a choice: importing
// expvar registers /debug/vars, with the command line and memstats, on
// http.DefaultServeMux, and links net/http into the binary. A program
// that imports only arena gets neither (arena's TestNoNetHTTP checks
// that); a program that imports this package and calls Publish gets
// both, as with any use of expvar.
//
// What is published is arena.TakeSnapshot, computed afresh at each read
// of the variable, in the JSON layout named by arena.SnapshotFormat.
// Nothing is served until the program serves http.DefaultServeMux (or
// expvar.Handler) itself; this package starts no server.
//
// [Catch] is the other half of running arenas in a server: it wraps an
// http.Handler so that a memory fault in a request (a guard page hit, a
// sampled block's overflow or use after free, a use after close) answers
// 500 and is logged through log/slog with its sites, instead of ending
// the process. It lives here, not in arena, for the same reason: arena
// imports no net/http.
//
// Lifecycle: (1) call Publish once at start-up (more calls do nothing);
// (2) serve /debug/vars as usual; (3) run arenastat watch URL. Arenas
// made before or after Publish are all listed, from their creation to
// their Close.
package expvarpub
