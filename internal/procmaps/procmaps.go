// Package procmaps reads a process's memory mappings from
// /proc/PID/maps, for the tests that prove mappings are returned and for
// arenastat, which shows them. It only exists where /proc does (Linux);
// elsewhere Read returns an error wrapping fs.ErrNotExist.
package procmaps

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A Mapping is one line of /proc/PID/maps: one kernel mapping (VMA).
type Mapping struct {
	Start, End uintptr // [Start, End)
	Perms      string  // "rw-p", "---p", ...
	Path       string  // file, [heap], [anon:name], or "" for anonymous
	Line       string  // the line as the kernel wrote it
}

// Size returns End-Start.
func (m Mapping) Size() uintptr { return m.End - m.Start }

// Read returns the mappings of process pid; pid 0 means this process.
func Read(pid int) ([]Mapping, error) {
	path := "/proc/self/maps"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/maps"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse parses the contents of a maps file.
func Parse(b []byte) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 5 {
			return nil, fmt.Errorf("procmaps: malformed line %q", line)
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("procmaps: malformed range in %q", line)
		}
		m := Mapping{Start: uintptr(start), End: uintptr(end), Perms: f[1], Line: line}
		if len(f) > 5 {
			m.Path = strings.Join(f[5:], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Overlapping returns the mappings that intersect [lo, hi).
func Overlapping(ms []Mapping, lo, hi uintptr) []Mapping {
	var out []Mapping
	for _, m := range ms {
		if m.Start < hi && m.End > lo {
			out = append(out, m)
		}
	}
	return out
}
