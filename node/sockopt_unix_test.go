//go:build unix

package node_test

import "syscall"

// setRcvBuf fixes SO_RCVBUF of socket fd (a file descriptor here, a
// handle on Windows).
func setRcvBuf(fd uintptr, size int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
}
