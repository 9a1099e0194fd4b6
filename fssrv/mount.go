package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// MountDenied answers the mount family EPERM, as Linux answers a process
// without CAP_SYS_ADMIN over the mount namespace. The instance's mount
// table (the distro root, /proc, /dev, /dev/pts, /dev/shm, /tmp, /run, /sys
// and the host directories a run mounts with --mount) is made by its
// keeper. The guests' user namespace owns that mount namespace, so the
// kernel would let guest root unmount or remount what the keeper made,
// and under the default distro that would uncover the host tree: guest
// mounts wait until the keeper's mounts are locked (a nested user
// namespace for the guests).
func MountDenied(c *servers.Call) (int64, error) {
	if c.Nr == unix.SYS_MOUNT {
		tracePaths(c, 0, 1, 2)
	}
	return 0, unix.EPERM
}
