//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd || windows)

package node

import "os"

// lockFile does not lock: this OS (Plan 9, Solaris, AIX, js, wasip1…) has
// no flock(2) in the syscall package, and Parley is not run there; two
// daemons on one data dir would go unnoticed.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
