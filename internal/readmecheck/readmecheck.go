// Package readmecheck keeps the README's code honest: each package's
// Example function, which go test runs and checks, must appear in
// README.md verbatim as a fenced Go block.
package readmecheck

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var example = regexp.MustCompile(`(?s)\nfunc Example\(\) \{\n(.*?)\n\}\n`)

// Example fails t unless the body of func Example in exampleFile, one
// tab of indentation removed, is a ```go block of the README at readme.
func Example(t *testing.T, exampleFile, readme string) {
	t.Helper()
	src, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	m := example.FindSubmatch(src)
	if m == nil {
		t.Fatalf("readmecheck: no func Example in %s", exampleFile)
	}
	lines := strings.Split(string(m[1]), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimPrefix(line, "\t")
	}
	block := "```go\n" + strings.Join(lines, "\n") + "\n```"
	if !strings.Contains(string(doc), block) {
		t.Errorf("readmecheck: %s does not show the body of Example in %s; paste it as:\n%s", readme, exampleFile, block)
	}
}
