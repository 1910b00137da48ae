package e2ee

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time (user + system) of the calling OS
// thread. The benchmarks lock their goroutine to its thread and report
// this per op beside the wall time: on a shared, loaded machine wall time
// counts the time other processes hold the cores, CPU time does not.
func threadCPU() (time.Duration, bool) {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
