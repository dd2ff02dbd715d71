package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"unsafe"

	"github.com/mmarena/mmarena/arena"
	"github.com/mmarena/mmarena/arena/hardened"
)

// session is the record stepHardened keeps in a cache.
type session struct {
	ID, Hits int64
}

// newSession and evictSession are the allocation and free sites the
// hardened step's report names.
func newSession(f *arena.FreeList, id int64) (*session, error) {
	p, err := f.Alloc(unsafe.Sizeof(session{}), unsafe.Alignof(session{}))
	if err != nil {
		return nil, err
	}
	s := (*session)(p)
	s.ID = id
	return s, nil
}

func evictSession(f *arena.FreeList, s *session) error {
	return f.Free(unsafe.Pointer(s))
}

// staleHits is where the stale pointer is used; a package variable
// receives the read so the compiler keeps it.
var staleHits int64

func readHits(s *session) { staleHits = s.Hits }

func stepHardened(w io.Writer) error {
	const every = 100
	f, err := arena.NewFreeList(&arena.Options{Name: "tour-sessions", Sample: &hardened.Options{Every: every}})
	if err != nil {
		return err
	}
	defer f.Close()
	sessions := make([]*session, 1000)
	for i := range sessions {
		if sessions[i], err = newSession(f, int64(i)); err != nil {
			return err
		}
	}
	st := f.Stats().Sample
	fmt.Fprintf(w, "   a FreeList with Options.Sample.Every = %d: of %d sessions, %d sit flush against a fenced page,\n", every, len(sessions), st.Sampled)
	fmt.Fprintf(w, "   each with the call stack that allocated it; the other %d cost one counter each.\n", len(sessions)-int(st.Sampled))

	stale := sessions[every-1] // the 100th allocation: sampled
	id := stale.ID
	if err := evictSession(f, stale); err != nil {
		return err
	}
	fmt.Fprintf(w, "   session %d is evicted (freed), but a stale pointer to it is read:\n", id)
	err = hardened.Catch(func() { readHits(stale) })
	var r *hardened.Report
	if !errors.As(err, &r) {
		return fmt.Errorf("the use after free was not caught: %v", err)
	}
	printReport(w, r)

	next := sessions[2*every-1]
	fmt.Fprintln(w, "   and writing one byte past another sampled session:")
	err = hardened.Catch(func() { *(*byte)(unsafe.Add(unsafe.Pointer(next), unsafe.Sizeof(session{}))) = 1 })
	if !errors.As(err, &r) {
		return fmt.Errorf("the overflow was not caught: %v", err)
	}
	first, _, _ := strings.Cut(r.String(), "\n")
	fmt.Fprintf(w, "     %s, allocated at %s\n", first, shortFrame(r.Allocated[0]))

	for i, s := range sessions {
		if i != every-1 && i%3 == 0 {
			if err := evictSession(f, s); err != nil {
				return err
			}
		}
	}
	u := f.Unfreed()
	fmt.Fprintf(w, "   after evicting a third, Unfreed (what Close reports) lists %d sessions, %d bytes, never freed;\n", u.Blocks, u.Bytes)
	if len(u.Sampled) > 0 && len(u.Sampled[0].Allocated) > 0 {
		fmt.Fprintf(w, "   %d of them sampled, the first allocated at %s\n", len(u.Sampled), shortFrame(u.Sampled[0].Allocated[0]))
	}
	if sampledProfile != "" {
		if err := writeSampledProfile(sampledProfile); err != nil {
			return err
		}
		fmt.Fprintf(w, "   their allocation sites, as go tool pprof reads them, are in %s\n", sampledProfile)
	}
	for i, s := range sessions {
		if i != every-1 && i%3 != 0 {
			if err := evictSession(f, s); err != nil {
				return err
			}
		}
	}
	st = f.Stats().Sample
	fmt.Fprintf(w, "   with all evicted: %d sampled, %d of them still fenced in quarantine, %d calls into guard, %d slots\n", st.Sampled, st.Quarantined, st.Syscalls, st.Slots)
	return nil
}

// printReport prints a report's first line and the innermost frames of
// its two call stacks, paths cut to the file name.
func printReport(w io.Writer, r *hardened.Report) {
	first, _, _ := strings.Cut(r.String(), "\n")
	fmt.Fprintf(w, "     %s\n", first)
	stack := func(what string, frames []string) {
		if len(frames) == 0 {
			return
		}
		fmt.Fprintf(w, "       %s at:\n", what)
		for _, f := range frames[:min(2, len(frames))] {
			fmt.Fprintf(w, "         %s\n", shortFrame(f))
		}
	}
	stack("allocated", r.Allocated)
	stack("freed", r.Freed)
}

// shortFrame cuts "example.com/pkg.function /path/to/file.go:12" to
// "pkg.function file.go:12".
func shortFrame(f string) string {
	fn, path, ok := strings.Cut(f, " ")
	if !ok {
		return f
	}
	return filepath.Base(fn) + " " + filepath.Base(path)
}

// sampledProfile is tour's -profile: where the hardened step writes the
// profile of its live sampled blocks, or "" for nowhere.
var sampledProfile string

// writeSampledProfile writes the live sampled blocks of every arena, by
// allocation site, to path in pprof's format (hardened.ProfileName).
func writeSampledProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(hardened.ProfileName).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
