package netsrv

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/servers"
)

// onGuestSocket runs f on the guest's fd at argument i, taken with
// pidfd_getfd: the same open socket, so what f does to it (a bind) is done
// to the guest's socket, with netsrv's rights and its own copy of the
// arguments.
func onGuestSocket(c *servers.Call, i int, f func(fd int) error) error {
	pidfd, err := unix.PidfdOpen(c.Tid(), unix.PIDFD_THREAD)
	if err != nil {
		return fmt.Errorf("pidfd of %d: %w", c.Tid(), unix.EINTR)
	}
	defer unix.Close(pidfd)
	if err := c.Valid(); err != nil { // the pidfd is the caller's
		return err
	}
	if c.Fd(i) < 0 {
		return unix.EBADF
	}
	fd, err := unix.PidfdGetfd(pidfd, int(c.Fd(i)), 0)
	if err != nil {
		if err == unix.EBADF {
			return err
		}
		return fmt.Errorf("pidfd_getfd %d of %d: %w", c.Fd(i), c.Tid(), err)
	}
	defer unix.Close(fd)
	return f(fd)
}

// mayBindLow reports whether the calling guest thread has
// CAP_NET_BIND_SERVICE in its effective set (in the instance's user
// namespace: guest root has it, other guest users not).
func mayBindLow(c *servers.Call) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Tid()) + "/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_NET_BIND_SERVICE) != 0
		}
	}
	return false
}
