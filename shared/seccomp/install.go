package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// installFlags: a listener fd for SECCOMP_RET_USER_NOTIF, on every thread of
// the process. The kernel refuses TSYNC with NEW_LISTENER unless TSYNC_ESRCH
// is set too (Linux 5.7+): without it a failed sync would return a thread id
// that could not be told apart from a listener fd.
//
// WAIT_KILLABLE_RECV (Linux 5.19): once the router has received a call,
// only a fatal signal ends the guest's wait for the answer. Without it a
// handled signal arriving while a server works withdraws the call, which
// then fails with EINTR, or under SA_RESTART is made again after the
// server may have acted on it (netsrv installs a socket twice, and the
// first one leaks). Servers answer without blocking, so the signal waits
// microseconds, as it would for a kernel call. A signal that arrives
// before the router has the call still interrupts it: harmless under
// SA_RESTART (nothing was done), EINTR without.
const installFlags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER |
	unix.SECCOMP_FILTER_FLAG_TSYNC |
	unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH |
	unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

// Install installs prog on the calling thread's process with installFlags
// and returns the listener fd (close-on-exec). The caller has CAP_SYS_ADMIN in its user
// namespace or has set no_new_privs on the calling thread (TSYNC then sets it
// on the others). The filter cannot be removed; children inherit it.
func Install(prog []bpf.RawInstruction) (listener int, err error) {
	fd, err := load(prog, installFlags)
	if err != nil {
		return -1, err
	}
	return int(fd), nil
}

// load installs prog with seccomp(SECCOMP_SET_MODE_FILTER, flags) and
// returns what the call returned: a listener fd for NEW_LISTENER, else 0.
// It is the one place lx installs a filter: the instance's (Install) and a
// component's sandbox (InstallSandbox).
func load(prog []bpf.RawInstruction, flags uintptr) (uintptr, error) {
	if len(prog) == 0 || len(prog) > maxInsns {
		return 0, fmt.Errorf("seccomp program has %d instructions, want 1..%d", len(prog), maxInsns)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return 0, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, %#x): %w", flags, errno)
	}
	return r, nil
}

// ListenerGone reports whether the listener hung up: every task that used
// the instance's filter has exited, so no call can come any more.
func ListenerGone(listener int) bool {
	pfd := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	k, _ := unix.Poll(pfd, 0)
	return k > 0 && pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
}
