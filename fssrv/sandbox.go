package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/shared/seccomp"
)

// Sandbox is the host syscalls fssrv makes on top of servers.ServerCalls.
// Path calls are answered CONTINUE and run in the guest, so fssrv itself
// only touches the recorded owners and device nodes (own.go, stat.go). It
// never mounts, execs or forks: a guest's mount is continued, and the kernel
// makes it in the guest's context (mount.go).
func Sandbox() []seccomp.Allowed {
	// stat and statx of the file a guest named, through its fd; then
	// recorded owners and devices: the xattrs, the mode of a device
	// node's placeholder, and removing a placeholder that failed.
	return seccomp.Calls(unix.SYS_FSTAT, unix.SYS_STATX, unix.SYS_NEWFSTATAT,
		unix.SYS_GETXATTR, unix.SYS_LGETXATTR, unix.SYS_FGETXATTR, unix.SYS_SETXATTR,
		unix.SYS_FSETXATTR, unix.SYS_REMOVEXATTR, unix.SYS_FCHMODAT, unix.SYS_UNLINKAT)
}
