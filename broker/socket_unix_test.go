//go:build unix

package broker_test

import "syscall"

// smallReceiveBuffer sets a 16 KiB receive buffer on a socket before it
// connects, which also turns off the kernel's growing it.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
	}); cerr != nil {
		return cerr
	}
	return err
}
