package guard_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeExample fails when the README's guard snippet drifts from
// Example, which go test runs and checks.
func TestReadmeExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)\nfunc Example\(\) \{\n(.*?)\n\}\n`).FindSubmatch(src)
	require.NotNil(t, m, "Example not found")
	var body []string
	for _, line := range strings.Split(string(m[1]), "\n") {
		body = append(body, strings.TrimPrefix(line, "\t"))
	}
	require.Contains(t, string(readme), "```go\n"+strings.Join(body, "\n")+"\n```",
		"README.md's guard snippet must be the body of Example in guard/example_test.go")
}
