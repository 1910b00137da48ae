//go:build !linux

package bench

import "syscall"

// Off Linux the bench still runs and times everything, but has no /proc
// and no TCP_INFO: RSS and wire bytes read 0 and the table shows n/a, and
// a bench killed outright can leave its daemons running.

const linuxStats = false

func daemonAttr() *syscall.SysProcAttr { return nil }

func procStatus(pid, name string) uint64 { return 0 }

func tcpSockets() []tcpSock { return nil }
