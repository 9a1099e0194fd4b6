package servers

import (
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/routes"
	"lx/shared/seccomp"
)

// Every server and the router confine themselves, after their set-up and
// before they serve, to an allow-list of the host syscalls they make
// (Sandbox). A call off the list traps: the Go runtime dies with "SIGSYS:
// bad system call" and the goroutine traceback of the call in the
// component's log, the kernel logs the number (audit type 1326, dmesg), and
// the broker restarts the component. Trapping is chosen over
// SECCOMP_RET_KILL_PROCESS for that traceback, and over an errno because a
// component that makes a call it never made before has a bug or has been
// subverted, and either must be seen, not absorbed.
//
// The lists were found by reading each component's host calls and running
// the whole test suite with LX_SANDBOX=log, which lets unlisted calls run and
// has the kernel log them (dmesg: audit: type=1326 … comm="lx-fssrv" …
// syscall=N); each component names its threads lx-NAME so that the log says
// whose call it was.

// RuntimeCalls is what the Go runtime and the os package call once a
// component is running (the start-up calls, made before the filter is
// installed, are not listed). It is for the calling process: tgkill is
// allowed to its own pid only.
func RuntimeCalls() []seccomp.Allowed {
	return join(
		// Heap, stacks and returning memory to the kernel.
		seccomp.Calls(unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MPROTECT),
		// New Ms (threads) only: a process clone without CLONE_THREAD,
		// and with it fork, exec and vfork, are never made, nor a thread
		// with namespace flags (Linux takes CLONE_NEWNET and others with
		// CLONE_THREAD). The binary
		// uses cgo, so threads come from glibc's pthread_create: clone3
		// fails ENOSYS (its flags are in memory, out of a filter's sight)
		// and glibc falls back to clone; a new thread registers its robust
		// futex list and its rseq area.
		[]seccomp.Allowed{
			{Nr: unix.SYS_CLONE, If: []routes.ArgRule{{Arg: 0, Op: routes.OpMaskAny, Val: unix.CLONE_THREAD, None: routes.NamespaceFlags}}},
			{Nr: unix.SYS_CLONE3, Errno: unix.ENOSYS},
		},
		seccomp.Calls(unix.SYS_SET_ROBUST_LIST, unix.SYS_RSEQ),
		// A new M's signal stack and mask; a thread's and the process's end.
		seccomp.Calls(unix.SYS_SIGALTSTACK, unix.SYS_RT_SIGPROCMASK, unix.SYS_GETTID, unix.SYS_EXIT, unix.SYS_EXIT_GROUP),
		// Signals: handler return, goroutine preemption (tgkill to an M of
		// this process only), signal.Notify and the crash path's reset of
		// a handler.
		[]seccomp.Allowed{{Nr: unix.SYS_TGKILL, If: []routes.ArgRule{{Arg: 0, Op: routes.OpEq, Val: uint64(os.Getpid())}}}},
		seccomp.Calls(unix.SYS_RT_SIGRETURN, unix.SYS_GETPID, unix.SYS_RT_SIGACTION),
		// A sleep the kernel restarts after a stop (SIGSTOP, a debugger
		// attaching) resumes with restart_syscall.
		seccomp.Calls(unix.SYS_RESTART_SYSCALL),
		// Scheduling: locks and notes, idle Ms, sleeps; the vDSO's
		// fallbacks for the clock.
		seccomp.Calls(unix.SYS_FUTEX, unix.SYS_SCHED_YIELD, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_GETTIME,
			unix.SYS_GETTIMEOFDAY, unix.SYS_SCHED_GETAFFINITY, unix.SYS_GETRANDOM),
		// GOMAXPROCS follows the cgroup's CPU limit, re-read with pread.
		seccomp.Calls(unix.SYS_PREAD64),
		// The netpoller, which os.File and timers use.
		seccomp.Calls(unix.SYS_EPOLL_CREATE1, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_WAIT,
			unix.SYS_EVENTFD2, unix.SYS_PIPE2),
		// os.File: the log is written to stderr; os.ReadFile, os.Open and
		// os.NewFile (which asks fcntl whether the fd is non-blocking).
		seccomp.Calls(unix.SYS_WRITE, unix.SYS_READ, unix.SYS_OPENAT, unix.SYS_CLOSE, unix.SYS_FSTAT,
			unix.SYS_NEWFSTATAT, unix.SYS_LSEEK, unix.SYS_FCNTL),
	)
}

