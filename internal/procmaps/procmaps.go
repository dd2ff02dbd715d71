// Package procmaps reads a process's memory mappings from
// /proc/PID/maps, for the tests that prove mappings are returned and for
// arenastat, which shows them. It only exists where /proc does (Linux);
// elsewhere Read returns an error wrapping fs.ErrNotExist.
package procmaps

import (
	"bufio"
	"bytes"
	"encoding/binary"
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

// Detail is what /proc/PID/smaps adds to a mapping: its resident bytes
// and its VmFlags ("gu" marks guard markers on Linux 6.13 and later).
type Detail struct {
	Rss   uint64
	Flags []string
}

// ReadDetails returns the smaps details of process pid's mappings, keyed
// by start address; pid 0 means this process.
func ReadDetails(pid int) (map[uintptr]Detail, error) {
	path := "/proc/self/smaps"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/smaps"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[uintptr]Detail)
	var cur uintptr
	var d Detail
	have := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "Rss:" && len(f) >= 2:
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			d.Rss = kb << 10
		case f[0] == "VmFlags:":
			d.Flags = f[1:]
		case strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			if have {
				out[cur] = d
			}
			lo, _, _ := strings.Cut(f[0], "-")
			v, err := strconv.ParseUint(lo, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("procmaps: malformed smaps line %q", line)
			}
			cur, d, have = uintptr(v), Detail{}, true
		}
	}
	if have {
		out[cur] = d
	}
	return out, sc.Err()
}

// Resident returns how many bytes of [start, end) are in RAM in process
// pid (0: this process), page by page, from /proc/PID/pagemap: present
// or swapped pages count. Unlike smaps, which sums a whole kernel
// mapping, it is exact for a range that shares a mapping with others.
func Resident(pid int, start, end uintptr) (uint64, error) {
	path := "/proc/self/pagemap"
	if pid != 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/pagemap"
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ps := uintptr(os.Getpagesize())
	buf := make([]byte, 8*512)
	var pages uint64
	for addr := start &^ (ps - 1); addr < end; {
		n := min((end-addr+ps-1)/ps, 512)
		b := buf[:8*n]
		if _, err := f.ReadAt(b, int64(addr/ps*8)); err != nil {
			return 0, err
		}
		for i := uintptr(0); i < n; i++ {
			if e := binary.LittleEndian.Uint64(b[8*i:]); e&(3<<62) != 0 {
				pages++
			}
		}
		addr += n * ps
	}
	return pages * uint64(ps), nil
}

// RSS returns this process's resident set size now (VmRSS of
// /proc/self/status), or 0 where /proc is missing.
func RSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
