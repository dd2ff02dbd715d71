package arena

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace gives the file at old the name new, failing with an
// error matching os.ErrExist if new exists (renameat2 RENAME_NOREPLACE):
// the file keeps its open descriptions, and /proc/PID/maps names a
// mapping of it by its new name. Where the filesystem lacks the flag it
// falls back to a hard link and an unlink.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return linkReplace(old, new)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}
