package arena_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// maxExported bounds arena's exported names (types, funcs, methods,
// constants, variables), so that the API cannot creep back to the 108 it
// had before hardened mode, FreeListStats, Generation and Frozen, and the
// duplicate sentinels and interfaces were folded away (issue 12). The
// arena pool added six: Pool, NewPool, PoolOptions, Pool.Get,
// Pool.Put and Pool.Close (its misuse errors reuse ErrNoArena,
// ErrNotOwned, ErrDoubleFree and ErrClosed). The typed references
// added three: Ref, RefOf and Ref.Get (their misuse errors reuse
// ErrNoArena, ErrClosed and ErrNotOwned; a bad Ref resolves to nil).
// The memfd arena added thirteen: Memfd, CreateMemfd, AttachMemfd,
// MemfdRef and Ref.In (Ref.Get and RefOf take a *Bump, whose Refs
// resolve through a slot table a contiguous arena has no use for), the
// lock's Memfd.Lock, Unlock and MarkConsistent and its ErrOwnerDead,
// Memfd.Alloc, File and Close, and ErrHeader for a file attach refuses
// (its other errors reuse ErrSize, ErrClosed, ErrLimit, ErrNotOwned,
// ErrPointers and ErrUnsupported). The typed helpers, so that everyday
// code needs no unsafe, added six: FreeT and FreeSlice (Free by a typed
// pointer or a slice), Append and Grow (growth that stays in the arena),
// Clone and CloneSlice (values copied in). The memory budget added four:
// SetMemoryBudget (the Go runtime's limit less the arenas' bytes),
// SetArenaCap (the process-wide cap, refused with ErrLimit),
// CommittedBytes (what both count) and CgroupMemoryMax (the container's
// limit to derive them from). The list across processes added two:
// Memfd.CheckHeld, so that a structure in a Memfd can refuse to be used
// without the lock, and say whether the arena is closed instead; and
// Memfd.Stats, so that a Memfd is observed like every other arena.
// The sharded SyncFreeList added two:
// SyncFreeList.Trim, which drains its shards' caches, and ShardStats,
// each shard's numbers in Stats and Summary.
// The file arena added fourteen: File, CreateFile, OpenFile, File.Alloc,
// Sync, Commit, Used and Close, FileRoot and SetFileRoot for the typed
// root a reopen starts from, FileRef and Ref.InFile (a File is not a
// Memfd: no lock, a key of its own), ErrFileHeader for a file an open
// refuses (ErrHeader names a memfd's), and ErrLocked for a file another
// open holds (its other errors reuse ErrSize, ErrClosed, ErrFrozen,
// ErrLimit, ErrNotOwned, ErrPointers and ErrUnsupported; Options gained
// the field ReadOnly, which this count does not see).
// Ref gained two: Offset, a Ref's offset without its arena's key, and
// Tag, which xors a 24-bit mark into the key bits and back, so that
// list.RefList carries the list a node belongs to in the node's prev
// link instead of in a fourth word of every node.
// RefSpace added four: the type, Memfd.RefSpace, File.RefSpace and
// Ref.At, so that one list.RefList serves a Memfd and a File through
// one pointer, with Next inlined, instead of an interface.
// File.Stats added one: a File is observed like a Memfd (registry kind
// "file").
const maxExported = 142

// TestAPISize counts arena's exported names as go doc lists them, from
// the package's non-test files, and fails above maxExported.
func TestAPISize(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := pkgs["arena"]
	if !ok {
		t.Fatal("no package arena in .")
	}
	d := doc.New(p, "github.com/mmarena/mmarena/arena", 0)
	var names []string
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, s := range v.Decl.Specs {
				for _, id := range s.(*ast.ValueSpec).Names {
					if id.IsExported() {
						names = append(names, id.Name)
					}
				}
			}
		}
	}
	values(d.Consts)
	values(d.Vars)
	for _, f := range d.Funcs {
		names = append(names, f.Name)
	}
	for _, ty := range d.Types {
		names = append(names, ty.Name)
		values(ty.Consts)
		values(ty.Vars)
		for _, f := range ty.Funcs {
			names = append(names, f.Name)
		}
		for _, m := range ty.Methods {
			names = append(names, ty.Name+"."+m.Name)
		}
	}
	t.Logf("%d exported names: %s", len(names), strings.Join(names, " "))
	if len(names) > maxExported {
		t.Errorf("arena exports %d names, more than %d: fold a new one into an existing type or package, or raise maxExported with a reason", len(names), maxExported)
	}
}
