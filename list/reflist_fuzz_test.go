//go:build linux

package list_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/list"
)

// The two-process fuzz target. Each fuzz worker (and go test, for the
// seeds) starts one child process, the test binary again with the
// arena's memfd as fd 3, the first time it runs an input, and keeps it
// for every input after: starting a process per input would cost more
// than the input. The child reads an op stream per line on its stdin,
// runs it on the shared list, each op under the arena's lock, and
// answers on its stdout. A second attach in the same process would run
// the same shared-memory code, but not the protocol's other half: a
// second PID in the lock word, futex wake-ups between processes, and
// growth that the other process maps at its next Lock.

// refOp runs op b of side s on l, keeping model (s's items, in order)
// and next (s's next item number) in step. It returns an error if the
// list refuses a valid op or fails its Check.
func refOp(l *list.RefList[item], s uint32, b byte, model *[]item, next *uint32) error {
	switch b % 4 {
	case 0, 1:
		v := item{s, *next}
		*next++
		var err error
		if b%4 == 0 {
			_, err = l.PushBack(v)
			*model = append(*model, v)
		} else {
			_, err = l.PushFront(v)
			*model = slices.Insert(*model, 0, v)
		}
		return err
	case 2:
		if len(*model) == 0 {
			return nil
		}
		k := int(b/4) % len(*model)
		i := 0
		for e := range l.All() {
			if e.Value.Side != s {
				continue
			}
			if i == k {
				v, err := l.Remove(e)
				if err == nil && v != (*model)[k] {
					err = fmt.Errorf("removed %v, the model's item %d is %v", v, k, (*model)[k])
				}
				*model = slices.Delete(*model, k, k+1)
				return err
			}
			i++
		}
		return fmt.Errorf("side %d has %d items in the list, the model %d", s, i, len(*model))
	default:
		return l.Check()
	}
}

// runOps runs ops as side s, each op under its own Lock, and returns
// the side's model.
func runOps(a *arena.Memfd, root *refRoot, s uint32, ops []byte) ([]item, error) {
	var model []item
	var next uint32
	for _, b := range ops {
		if err := a.Lock(); err != nil {
			return nil, err
		}
		l, err := list.OnMemfd(a, &root.L)
		if err == nil {
			err = refOp(l, s, b, &model, &next)
		}
		a.Unlock()
		if err != nil {
			return nil, fmt.Errorf("side %d, op %#x: %w", s, b, err)
		}
	}
	return model, nil
}

// fuzzChild is the child's half: an op stream per line, as hex, and
// "ok" or the error in answer, until its stdin closes.
func fuzzChild(a *arena.Memfd, root *refRoot, fail func(error)) {
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := readLine(in)
		if err == io.EOF {
			return
		}
		if err != nil {
			fail(err)
		}
		ops, err := hex.DecodeString(line)
		if err == nil {
			_, err = runOps(a, root, 2, ops)
		}
		if err != nil {
			fmt.Fprintf(os.Stdout, "child: %v\n", err)
			continue
		}
		fmt.Fprintln(os.Stdout, "ok")
	}
}

// fuzzPeer is this process's arena and child for FuzzRefListTwoProcess.
var fuzzPeer struct {
	once sync.Once
	err  error
	a    *arena.Memfd
	root *refRoot
	in   io.Writer
	out  *bufio.Reader
}

// startFuzzPeer makes the arena and starts the child, once per process.
// Both live until the process exits; the child exits when its stdin
// closes with it.
func startFuzzPeer() error {
	p := &fuzzPeer
	p.once.Do(func() {
		p.a, p.root, p.err = arena.CreateMemfd[refRoot](&arena.Options{Name: "fuzz", Limit: 64 << 20})
		if p.err != nil {
			return
		}
		var f *os.File
		if f, p.err = p.a.File(); p.err != nil {
			return
		}
		defer f.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
		cmd.Env = append(os.Environ(), envRefChild+"=fuzz")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stderr = os.Stderr
		if p.in, p.err = cmd.StdinPipe(); p.err != nil {
			return
		}
		var out io.Reader
		if out, p.err = cmd.StdoutPipe(); p.err != nil {
			return
		}
		p.out = bufio.NewReader(out)
		p.err = cmd.Start()
	})
	return p.err
}

// FuzzRefListTwoProcess splits its input into two op streams, the even
// bytes for this process and the odd ones for a child process attached
// to the same memfd arena (see above), which run at the same time on one
// list, each op under the lock: push back, push front, remove the k-th
// of the side's own items, or Check. Neither side touches the other's
// items, so whatever the interleaving, the list afterwards passes the
// structural checker and each side's items, in order, are its model.
func FuzzRefListTwoProcess(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 2, 3, 3})
	f.Add([]byte{0, 1, 0, 1, 0, 1, 6, 10, 2, 2, 3, 3, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1024 {
			in = in[:1024]
		}
		require.NoError(t, startFuzzPeer())
		p := &fuzzPeer
		var mine, theirs []byte
		for i, b := range in {
			if i%2 == 0 {
				mine = append(mine, b)
			} else {
				theirs = append(theirs, b)
			}
		}
		// A fresh, empty list: the last input's nodes go to the free
		// list, so the arena does not grow from input to input.
		require.NoError(t, p.a.Lock())
		l, err := list.OnMemfd(p.a, &p.root.L)
		require.NoError(t, err)
		for e := l.Front(); e != nil; e = l.Front() {
			_, err := l.Remove(e)
			require.NoError(t, err)
		}
		p.a.Unlock()

		_, err = fmt.Fprintf(p.in, "%x\n", theirs)
		require.NoError(t, err)
		model, err := runOps(p.a, p.root, 1, mine)
		require.NoError(t, err)
		answer, err := readLine(p.out)
		require.NoError(t, err, "the child did not answer")
		require.Equal(t, "ok", answer)
		var theirModel []item
		var next uint32
		for _, b := range theirs {
			refModel(b, 2, &theirModel, &next)
		}

		require.NoError(t, p.a.Lock())
		defer p.a.Unlock()
		checkRefList(t, l)
		vs := refValues(l)
		require.True(t, slices.Equal(model, side(vs, 1)), "this side's items %v, its model %v", side(vs, 1), model)
		require.True(t, slices.Equal(theirModel, side(vs, 2)), "the child's items %v, its model %v", side(vs, 2), theirModel)
		require.Len(t, vs, len(model)+len(theirModel))
	})
}

// refModel applies op b of side s to a model alone, as refOp does to
// the list and its model.
func refModel(b byte, s uint32, model *[]item, next *uint32) {
	switch b % 4 {
	case 0:
		*model = append(*model, item{s, *next})
		*next++
	case 1:
		*model = slices.Insert(*model, 0, item{s, *next})
		*next++
	case 2:
		if len(*model) > 0 {
			k := int(b/4) % len(*model)
			*model = slices.Delete(*model, k, k+1)
		}
	}
}
