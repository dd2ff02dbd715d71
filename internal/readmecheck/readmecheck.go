// Package readmecheck keeps the README's code honest: the example
// functions it shows, which go test runs and checks, must appear in
// README.md verbatim as fenced Go blocks.
package readmecheck

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Example fails t unless the body of the example function name in
// exampleFile, one tab of indentation removed, is a ```go block of the
// README at readme.
func Example(t *testing.T, exampleFile, readme, name string) {
	t.Helper()
	src, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)\nfunc ` + regexp.QuoteMeta(name) + `\(\) \{\n(.*?)\n\}\n`)
	m := re.FindSubmatch(src)
	if m == nil {
		t.Fatalf("readmecheck: no func %s in %s", name, exampleFile)
	}
	lines := strings.Split(string(m[1]), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimPrefix(line, "\t")
	}
	block := "```go\n" + strings.Join(lines, "\n") + "\n```"
	if !strings.Contains(string(doc), block) {
		t.Errorf("readmecheck: %s does not show the body of %s in %s; paste it as:\n%s", readme, name, exampleFile, block)
	}
}
