package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: arenastat [flags] [command]

Arenastat shows mmarena's memory from the inside: page size, guarded
mappings as /proc/self/maps lists them, punched holes, and faults caught
and named.

Commands:
  tour    walk through the lecture on real memory (the default)

Flags:
  -h, -help   print this help
`

// run is main without the exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arenastat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "arenastat: %v (see arenastat -help)\n", err)
		return exitUsage
	}
	cmd := "tour"
	if fs.NArg() > 0 {
		cmd = fs.Arg(0)
	}
	switch {
	case cmd == "tour" && fs.NArg() <= 1:
		if err := tour(stdout); err != nil {
			fmt.Fprintf(stderr, "arenastat: %v\n", err)
			return exitFailure
		}
		return exitOK
	case cmd == "tour":
		fmt.Fprintf(stderr, "arenastat: tour takes no arguments, got %q\n", fs.Args()[1:])
	default:
		fmt.Fprintf(stderr, "arenastat: unknown command %q (see arenastat -help)\n", cmd)
	}
	return exitUsage
}