// listenerIoctls are the requests a component makes on the seccomp
// listener: receive, answer, check an id, install an fd, set the
// synchronous wake-up. No other ioctl is made.
var listenerIoctls = []routes.ArgRule{
	{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_RECV},
	{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_SEND},
	{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_ID_VALID},
	{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_ADDFD},
	{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS},
}

// CommonCalls is what the router and every server make outside the Go
// runtime.
func CommonCalls() []seccomp.Allowed {
	return join(
		[]seccomp.Allowed{{Nr: unix.SYS_IOCTL, If: listenerIoctls}},
		// Rings: waking a sleeping peer and sleeping; spinning yields.
		seccomp.Calls(unix.SYS_FUTEX, unix.SYS_SCHED_YIELD),
		// Whether the listener has a notification or has lost its
		// instance (router; a server's wait on its ring and control).
		seccomp.Calls(unix.SYS_POLL, unix.SYS_PPOLL),
	)
}

// ServerCalls is what the server framework makes for every server, on top
// of RuntimeCalls and commonCalls: guest memory, the guest's /proc entries
// and names resolved under the instance root (resolve.go).
func ServerCalls() []seccomp.Allowed {
	return join(
		RuntimeCalls(), CommonCalls(),
		// Guest memory (mem_unsafe.go).
		seccomp.Calls(unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV),
		// /proc/PID/{status,cwd,root,fd/N} of a guest, and names under
		// the instance root with RESOLVE_IN_ROOT (resolve.go).
		seccomp.Calls(unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_READ, unix.SYS_READLINKAT,
			unix.SYS_CLOSE),
		// The listing of /proc/TID/fd that finds the fd an interrupted
		// InstallFD gave (Call.installed), after a restart.
		seccomp.Calls(unix.SYS_GETDENTS64),
	)
}

func join(lists ...[]seccomp.Allowed) []seccomp.Allowed {
	var all []seccomp.Allowed
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// Sandbox names the calling process's threads lx-NAME and confines it to
// list in mode (launch.Config.Sandbox): "" or "on" traps unlisted calls,
// "log" lets them run and has the kernel log them, "off" installs no
// filter. It returns the mode it installed.
func Sandbox(name, mode string, list []seccomp.Allowed, log *zap.Logger) (string, error) {
	nameThreads("lx-" + name)
	otherwise := uint32(seccomp.SandboxTrap)
	switch mode {
	case "", "on":
		mode = "on"
	case "log":
		otherwise = seccomp.SandboxLog
	case "off":
		log.Warn("no sandbox (LX_SANDBOX=off)")
		return mode, nil
	default:
		return "", fmt.Errorf("sandbox mode %q: want on, log or off", mode)
	}
	prog, err := seccomp.BuildSandbox(list, otherwise)
	if err != nil {
		return "", fmt.Errorf("sandbox of %s: %w", name, err)
	}
	if err := seccomp.InstallSandbox(prog); err != nil {
		return "", fmt.Errorf("sandbox of %s: %w", name, err)
	}
	log.Info("sandboxed", zap.String("mode", mode), zap.Int("calls", len(list)), zap.Int("instructions", len(prog)))
	return mode, nil
}

// nameThreads sets the comm of every thread of the process; threads made
// later inherit it from their creator. Best effort: the name only helps
// ps, top and the kernel's seccomp log.
func nameThreads(comm string) {
	tasks, _ := filepath.Glob("/proc/self/task/*/comm")
	for _, t := range tasks {
		os.WriteFile(t, []byte(comm), 0)
	}
}
