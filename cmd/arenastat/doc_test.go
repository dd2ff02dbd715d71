package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestManual checks that arenastat -help prints doc.go's package comment,
// the one manual, laid out as a manual page.
func TestManual(t *testing.T) {
	m := manual()
	out, stderr, code := arenastat(t, "-help")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, m, out, "-help must print the manual rendered from doc.go")

	var sections []string
	for line := range strings.Lines(m) {
		if line != "\n" && !strings.HasPrefix(line, "    ") {
			sections = append(sections, strings.TrimSuffix(line, "\n"))
		}
	}
	assert.Equal(t, []string{"NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"}, sections)
	assert.True(t, strings.HasPrefix(m, "NAME\n    arenastat - prints what mmarena's memory looks like"), m)
	for line := range strings.Lines(m) {
		assert.LessOrEqual(t, len(strings.TrimSuffix(line, "\n")), 80, "manual line too long: %q", line)
	}

	// Every command and flag of the synopsis is explained in the
	// description, and every flag the description explains is in the
	// synopsis.
	synopsis := between(m, "SYNOPSIS\n", "\nDESCRIPTION\n")
	description := between(m, "DESCRIPTION\n", "\nEXIT STATUS\n")
	flagRE := regexp.MustCompile(`(^|[\s\[(])(-[a-z]+)\b`)
	flags := func(s string) []string {
		var out []string
		for _, m := range flagRE.FindAllStringSubmatch(s, -1) {
			out = append(out, m[2])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	assert.Equal(t, flags(synopsis), flags(description))
	assert.Equal(t, []string{"-benchfmt", "-count", "-h", "-interval", "-json", "-n", "-pid", "-profile", "-url", "-w"}, flags(synopsis))
	for _, cmd := range []string{"[tour", "bench", "watch", "maps"} {
		assert.Contains(t, synopsis, "    arenastat [-json] "+cmd, "no synopsis line for %s", cmd)
		name := strings.Trim(cmd, "[]")
		assert.Regexp(t, `(?i)(^|\n)    (the )?`+name+`\b`, description, "no paragraph for %s", name)
	}
}

// between returns the part of s after from and before to.
func between(s, from, to string) string {
	_, s, _ = strings.Cut(s, from)
	s, _, _ = strings.Cut(s, to)
	return s
}
