package main

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzFlagsAnywhere checks parseFlags against a model of the command
// line: each byte of prog adds an operand, -json, -json=false, -count N
// (two arguments), --count=N or "--"; flags may sit anywhere, the last
// one of a name wins, and after "--" every argument is an operand in
// order.
func FuzzFlagsAnywhere(f *testing.F) {
	f.Add([]byte{0, 1, 3})       // operand, then flags
	f.Add([]byte{1, 0, 3, 0, 2}) // flags between operands
	f.Add([]byte{0, 5, 1, 3, 5}) // flags after "--" are operands
	f.Add([]byte{5, 5, 0})       // "--" twice: the second is an operand
	f.Add([]byte{4, 2, 1, 0, 0}) // = forms, later wins
	f.Fuzz(func(t *testing.T, prog []byte) {
		var args, wantOps []string
		wantJSON, wantCount, ended := false, 0, false
		add := func(flagArgs ...string) bool {
			args = append(args, flagArgs...)
			if ended {
				wantOps = append(wantOps, flagArgs...)
			}
			return !ended
		}
		for i, b := range prog {
			switch b % 6 {
			case 0:
				op := "op" + strconv.Itoa(i)
				args, wantOps = append(args, op), append(wantOps, op)
			case 1:
				if add("-json") {
					wantJSON = true
				}
			case 2:
				if add("-json=false") {
					wantJSON = false
				}
			case 3:
				if add("-count", strconv.Itoa(i)) {
					wantCount = i
				}
			case 4:
				if add("--count=" + strconv.Itoa(i)) {
					wantCount = i
				}
			case 5:
				if add("--") {
					ended = true
				}
			}
		}
		var e env
		fs := e.flags("fuzz")
		count := fs.Int("count", 0, "")
		require.NoError(t, parseFlags(fs, args), "%q", args)
		assert.Equal(t, wantJSON, e.json, "%q", args)
		assert.Equal(t, wantCount, *count, "%q", args)
		assert.Equal(t, len(wantOps), fs.NArg(), "%q", args)
		if len(wantOps) > 0 {
			assert.Equal(t, wantOps, fs.Args(), "%q", args)
		}
	})
}
