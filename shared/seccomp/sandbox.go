package seccomp

import (
	"fmt"
	"runtime"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

// An Allowed is one host syscall a sandboxed component (a server, the
// router) may make: always, or, when If is set, only when one of its
// argument rules matches. With Errno set the call is not made but fails
// with it (clone3 gets ENOSYS, so that glibc falls back to clone, whose
// flags a filter can see).
type Allowed struct {
	Nr    int
	If    []routes.ArgRule
	Errno unix.Errno
}

// Calls returns an unconditional Allowed for each of nrs.
func Calls(nrs ...int) []Allowed {
	a := make([]Allowed, len(nrs))
	for i, nr := range nrs {
		a[i] = Allowed{Nr: nr}
	}
	return a
}

// What a sandbox does with a call its list lacks, a call from another
// architecture and an x32 number.
const (
	// SandboxTrap: the kernel sends SIGSYS, which the Go runtime does not
	// handle: the component dies with "SIGSYS: bad system call" and the
	// goroutine traceback of the call in its log (and the kernel logs the
	// number, audit type 1326), and the broker restarts it.
	SandboxTrap = unix.SECCOMP_RET_TRAP
	// SandboxLog: the call runs and the kernel logs it (audit type 1326,
	// dmesg), to find what a list misses.
	SandboxLog = unix.SECCOMP_RET_LOG
)

// BuildSandbox compiles list into a filter that allows the listed calls
// and answers every other one with otherwise. A number listed twice is
// allowed when any of its entries allows it.
func BuildSandbox(list []Allowed, otherwise uint32) ([]bpf.RawInstruction, error) {
	byNr := make(map[int]leaf, len(list))
	for _, a := range list {
		if a.Errno != 0 {
			if _, seen := byNr[a.Nr]; seen || len(a.If) > 0 || a.Errno > unix.SECCOMP_RET_DATA {
				return nil, fmt.Errorf("syscall %d: errno %d with other entries or rules", a.Nr, uintptr(a.Errno))
			}
			if err := checkNr(a.Nr, byNr); err != nil {
				return nil, err
			}
			byNr[a.Nr] = leaf{ret: unix.SECCOMP_RET_ERRNO | uint32(a.Errno)}
			continue
		}
		l, seen := byNr[a.Nr]
		if seen && l.ret&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
			return nil, fmt.Errorf("syscall %d: allowed and failed with an errno", a.Nr)
		}
		if !seen {
			if err := checkNr(a.Nr, byNr); err != nil {
				return nil, err
			}
			l = leaf{ret: otherwise}
		} else if len(l.rules) == 0 {
			continue // allowed already, unconditionally
		}
		if len(a.If) == 0 {
			byNr[a.Nr] = leaf{ret: retAllow}
			continue
		}
		for _, rule := range a.If {
			if err := checkRule(rule); err != nil {
				return nil, fmt.Errorf("syscall %d: %w", a.Nr, err)
			}
		}
		l.rules = append(append([]routes.ArgRule(nil), l.rules...), a.If...)
		if len(l.rules) > maxRules {
			return nil, fmt.Errorf("syscall %d: %d argument rules, at most %d", a.Nr, len(l.rules), maxRules)
		}
		byNr[a.Nr] = l
	}
	return assemble(byNr, leaf{ret: otherwise}, otherwise)
}

// InstallSandbox sets no_new_privs (so that an unprivileged process may
// install a filter) and installs prog on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC, which spreads no_new_privs too). The filter
// cannot be removed.
func InstallSandbox(prog []bpf.RawInstruction) error {
	runtime.LockOSThread() // no_new_privs is per thread
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", err)
	}
	r, err := load(prog, unix.SECCOMP_FILTER_FLAG_TSYNC)
	if err != nil {
		return err
	}
	if r != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d could not be synchronized", r)
	}
	return nil
}
