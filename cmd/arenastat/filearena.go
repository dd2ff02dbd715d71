package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
)

// The tour's file arena step: a list built into a file, committed and
// closed, then reopened by a child process, at another address, with
// nothing decoded.

// tourNode and tourRoot are the list the step stores: nodes linked by
// Refs, offsets from the file's start, which mean the same wherever the
// file is mapped.
type tourNode struct {
	next arena.Ref[tourNode]
	v    int64
}

type tourRoot struct {
	head  arena.Ref[tourNode]
	count int64
}

// fileChildEnv makes arenastat reopen the file arena it names, visit
// its list and exit: the tour's file step runs it in a child process.
const fileChildEnv = "ARENASTAT_FILE_CHILD"

func stepFileArena(w io.Writer) error {
	dir, err := os.MkdirTemp("", "arenastat-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "list.arena")
	a, err := arena.CreateFile[tourRoot](path, &arena.Options{Name: "tour-file"})
	if err != nil {
		return err
	}
	defer func() {
		if a != nil {
			a.Close()
		}
	}()
	root, err := arena.New[tourRoot](a)
	if err != nil {
		return err
	}
	for _, v := range []int64{10, 20, 30, 40, 50} {
		n, err := arena.New[tourNode](a)
		if err != nil {
			return err
		}
		n.v, n.next = v, root.head
		if root.head, err = arena.FileRef(a, n); err != nil {
			return err
		}
		root.count++
	}
	if err := arena.SetFileRoot(a, root); err != nil {
		return err
	}
	if err := a.Commit(); err != nil {
		return err
	}
	at := uintptr(unsafe.Pointer(root))
	fmt.Fprintf(w, "   CreateFile %s: 5 nodes pushed, linked by Refs (offsets from the file's start), the root set\n", path)
	fmt.Fprintf(w, "   Commit: msync the data, then write a header slot (used size, root, crc64) and msync it\n")
	fmt.Fprintf(w, "   this process (pid %d) has the root at %#x, in a shared file mapping:\n", os.Getpid(), at)
	if err := listPrintMapping(w, at); err != nil {
		return err
	}
	if err := a.Close(); err != nil {
		return err
	}
	a = nil
	fmt.Fprintln(w, "   Close; a child process (this binary, run again) opens the file:")

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fileChildEnv+"="+path, "ARENASTAT_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the file arena's child failed: %v: %s", err, strings.TrimSpace(errb.String()))
	}
	_, err = io.Copy(w, &out)
	return err
}

// fileChild opens the file arena at path for writing, shows where its
// root landed and the mapping, and visits the list. It returns the exit
// status.
func fileChild(w io.Writer, path string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	a, err := arena.OpenFile[tourRoot](path, &arena.Options{Name: "tour-file-child"})
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	root, err := arena.FileRoot[tourRoot](a)
	if err != nil {
		return fail(err)
	}
	at := uintptr(unsafe.Pointer(root))
	fmt.Fprintf(w, "   (child, pid %d) OpenFile maps it again: the root is at %#x now, with nothing decoded:\n", os.Getpid(), at)
	if err := listPrintMapping(w, at); err != nil {
		return fail(err)
	}
	var vs []string
	for n := root.head.InFile(a); n != nil; n = n.next.InFile(a) {
		vs = append(vs, fmt.Sprint(n.v))
	}
	fmt.Fprintf(w, "   (child) visits the %d nodes through Ref.InFile: %s\n", root.count, strings.Join(vs, " "))
	return 0
}
