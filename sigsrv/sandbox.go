package sigsrv

import (
	"golang.org/x/sys/unix"

	"lx/shared/seccomp"
)

// Sandbox is the host syscalls sigsrv makes on top of servers.ServerCalls.
// The signals themselves are sent by the guest (CONTINUE): sigsrv never
// signals, forks or execs.
func Sandbox() []seccomp.Allowed {
	// Whether a pid exists in the instance: a stat of /proc/PID under the
	// instance root.
	return seccomp.Calls(unix.SYS_NEWFSTATAT)
}
