package main

import (
	"bufio"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseTCPTable reads listening sockets from /proc/net/tcp and tcp6
// rows as a little-endian kernel prints them: only listening rows (state
// 0A) whose inode the process holds.
func TestParseTCPTable(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the rows below are a little-endian kernel's")
	}
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0A00020F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 444 1 0000000000000000 100 0 0 10 0
   0: 00000000000000000000000001000000:17C0 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 666 1 0000000000000000 100 0 0 10 0
`
	held := map[string]bool{"111": true, "222": true, "333": true, "555": true, "666": true}
	got, err := parseTCPTable(bufio.NewScanner(strings.NewReader(table)), held)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:8080"), // 111
		netip.MustParseAddrPort("0.0.0.0:22"),     // 222; 333 is a connection, 444 another process's
		netip.MustParseAddrPort("[::1]:6080"),     // 555
		netip.MustParseAddrPort("127.0.0.1:81"),   // 666, a v4-mapped address
	}, got)

	_, err = parseTCPTable(bufio.NewScanner(strings.NewReader("header\n 0: 7F:zz 0:0 0A a b c d e 111\n")), held)
	assert.EqualError(t, err, `unreadable local address "7F:zz"`)
}
