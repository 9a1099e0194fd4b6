package procsrv

import (
	"golang.org/x/sys/unix"

	"lx/shared/seccomp"
)

// Sandbox is the host syscalls procsrv makes on top of servers.ServerCalls.
// fork, clone, exec and exit are answered CONTINUE and made by the guest:
// procsrv itself never forks or execs.
func Sandbox() []seccomp.Allowed {
	// The process table is read from the instance's /proc (table.go);
	// exec: may the guest execute the file, and its #! line (exec.go).
	return seccomp.Calls(unix.SYS_GETDENTS64, unix.SYS_FSTAT, unix.SYS_FACCESSAT2, unix.SYS_FACCESSAT)
}
