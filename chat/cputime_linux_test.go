//go:build linux

package chat

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD (not in package syscall).
const rusageThread = 1

// threadCPU is the CPU time the calling OS thread has used so far (0 if
// the kernel will not say). With the goroutine locked to its thread it
// measures one benchmark's work apart from whatever else the machine
// runs, which wall time on a shared machine does not.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU is the CPU time the whole process has used so far (0 if
// the kernel will not say): for work spread over goroutines, such as a
// ledger write and its committer, measured apart from other processes.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
