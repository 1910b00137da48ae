//go:build !linux

package chat

import "time"

// threadCPU is not measured here: 0, and benchmarks leave their CPU
// metric out.
func threadCPU() time.Duration { return 0 }

// processCPU is not measured here either.
func processCPU() time.Duration { return 0 }
