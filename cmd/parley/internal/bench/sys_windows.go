//go:build windows

package bench

import (
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// ProcessCPU is the user + system CPU time the process has used so far
// (0 if Windows will not say).
func ProcessCPU() time.Duration {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &created, &exited, &kernel, &user); err != nil {
		return 0
	}
	// A Filetime here is a duration in 100 ns units, not a date.
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100)
}

// terminate kills the daemon: Windows cannot send it SIGTERM (os.Process
// Signal supports only Kill there), and the OS drops its data dir lock.
func terminate(p *os.Process) error { return p.Kill() }
