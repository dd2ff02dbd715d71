//go:build linux

package arena_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mmarena/mmarena/arena"
)

// FuzzFileHeader feeds the header parser any bytes and any file size:
// it never panics, and a header it accepts is in range.
func FuzzFileHeader(f *testing.F) {
	f.Add(validImage(f)[:arena.FileDataStart], uint64(64<<10))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, hdr []byte, size uint64) {
		seq, used, root, err := arena.ParseFileHeader[fileRoot](hdr, size)
		if err != nil {
			return
		}
		switch {
		case seq == 0:
			t.Fatalf("accepted a slot with sequence 0")
		case used < arena.FileDataStart || used > size:
			t.Fatalf("accepted used size %d for a file of %d bytes", used, size)
		case root != 0 && (root < arena.FileDataStart || root > used-24):
			t.Fatalf("accepted root %d with used %d", root, used)
		}
	})
}

// validImage is a small file arena's bytes after three commits.
func validImage(tb testing.TB) []byte {
	path := filepath.Join(tb.TempDir(), "image")
	a, err := arena.CreateFile[fileRoot](path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for c := uint64(1); c <= 3; c++ {
		if err := buildCommit(a, c); err != nil {
			tb.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzFileReopen writes a file arena whose first bytes (the header
// slots, and some data if longer) the fuzzer chose, over a valid
// three-commit image cut to keep bytes, and opens it: a failed open
// leaves the file unchanged, and a successful one resolves its root and
// walks its list (bounded, since a forged header may make a cycle)
// without a fault, then closes.
func FuzzFileReopen(f *testing.F) {
	img := validImage(f)
	f.Add(img[:arena.FileDataStart], uint16(len(img)))
	f.Add(img[:arena.FileSlotGap], uint16(len(img)))
	f.Add([]byte("garbage"), uint16(100))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, head []byte, keep uint16) {
		b := bytes.Clone(img[:min(int(keep), len(img))])
		if len(head) > len(b) {
			head = head[:len(b)]
		}
		copy(b, head)
		path := filepath.Join(dir, "reopen")
		os.Remove(path)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := arena.OpenFile[fileRoot](path, nil)
		if err != nil {
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(b, after) {
				t.Fatalf("a failed open (%v) changed the file", err)
			}
			return
		}
		defer a.Close()
		root, err := arena.FileRoot[fileRoot](a)
		if err != nil {
			t.Fatal(err)
		}
		if root != nil {
			r := root.head
			for i := 0; i < 1000 && r != (arena.Ref[fileNode]{}); i++ {
				n := r.InFile(a)
				if n == nil {
					break
				}
				r = n.next
			}
		}
		// The cursor starts at the committed used size: a new block
		// comes after it, zeroed.
		n, err := arena.New[fileNode](a)
		if err != nil {
			t.Fatal(err)
		}
		if n.val != 0 || n.next != (arena.Ref[fileNode]{}) {
			t.Fatalf("New after reopen handed out stale bytes")
		}
	})
}
