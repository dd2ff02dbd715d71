package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

// Error adds where to look for help.
func (e usageError) Error() string { return e.msg + " (see arenastat -help)" }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// env is what every command gets.
type env struct {
	stdout, stderr io.Writer
	json           bool
}

// emit writes v as one JSON document.
func (e env) emit(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
		fmt.Fprint(stdout, manual())
	default:
		err = usagef("unknown command %q", cmd)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "arenastat: %v\n", err)
		return exitUsage
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, manual())
		return exitOK
	}
	fmt.Fprintf(stderr, "arenastat: %v\n", err)
	return exitFailure
}

// parseFlags parses a command's flags, turning a bad one into a usage
// error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}
