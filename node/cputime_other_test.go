//go:build !unix

package node_test

import "time"

// processCPU is not measured here (no getrusage): 0, and the benchmark
// leaves its CPU metric out.
func processCPU() time.Duration { return 0 }
