//go:build windows

package node

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRange is the byte range LockFileEx locks: one byte at 1 GiB, far
// past the end of the file (SQLite's lock bytes sit there too, a place
// every Windows file system accepts). Windows locks are mandatory, so
// locking the pid at offset 0 would keep a second process from reading
// whose lock it is.
var lockRange = windows.Overlapped{Offset: 1 << 30}

// lockFile takes an exclusive LockFileEx lock on f without waiting. Like
// flock, it belongs to the handle and is dropped when the process dies.
func lockFile(f *os.File) error {
	ol := lockRange
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return errLockHeld
	}
	return err
}

func unlockFile(f *os.File) error {
	ol := lockRange
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
