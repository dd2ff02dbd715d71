//go:build linux

package arena_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/mmarena/mmarena/align"
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

// FuzzFileOps replays Alloc (sizes 0 to 4 KiB, alignments 1 to 8192,
// the invalid ones among them), Commit and Close-and-reopen sequences
// against a model: a block is aligned, zeroed and inside the file's
// mapping; a bad alignment changes nothing; after a reopen the cursor is
// the last commit's used size, every committed block reads back what
// was written into it, and the uncommitted ones are gone.
func FuzzFileOps(f *testing.F) {
	f.Add([]byte{0, 10, 3, 0, 200, 0, 1, 0, 0, 0, 7, 2, 2, 0, 0})
	f.Add([]byte{0, 255, 4, 3, 0, 0, 0, 16, 1, 2, 0, 0, 0, 1, 13, 1, 0, 0})
	f.Add([]byte{0, 255, 255, 0, 255, 255, 1, 0, 0, 2, 0, 0})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*64 {
			ops = ops[:3*64]
		}
		path := filepath.Join(dir, "ops")
		os.Remove(path)
		a, err := arena.CreateFile[fileRoot](path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { a.Close() }()
		type block struct {
			ref  arena.Ref[byte]
			size int
			pat  byte
		}
		var committed, pending []block
		committedUsed := a.Used()
		for i := 0; i+3 <= len(ops); i += 3 {
			op, x, y := ops[i]%4, ops[i+1], ops[i+2]
			switch op {
			case 0, 3: // Alloc: size from x and y, alignment 1<<(y%14): up to 8192, over the page size
				size := int(x) << (y % 5) % 4097
				al := uintptr(1) << (y % 14)
				before := a.Used()
				p, err := a.Alloc(uintptr(size), al)
				if al > uintptr(align.PageSize()) {
					if err == nil || a.Used() != before {
						t.Fatalf("Alloc(%d, %d) over the page size: err %v, used %d -> %d", size, al, err, before, a.Used())
					}
					continue
				}
				if err != nil {
					t.Fatalf("Alloc(%d, %d): %v", size, al, err)
				}
				if size == 0 {
					continue
				}
				if uintptr(p)%al != 0 {
					t.Fatalf("Alloc(%d, %d) = %p, misaligned", size, al, p)
				}
				b := unsafe.Slice((*byte)(p), size)
				for k, v := range b {
					if v != 0 {
						t.Fatalf("Alloc(%d, %d): byte %d is %#x, not zero", size, al, k, v)
					}
				}
				pat := byte(i/3) | 1
				for k := range b {
					b[k] = pat
				}
				r, err := arena.FileRef(a, (*byte)(p))
				if err != nil {
					t.Fatal(err)
				}
				pending = append(pending, block{r, size, pat})
			case 1:
				if err := a.Commit(); err != nil {
					t.Fatal(err)
				}
				committed, pending, committedUsed = append(committed, pending...), nil, a.Used()
			case 2:
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
				if a, err = arena.OpenFile[fileRoot](path, nil); err != nil {
					t.Fatal(err)
				}
				if a.Used() != committedUsed {
					t.Fatalf("reopened at used %d, the last commit had %d", a.Used(), committedUsed)
				}
				pending = nil
				for _, bl := range committed {
					p := bl.ref.InFile(a)
					if p == nil {
						t.Fatalf("a committed block's Ref does not resolve")
					}
					for k, v := range unsafe.Slice(p, bl.size) {
						if v != bl.pat {
							t.Fatalf("committed block byte %d is %#x after reopen, want %#x", k, v, bl.pat)
						}
					}
				}
			}
		}
	})
}
