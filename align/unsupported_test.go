package align_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUnsupportedSystem builds the module for windows and for openbsd:
// each build fails with one line that names the supported systems,
// not with the unix names that are undefined there.
func TestUnsupportedSystem(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	for _, goos := range []string{"windows", "openbsd"} {
		t.Run("GOOS="+goos, func(t *testing.T) {
			cmd := exec.Command(gocmd, "build", "./...")
			cmd.Dir = ".."
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("GOOS=%s go build ./... succeeded", goos)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 {
				t.Errorf("want one line, got %d:\n%s", len(lines), out)
			}
			if !strings.Contains(lines[0], "supported-systems-are-linux-darwin-and-freebsd") {
				t.Errorf("the message does not name the supported systems:\n%s", out)
			}
			if strings.Contains(string(out), "undefined:") {
				t.Errorf("the compiler got as far as the unix names:\n%s", out)
			}
		})
	}
}
