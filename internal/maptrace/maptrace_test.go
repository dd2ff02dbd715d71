package maptrace

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLeft(t *testing.T) {
	ev := []Event{
		{true, 0x1000, 0x5000},
		{false, 0x1000, 0x2000}, // trim the head
		{false, 0x3000, 0x4000}, // punch a hole
		{true, 0x9000, 0xa000},
		{true, 0xa000, 0xb000}, // adjacent: merged in the result
		{false, 0x9000, 0xb000},
		{true, 0x20000, 0x21000},
	}
	assert.Equal(t, []Range{{0x2000, 0x3000}, {0x4000, 0x5000}, {0x20000, 0x21000}}, Left(ev))
	assert.Empty(t, Left(ev[:1+0][:0]))
	m := Mark()
	Record(true, 1, 2)
	Record(false, 1, 2)
	got, ok := Since(m)
	assert.True(t, ok)
	assert.Len(t, got, 2)
	assert.Empty(t, Left(got))
}
