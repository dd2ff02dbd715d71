package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/guard"
	"github.com/mmarena/mmarena/internal/procmaps"
	"github.com/mmarena/mmarena/list"
)

// The lecture's shared list, run for real. In C the parent mmaps the
// list MAP_SHARED or MAP_PRIVATE and forks; the child's list_add is then
// seen by the parent, or stays the child's, copy-on-write. Go cannot
// fork, so the child here is arenastat itself, re-executed with the
// arena's memfd as its fd 3 (exec.Cmd.ExtraFiles). In the shared case it
// attaches the Memfd, MAP_SHARED, and pushes a node on the same list. In
// the private case it maps the same file MAP_PRIVATE (guard.MapFile) and
// writes over a node's value there: the kernel gives the child a copy of
// the page it writes, exactly as after a fork of a private mapping, and
// the parent's list does not change.

// shareChildEnv makes arenastat run the child's half of stepSharedList
// (its value: shared or private) and exit.
const shareChildEnv = "ARENASTAT_SHARE_CHILD"

// tourItem is a node's value: who pushed it, and from which process.
type tourItem struct {
	Who [16]byte
	PID int64
}

func newTourItem(who string) tourItem {
	v := tourItem{PID: int64(os.Getpid())}
	copy(v.Who[:], who)
	return v
}

func (v tourItem) String() string {
	return fmt.Sprintf("%-8s (pid %d)", strings.TrimRight(string(v.Who[:]), "\x00"), v.PID)
}

// tourListRoot is the Memfd's root: the list's head, in the shared memory.
type tourListRoot struct {
	L list.RefHead[tourItem]
}

const tourMemfdName = "tour-shared-list"

// stepSharedList builds the list in a Memfd, lets a child push on it
// through a MAP_SHARED mapping, and then lets another child write through
// a MAP_PRIVATE mapping of the same file, showing each side's
// /proc/PID/maps line and what the parent's list holds afterwards.
func stepSharedList(w io.Writer) error {
	a, root, err := arena.CreateMemfd[tourListRoot](&arena.Options{Name: tourMemfdName})
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintf(w, "   (memfd arenas need Linux: %v)\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Lock(); err != nil {
		return err
	}
	l, err := list.OnMemfd(a, &root.L)
	if err == nil {
		_, err = l.PushBack(newTourItem("parent"))
	}
	if err == nil {
		_, err = l.PushBack(newTourItem("parent2"))
	}
	a.Unlock()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   the parent (pid %d) builds a list.RefList in a memfd arena: head and nodes in the file, linked by offsets\n", os.Getpid())
	printMemfdMaps(w, "parent", os.Getpid())

	for _, mode := range []string{"shared", "private"} {
		fmt.Fprintf(w, "   a child, arenastat re-executed with the memfd as fd 3, maps it %s:\n", map[string]string{"shared": "MAP_SHARED and pushes a node", "private": "MAP_PRIVATE and writes over a node"}[mode])
		out, err := runShareChild(a, mode)
		if err != nil {
			return err
		}
		w.Write(out)
		if err := a.Lock(); err != nil {
			return err
		}
		fmt.Fprintf(w, "   the parent visits its list after the child exited (%d nodes):\n", l.Len())
		for e := range l.All() {
			fmt.Fprintf(w, "     %v\n", e.Value)
		}
		a.Unlock()
	}
	fmt.Fprintln(w, "   rw-s: one copy of the pages, every mapper sees every write; rw-p: the child's write made it a private copy")
	return nil
}

// runShareChild runs arenastat again as the child in mode, with a's
// memfd as fd 3, and returns what it printed.
func runShareChild(a *arena.Memfd, mode string) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f, err := a.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), shareChildEnv+"="+mode, "ARENASTAT_RUN_MAIN=1")
	cmd.ExtraFiles = []*os.File{f}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the %s child failed: %v: %s", mode, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// shareChild is the child's half of stepSharedList; it returns the exit
// status.
func shareChild(w io.Writer, mode string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := os.NewFile(3, "memfd")
	switch mode {
	case "shared":
		a, root, err := arena.AttachMemfd[tourListRoot](f, &arena.Options{Name: tourMemfdName})
		if err != nil {
			return fail(err)
		}
		if err := a.Lock(); err != nil {
			return fail(err)
		}
		l, err := list.OnMemfd(a, &root.L)
		if err == nil {
			_, err = l.PushBack(newTourItem("child"))
		}
		a.Unlock()
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(w, "     (child, pid %d) attached with arena.AttachMemfd and pushed %q under the arena's lock\n", os.Getpid(), "child")
		printMemfdMaps(w, "child", os.Getpid())
		return exitCode(a.Close())
	case "private":
		st, err := f.Stat()
		if err != nil {
			return fail(err)
		}
		r, err := guard.MapFile(f, int(st.Size()), false, &guard.Options{Name: "tour-private-view"})
		if err != nil {
			return fail(err)
		}
		defer r.Close()
		// The parent's second node, found by its value in the bytes the
		// child maps: the same bytes the parent's list holds, until the
		// child writes.
		p := newTourItem("parent2")
		i := bytes.Index(r.Bytes(), p.Who[:8])
		if i < 0 {
			return fail(errors.New("the parent's node is not in the private mapping"))
		}
		copy(r.Bytes()[i:], "CHILD!!")
		fmt.Fprintf(w, "     (child, pid %d) found %q at offset %d of the file and wrote %q over it; its copy now reads %q\n",
			os.Getpid(), "parent2", i, "CHILD!!", strings.TrimRight(string(r.Bytes()[i:i+16]), "\x00"))
		printRegionMaps(w, "child", os.Getpid(), r)
		return 0
	}
	return fail(fmt.Errorf("%s=%q: want shared or private", shareChildEnv, mode))
}

func exitCode(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// printMemfdMaps prints who's /proc/PID/maps lines of the tour's memfd.
func printMemfdMaps(w io.Writer, who string, pid int) {
	ms, err := procmaps.Read(0)
	if err != nil {
		fmt.Fprintf(w, "     (no /proc/self/maps here: %v)\n", err)
		return
	}
	for _, m := range ms {
		if strings.Contains(m.Path, "mmarena:"+tourMemfdName) {
			fmt.Fprintf(w, "     %-6s /proc/%d/maps: %x-%x %s %s\n", who, pid, m.Start, m.End, m.Perms, m.Path)
		}
	}
}

// printRegionMaps prints who's /proc/PID/maps lines of r's file pages.
func printRegionMaps(w io.Writer, who string, pid int, r *guard.Region) {
	ms, err := procmaps.Read(0)
	if err != nil {
		fmt.Fprintf(w, "     (no /proc/self/maps here: %v)\n", err)
		return
	}
	for _, m := range procmaps.Overlapping(ms, r.Addr(), r.Addr()+uintptr(r.Size())) {
		fmt.Fprintf(w, "     %-6s /proc/%d/maps: %x-%x %s %s\n", who, pid, m.Start, m.End, m.Perms, m.Path)
	}
}
