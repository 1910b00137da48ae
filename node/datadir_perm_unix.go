//go:build unix

package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
)

// getuid is os.Getuid; a test replaces it to play a file owned by
// someone else.
var getuid = os.Getuid

// makePrivate makes path readable by this user only: it clears the group
// and other bits of a looser mode (0755 → 0700, 0644 → 0600) and logs a
// warning naming the old mode. A path owned by another user is refused
// (ErrNotPrivate) rather than changed: its owner could read it or loosen
// it again whatever we do. A missing path is fine.
func makePrivate(path string, log *slog.Logger) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check permissions of %s: %w", path, err)
	}
	mode := fi.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != getuid() {
		return fmt.Errorf("%w: %s is mode %04o and belongs to uid %d, not to this user (uid %d): make it this user's, mode 0%o",
			ErrNotPrivate, path, mode, st.Uid, getuid(), privateMode(fi))
	}
	tight := mode &^ 0o077
	if err := os.Chmod(path, tight); err != nil {
		return fmt.Errorf("%w: %s is mode %04o and cannot be tightened: %v", ErrNotPrivate, path, mode, err)
	}
	log.Warn("data directory entry was readable by other users: tightened", "path", path,
		"mode", fmt.Sprintf("%04o", mode), "now", fmt.Sprintf("%04o", tight))
	return nil
}

func privateMode(fi os.FileInfo) os.FileMode {
	if fi.IsDir() {
		return 0o700
	}
	return 0o600
}
