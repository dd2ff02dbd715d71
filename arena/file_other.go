//go:build !linux

package arena

// renameNoReplace gives the file at old the name new, failing with an
// error matching os.ErrExist if new exists: a hard link and an unlink.
func renameNoReplace(old, new string) error { return linkReplace(old, new) }
