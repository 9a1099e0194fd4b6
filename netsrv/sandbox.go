package netsrv

import (
	"golang.org/x/sys/unix"

	"lx/shared/seccomp"
)

// Sandbox is the host syscalls netsrv makes on top of servers.ServerCalls.
// It never forks or execs.
func Sandbox() []seccomp.Allowed {
	var list []seccomp.Allowed
	for _, group := range [][]seccomp.Allowed{
		// Host sockets made for a guest, with its ids, and bound for it
		// (socket.go).
		seccomp.Calls(unix.SYS_SOCKET, unix.SYS_BIND, unix.SYS_SETFSUID, unix.SYS_SETFSGID),
		// A guest's socket fd, taken to check or bind it (guestfd.go).
		seccomp.Calls(unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_GETFD, unix.SYS_GETSOCKOPT, unix.SYS_GETSOCKNAME),
		// The policy file's change time, read before each check (policy/).
		seccomp.Calls(unix.SYS_NEWFSTATAT, unix.SYS_FSTAT),
	} {
		list = append(list, group...)
	}
	return list
}
