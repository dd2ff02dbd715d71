//go:build linux

package arena_test

import (
	"bufio"
	"encoding/gob"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/internal/mapcheck"
)

// benchNodes is the length of the list the file benchmarks store.
const benchNodes = 1 << 20

// heapNode is the list as a Go program holds it once decoded.
type heapNode struct {
	next *heapNode
	val  uint64
}

// benchFiles writes the same 1M-value list twice into dir: as a file
// arena (Ref-linked nodes, head at the root) and as a gob stream of the
// values, and returns both paths.
func benchFiles(b *testing.B) (arenaPath, gobPath string) {
	b.Helper()
	dir := b.TempDir()
	arenaPath, gobPath = filepath.Join(dir, "list.arena"), filepath.Join(dir, "list.gob")
	a, err := arena.CreateFile[fileRoot](arenaPath, &arena.Options{InitialSize: benchNodes*16 + 1<<16})
	if err != nil {
		b.Fatal(err)
	}
	vals := make([]uint64, benchNodes)
	var head arena.Ref[fileNode]
	for i := range vals {
		vals[i] = uint64(benchNodes - 1 - i) // the list reads 0, 1, 2, ... from the head
		n, err := arena.New[fileNode](a)
		if err != nil {
			b.Fatal(err)
		}
		n.val, n.next = vals[i], head
		if head, err = arena.FileRef(a, n); err != nil {
			b.Fatal(err)
		}
	}
	root, err := arena.New[fileRoot](a)
	if err != nil {
		b.Fatal(err)
	}
	root.head, root.count = head, benchNodes
	if err := arena.SetFileRoot(a, root); err != nil {
		b.Fatal(err)
	}
	if err := a.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(gobPath)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := gob.NewEncoder(w).Encode(vals); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return arenaPath, gobPath
}

// decodeGob reads the gob file and builds the list on the Go heap, as
// a program that stores its structure with gob does at start-up.
func decodeGob(b *testing.B, path string) *heapNode {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var vals []uint64
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&vals); err != nil {
		b.Fatal(err)
	}
	var head *heapNode
	for i := len(vals) - 1; i >= 0; i-- {
		head = &heapNode{next: head, val: vals[i]}
	}
	return head
}

// walkFile and walkHeap sum the list's values, checking its length.
func walkFile(b *testing.B, a *arena.File, root *fileRoot) uint64 {
	var sum, n uint64
	for r := root.head; ; n++ {
		node := r.InFile(a)
		if node == nil {
			break
		}
		sum += node.val
		r = node.next
	}
	if n != benchNodes {
		b.Fatalf("walked %d nodes", n)
	}
	return sum
}

func walkHeap(b *testing.B, head *heapNode) uint64 {
	var sum, n uint64
	for p := head; p != nil; p = p.next {
		sum += p.val
		n++
	}
	if n != benchNodes {
		b.Fatalf("walked %d nodes", n)
	}
	return sum
}

// gcCycles reports the GC cycles per op since before, as "gcs/op".
func gcCycles(b *testing.B, before uint32) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.NumGC-before)/float64(b.N), "gcs/op")
}

func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// BenchmarkFileOpen: making a 1M-node list usable at start-up. The file
// arena maps the file read-only and checks its header; the gob baseline
// reads and decodes the values and builds the list on the heap. Each op
// ends with the list's head in hand (and, for the file, the mapping
// closed again).
func BenchmarkFileOpen(b *testing.B) {
	arenaPath, gobPath := benchFiles(b)
	b.Run("store=file", func(b *testing.B) {
		mapcheck.Baseline(b)
		b.ReportAllocs()
		gc := numGC()
		for b.Loop() {
			a, err := arena.OpenFile[fileRoot](arenaPath, &arena.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			if root, err := arena.FileRoot[fileRoot](a); err != nil || root.count != benchNodes {
				b.Fatal(err)
			}
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
		}
		gcCycles(b, gc)
	})
	b.Run("store=gob", func(b *testing.B) {
		b.ReportAllocs()
		gc := numGC()
		for b.Loop() {
			if decodeGob(b, gobPath) == nil {
				b.Fatal("empty list")
			}
		}
		gcCycles(b, gc)
	})
}

// BenchmarkFileTraverse: one walk of the 1M-node list once it is open,
// summing the values: Ref.InFile in the file arena's mapping (pages in
// the page cache, mapped by the first walk) against pointers on the Go
// heap. The gcs/op of store=file counts cycles during the walks, which
// allocate nothing.
func BenchmarkFileTraverse(b *testing.B) {
	arenaPath, gobPath := benchFiles(b)
	b.Run("store=file", func(b *testing.B) {
		mapcheck.Baseline(b)
		a, err := arena.OpenFile[fileRoot](arenaPath, &arena.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		root, _ := arena.FileRoot[fileRoot](a)
		want := walkFile(b, a, root)
		b.ReportAllocs()
		gc := numGC()
		for b.Loop() {
			if walkFile(b, a, root) != want {
				b.Fatal("sum changed")
			}
		}
		gcCycles(b, gc)
	})
	b.Run("store=goheap", func(b *testing.B) {
		head := decodeGob(b, gobPath)
		want := walkHeap(b, head)
		b.ReportAllocs()
		gc := numGC()
		for b.Loop() {
			if walkHeap(b, head) != want {
				b.Fatal("sum changed")
			}
		}
		gcCycles(b, gc)
		runtime.KeepAlive(head)
	})
}
