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
	"github.com/mmarena/mmarena/list"
)

// The tour's file arena step: a list built into a file, committed and
// closed, then reopened by a child process, at another address, with
// nothing decoded.

// tourRoot is what the step stores: the head of a list.RefList, whose
// nodes link by Refs, offsets from the file's start, which mean the same
// wherever the file is mapped.
type tourRoot struct {
	L list.RefHead[int64]
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
	l, err := list.OnFile(a, &root.L)
	if err != nil {
		return err
	}
	for _, v := range []int64{10, 20, 30, 40, 50} {
		if _, err := l.PushFront(v); err != nil {
			return err
		}
	}
	if err := arena.SetFileRoot(a, root); err != nil {
		return err
	}
	if err := a.Commit(); err != nil {
		return err
	}
	at := uintptr(unsafe.Pointer(root))
	fmt.Fprintf(w, "   CreateFile %s: list.OnFile, 5 pushes: nodes linked by Refs (offsets from the file's start), the root set\n", path)
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
	l, err := list.OnFile(a, &root.L)
	if err != nil {
		return fail(err)
	}
	if err := l.Check(); err != nil {
		return fail(err)
	}
	var vs []string
	for e := l.Front(); e != nil; e = l.Next(e) {
		vs = append(vs, fmt.Sprint(e.Value))
	}
	fmt.Fprintf(w, "   (child) list.OnFile, Check, and visits the %d nodes through RefList.Next: %s\n", l.Len(), strings.Join(vs, " "))
	return 0
}
