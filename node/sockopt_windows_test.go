//go:build windows

package node_test

import "syscall"

// setRcvBuf fixes SO_RCVBUF of socket handle fd.
func setRcvBuf(fd uintptr, size int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
}
