//go:build !linux

package e2ee

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
