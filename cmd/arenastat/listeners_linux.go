package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// listeners returns the TCP addresses process pid listens on, sorted: the
// sockets among its file descriptors (/proc/PID/fd links "socket:[INODE]")
// matched by inode to the listening rows of /proc/PID/net/tcp and tcp6,
// which list the sockets of the process's network namespace. Reading
// another user's process needs the permission ptrace would.
func listeners(pid int) ([]netip.AddrPort, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return nil, err
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/fd/" + fd.Name())
		if err != nil {
			continue // closed since the listing
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(dir + "/net/" + table)
		if err != nil {
			if os.IsNotExist(err) {
				continue // no IPv6 in this kernel
			}
			return nil, err
		}
		as, err := parseTCPTable(bufio.NewScanner(f), inodes)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s/net/%s: %w", dir, table, err)
		}
		out = append(out, as...)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return slices.Compact(out), nil
}

// tcpListen is the state /proc/net/tcp prints for a listening socket
// (TCP_LISTEN in the kernel's tcp_states.h).
const tcpListen = "0A"

// parseTCPTable reads the rows of a /proc/net/tcp or tcp6 table and
// returns the local addresses of the listening sockets whose inode is
// in inodes. A row is "sl local_address rem_address st ... inode ...":
// the local address is the IP in hexadecimal, as the kernel holds it
// (each 32-bit word in host byte order), a colon, and the port in
// hexadecimal.
func parseTCPTable(sc *bufio.Scanner, inodes map[string]bool) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen || !inodes[f[9]] {
			continue
		}
		host, port, ok := strings.Cut(f[1], ":")
		raw, err := hex.DecodeString(host)
		p, perr := strconv.ParseUint(port, 16, 16)
		if !ok || err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
			return nil, fmt.Errorf("unreadable local address %q", f[1])
		}
		// Each 32-bit word was printed as a number: read it back as one,
		// and lay it out in memory as the host does.
		ip := make([]byte, len(raw))
		for i := 0; i < len(raw); i += 4 {
			binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
		}
		addr, _ := netip.AddrFromSlice(ip)
		out = append(out, netip.AddrPortFrom(addr.Unmap(), uint16(p)))
	}
	return out, sc.Err()
}
