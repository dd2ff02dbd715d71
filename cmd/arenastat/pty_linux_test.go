package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the program writes to the
// terminal side, the test reads from the controller.
func openPTY(t *testing.T) (ctl, term *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { ctl.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0)) // unlockpt
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)                       // ptsname
	require.NoError(t, err)
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	return ctl, term
}

// onTerminal runs arenastat with standard output or error (which) on a
// pseudo-terminal, and returns what the terminal received and what went
// to the other stream.
func onTerminal(t *testing.T, which string, args ...string) (tty, other string) {
	t.Helper()
	ctl, term := openPTY(t)
	cmd := exec.Command(builtArenastat(t), args...)
	var buf bytes.Buffer
	if which == "stdout" {
		cmd.Stdout, cmd.Stderr = term, &buf
	} else {
		cmd.Stdout, cmd.Stderr = &buf, term
	}
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ctl) // ends with EIO once the terminal side is closed
		read <- string(b)
	}()
	err := cmd.Run()
	term.Close()
	require.NoError(t, err, buf.String())
	return <-read, buf.String()
}

// TestTerminal checks what arenastat does only on a terminal: bench's
// progress line rewrites itself on standard error, and watch redraws in
// place; piped, neither happens (TestBenchFmt, TestWatchChild).
func TestTerminal(t *testing.T) {
	tty, out := onTerminal(t, "stderr", "bench", "-n", "2000", "-count", "2", "-w", "W1")
	assert.Contains(t, tty, "\r\x1b[Karenastat: W1 on goheap, n=2,000, run 1 of 2")
	assert.Contains(t, tty, "\r\x1b[Karenastat: W1 on bump, n=2,000, run 2 of 2")
	assert.True(t, strings.HasSuffix(tty, "\r\x1b[K"), "the line is erased at the end: %q", tty)
	assert.NotContains(t, tty, "\n", "one line, rewritten")
	assert.Regexp(t, `(?m)^ +W1 +bump +2,000 +2 +`, out)

	url, _ := liveService(t, "on-a-terminal")
	tty, _ = onTerminal(t, "stdout", "watch", "-count", "2", "-interval", "10ms", url)
	assert.Equal(t, 2, strings.Count(tty, "\x1b[H\x1b[2J"), "each draw homes and clears the screen")
	assert.Contains(t, tty, "on-a-terminal")
}
