//go:build unix

package bench

import (
	"os"
	"syscall"
	"time"
)

// ProcessCPU is the user + system CPU time the process has used so far
// (0 if the kernel will not say).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// terminate asks a daemon to shut down cleanly.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
