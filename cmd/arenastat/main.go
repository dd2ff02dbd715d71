package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	if os.Getenv(leakChildEnv) == "1" {
		os.Exit(leakChild(os.Stdout)) // the tour's leak step, in a process of its own
	}
	if mode := os.Getenv(shareChildEnv); mode != "" {
		os.Exit(shareChild(os.Stdout, mode)) // the child of the tour's shared list step
	}
	if path := os.Getenv(fileChildEnv); path != "" {
		os.Exit(fileChild(os.Stdout, path)) // the tour's file arena step: the reopening side
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

// Error adds where to look for help.
func (e usageError) Error() string { return e.msg + " (see arenastat -help)" }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// helpRequest is a command's -h or -help: its usage goes to standard
// output and arenastat exits 0, as the flag package's ExitOnError does
// for gofmt, vet and benchstat (they print it on standard error; asked
// for, it is output, as go help's is).
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return h.fs.Name() + ": help requested" }

// usages holds each command's operands and what it does, for its -h.
var usages = map[string]struct{ operands, what string }{
	"tour":  {"", "Tour walks through memory mapping on this machine's real memory."},
	"bench": {"", "Bench runs the workloads -count times each, arena beside the Go heap,\nand prints the median of each with its spread."},
	"watch": {"URL | HOST:PORT | :PORT | PID", "Watch redraws the arenas of a running program that publishes them\n(package arena/expvarpub), every -interval."},
	"maps":  {"PID", "Maps lists process PID's mappings, guards marked and arenas named."},
}

// printUsage writes command fs's usage: its synopsis, what it does, and
// its flags with their defaults.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	u := usages[fs.Name()]
	fmt.Fprintf(w, "usage: arenastat %s\n\n%s\n\nFlags:\n", strings.TrimSpace(fs.Name()+" [flags] "+u.operands), u.what)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nFlags may come before or after the operands; arenastat -help prints the manual.\n")
}

// env is what every command gets.
type env struct {
	stdout, stderr io.Writer
	json           bool
}

// emit writes v as one JSON object on one line: a stream of them
// (watch's draws) is NDJSON, which a reader decodes line by line.
func (e env) emit(v any) error {
	return json.NewEncoder(e.stdout).Encode(v)
}

// isTerminal reports whether w is a terminal, where output may redraw
// in place and show progress.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

// newFlags returns a flag set that reports errors instead of printing
// them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parseFlags and run say what went wrong, once
	return fs
}

// flags returns command name's flag set, with the global -json flag
// bound to e.json, so that -json may also follow the verb.
func (e *env) flags(name string) *flag.FlagSet {
	fs := newFlags(name)
	before := e.json // BoolVar stores the default; -h shows false as the default whatever came before the verb
	fs.BoolVar(&e.json, "json", false, "print JSON, one object per line")
	e.json = before
	return fs
}

// run is main without the exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("arenastat")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, manual())
			return exitOK
		}
		fmt.Fprintf(stderr, "arenastat: %v (see arenastat -help)\n", err)
		return exitUsage
	}
	e := env{stdout: stdout, stderr: stderr, json: *asJSON}
	cmd, rest := "tour", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	var err error
	switch cmd {
	case "tour":
		err = cmdTour(e, rest)
	case "bench":
		err = cmdBench(e, rest)
	case "watch":
		err = cmdWatch(e, rest)
	case "maps":
		err = cmdMaps(e, rest)
	case "help":
		err = cmdHelp(e, rest)
	default:
		err = usagef("unknown command %q", cmd)
	}
	var ue usageError
	var help helpRequest
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "arenastat: %v\n", err)
		return exitUsage
	case errors.As(err, &help):
		printUsage(stdout, help.fs)
		return exitOK
	}
	fmt.Fprintf(stderr, "arenastat: %v\n", err)
	return exitFailure
}

// cmdHelp prints the manual, or with a command's name that command's
// usage and flags, as go help build does.
func cmdHelp(e env, args []string) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, manual())
		return nil
	case len(args) > 1:
		return usagef("help takes at most one command, got %q", args)
	}
	if _, ok := usages[args[0]]; !ok {
		return usagef("help: unknown command %q", args[0])
	}
	// A command's own flag set knows its flags: asked for -h, it
	// answers with its usage before doing anything.
	h := []string{"-h"}
	switch args[0] {
	case "tour":
		return cmdTour(e, h)
	case "bench":
		return cmdBench(e, h)
	case "watch":
		return cmdWatch(e, h)
	}
	return cmdMaps(e, h)
}

// parseFlags parses a command's flags, which may come before, between or
// after its operands (the flag package alone stops at the first
// operand); "--" ends the flags. A bad flag is a usage error, -h or
// -help a helpRequest. The operands are left in fs.Args().
func parseFlags(fs *flag.FlagSet, args []string) error {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return helpRequest{fs}
			}
			return usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// Parse stopped at an operand, or after "--": what follows "--"
		// is all operands, even what looks like a flag.
		if used := len(args) - len(rest); (used > 0 && args[used-1] == "--") || (strings.HasPrefix(rest[0], "-") && rest[0] != "-") {
			operands = append(operands, rest...)
			break
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
	// Parse again on the operands alone, after "--", to leave them in
	// fs.Args() without setting any flag.
	return fs.Parse(append([]string{"--"}, operands...))
}
