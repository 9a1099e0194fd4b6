package sigsrv

import (
	"golang.org/x/sys/unix"

	"lx/shared/seccomp"
)

// Sandbox is the host syscalls sigsrv makes on top of servers.ServerCalls.
// Most signals are sent by the guest (CONTINUE); sigsrv never forks or
// execs.
func Sandbox() []seccomp.Allowed {
	return seccomp.Calls(
		// Whether a pid exists in the instance: a stat of /proc/PID under
		// the instance root.
		unix.SYS_NEWFSTATAT,
		// A guest's kill(-1) is sent by sigsrv to every process of the
		// instance but the holder (holder.go), through pidfds of the
		// instance's /proc; a pidfd_send_signal's fd is taken from the
		// guest to see whom it names.
		unix.SYS_GETDENTS64, unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_GETFD, unix.SYS_PIDFD_SEND_SIGNAL)
}
