package main

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mmarena/mmarena/internal/mapcheck"
	"github.com/mmarena/mmarena/list"
)

// TestStepList runs the list step in process and checks what it shows:
// the lecture's values, nodes back to back inside the mapping printed for
// them, the removed node reused, and the errors for misuse.
func TestStepList(t *testing.T) {
	mapcheck.Baseline(t)
	var out bytes.Buffer
	require.NoError(t, stepList(&out))
	s := out.String()

	m := regexp.MustCompile(`list_add\((\d+)\): PushFront, node at 0x([0-9a-f]+) \(\+(\d+)\)`).FindAllStringSubmatch(s, -1)
	require.Len(t, m, 3, s)
	size := uint64(unsafe.Sizeof(list.Element[int64]{}))
	var addrs []uint64
	for i, sub := range m {
		assert.Equal(t, []string{"42", "17", "13"}[i], sub[1])
		a, err := strconv.ParseUint(sub[2], 16, 64)
		require.NoError(t, err)
		addrs = append(addrs, a)
		assert.Equal(t, strconv.FormatUint(uint64(i)*size, 10), sub[3], "node %d is %d nodes after the first", i, i)
	}
	for i := 1; i < len(addrs); i++ {
		assert.Equal(t, addrs[i-1]+size, addrs[i], "consecutive nodes")
	}
	assert.Contains(t, s, "list_visit: 13 17 42\n")

	// The maps line printed holds every node.
	line := regexp.MustCompile(`(?m)^ +([0-9a-f]+)-([0-9a-f]+) (rw-p) `).FindStringSubmatch(s)
	require.NotNil(t, line, s)
	lo, err := strconv.ParseUint(line[1], 16, 64)
	require.NoError(t, err)
	hi, err := strconv.ParseUint(line[2], 16, 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, lo, addrs[0])
	assert.Less(t, addrs[2]+size, hi)

	assert.Regexp(t, `list_free: Remove\(17\) puts node 0x[0-9a-f]+ on the list's free list; visit: 13 42\n`, s)
	assert.Contains(t, s, "removing it twice: list: element was removed\n")
	assert.Regexp(t, `PushBack\(99\) reuses it: node 0x[0-9a-f]+ \(same node: true\); visit: 13 42 99\n`, s)
	assert.Contains(t, s, "push 1001: list: full: all 1000 elements of its capacity are in use (ENOMEM: true)")
	assert.Contains(t, s, strconv.FormatUint(1000*size, 10)+" bytes for 1000 nodes: "+strconv.FormatUint(size, 10)+" per node")
	assert.Contains(t, s, "after the arena's Close: Len 0, PushFront: list: arena: use after Close\n")
}
