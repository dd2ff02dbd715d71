package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/dustin/go-humanize"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
	"github.com/mmarena/mmarena/guard"
)

// request is what the lifetime steps keep in an arena.
type request struct {
	ID, Bytes, Status int64
}

// closeRequest is the Close call site the use-after-close report names.
func closeRequest(b *arena.Bump) error { return b.Close() }

// staleStatus receives the stale read, so the compiler keeps it.
var staleStatus int64

func readStatus(r *request) { staleStatus = r.Status }

// stepClosed keeps a pointer past its arena's Close and reads it.
func stepClosed(w io.Writer) error {
	b, err := arena.NewBump(&arena.Options{Name: "tour-request"})
	if err != nil {
		return err
	}
	r, err := arena.New[request](b)
	if err != nil {
		return err
	}
	r.ID, r.Status = 7, 200
	if err := closeRequest(b); err != nil {
		return err
	}
	next, err := arena.NewBump(&arena.Options{Name: "tour-next-request"})
	if err != nil {
		return err
	}
	defer next.Close()
	n, err := arena.New[request](next)
	if err != nil {
		return err
	}
	n.Status = 404
	fmt.Fprintf(w, "   request 7 lived at %#x in arena \"tour-request\", which is now closed;\n", uintptr(unsafe.Pointer(r)))
	fmt.Fprintf(w, "   the next arena's first request is at %#x: the closed range is not handed out again,\n", uintptr(unsafe.Pointer(n)))
	fmt.Fprintln(w, "   it waits in guard's quarantine, its pages dropped and fenced. Reading the stale pointer:")
	err = hardened.Catch(func() { readStatus(r) })
	var rep *hardened.Report
	if !errors.As(err, &rep) {
		return fmt.Errorf("the use after close was not caught: %v", err)
	}
	fmt.Fprintf(w, "     %s\n", strings.TrimSpace(strings.SplitN(rep.String(), "\n", 2)[0]))
	if len(rep.Freed) > 0 {
		fmt.Fprintf(w, "       closed at: %s\n", shortFrame(rep.Freed[0]))
	}
	q := guard.Quarantined()
	fmt.Fprintf(w, "   the quarantine holds %d closed range(s), %s of address space (bound %s, guard.SetQuarantine)\n",
		q.Regions, humanize.IBytes(uint64(q.Bytes)), humanize.IBytes(uint64(q.Limit)))
	return nil
}

// leakChildEnv makes arenastat run the leak demonstration and exit: the
// tour runs it in a child process, since a leaked arena keeps its memory
// for the life of the process that leaked it.
const leakChildEnv = "ARENASTAT_LEAK_CHILD"

// stepLeak runs leakChild in a child process and shows what it printed.
func stepLeak(w io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), leakChildEnv+"=1", "ARENASTAT_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the leak demonstration failed: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	_, err = io.Copy(w, &out)
	return err
}

// loadScores is the leak: it fills a slice from a Bump and returns the
// slice without closing the arena, which becomes unreachable.
//
//go:noinline
func loadScores() ([]int64, error) {
	b, err := arena.NewBump(&arena.Options{Name: "tour-scores"})
	if err != nil {
		return nil, err
	}
	s, err := arena.MakeSlice[int64](b, 1000, 1000)
	if err != nil {
		return nil, err
	}
	for i := range s {
		s[i] = int64(i * i)
	}
	return s, nil // b is never closed
}

// leakChild leaks an arena, waits for the report, lets other arenas come
// and go, and shows the leaked slice intact. It returns the exit status.
func leakChild(w io.Writer) int {
	got := make(chan arena.LeakReport, 1)
	arena.SetLeakHandler(func(r arena.LeakReport) { got <- r })
	scores, err := loadScores()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(w, "   (in a child process) loadScores fills 1,000 scores in a Bump and returns the slice, never closing it;\n")
	deadline := time.Now().Add(10 * time.Second)
	var r arena.LeakReport
wait:
	for {
		runtime.GC()
		select {
		case r = <-got:
			break wait
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "no leak report after 10s of GCs")
				return 1
			}
		}
	}
	site := r.Site
	if i := strings.LastIndexByte(site, '/'); i >= 0 {
		site = site[i+1:]
	}
	fmt.Fprintf(w, "   after a GC the leak handler reports: %s arena %q created at %s, %d mapping(s), %s: kept mapped\n",
		r.Kind, r.Name, site, r.Chunks, humanize.IBytes(r.Bytes))
	for range 4 {
		b, err := arena.NewBump(&arena.Options{Name: "tour-after"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		o, err := arena.MakeSlice[int64](b, 4096, 4096)
		if err == nil {
			for i := range o {
				o[i] = -1
			}
		}
		_ = b.Close()
	}
	_ = guard.FlushQuarantine()
	fmt.Fprintf(w, "   four more arenas are made, filled and closed; the leaked slice still reads %d %d %d ... %d,\n",
		scores[1], scores[2], scores[3], scores[999])
	fmt.Fprintln(w, "   because a leak keeps its memory, as in C: it is never unmapped under a pointer that may be live")
	return 0
}
