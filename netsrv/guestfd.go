package netsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// onGuestSocket runs f on the guest's fd at argument i (Call.GuestFd): the
// same open socket, so what f does to it (a bind) is done to the guest's
// socket, with netsrv's rights and its own copy of the arguments.
func onGuestSocket(c *servers.Call, i int, f func(fd int) error) error {
	fd, err := c.GuestFd(i)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return f(fd)
}

// mayBindLow reports whether the calling guest thread has
// CAP_NET_BIND_SERVICE in its effective set (in the instance's user
// namespace: guest root has it, other guest users not).
func mayBindLow(c *servers.Call) bool { return c.HasCap(unix.CAP_NET_BIND_SERVICE) }
