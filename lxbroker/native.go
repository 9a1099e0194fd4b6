package lxbroker

// Calls an instance runs natively although their route is a server's: the
// path calls the kernel resolves, forks where the kernel bounds the
// instance's tasks (forksBound), and execs where the instance's binfmt_misc
// refuses 32-bit programs (binfmt.go).
//
// fssrv answers most path calls CONTINUE without a look (fssrv.PassThrough):
// the kernel resolves the name in the guest's mount namespace, whose root is
// the distro, with the guest's credentials. For those calls the listener's
// round trip buys nothing but a trace line, so an instance's filter lets
// them run natively (routes.Natively): a stat costs what it costs on the
// host instead of a trip to the router and back. Calls fssrv serves itself
// (recorded owners and devices, mounts) stay trapped.
//
// An instance started with `lx run --trap-paths` traps them all, as DESIGN
// §4 has it, so that `lx trace fssrv` shows every path call; it is slower.
// The choice is made when the instance starts (the filter is installed once,
// by init) and holds until it stops.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/fssrv"
	"lx/shared/routes"
)

// nativeEnv and forksEnv tell init, through the keeper, which calls its
// filter lets run natively: the path calls with these numbers, and forks
// when forksEnv names what bounds the instance's tasks in the kernel
// (forksBound).
const (
	nativeEnv = "LX_NATIVE_CALLS"
	forksEnv  = "LX_NATIVE_FORKS"
)

// initEnv is the environment that tells init what runs natively.
func (in *Instance) initEnv() []string {
	execs := "1"
	if in.trapPaths {
		execs = ""
	}
	return []string{nativeEnv + "=" + formatNrs(in.nativeCalls()), forksEnv + "=" + in.forksBound(), execsEnv + "=" + execs}
}

// forksBound is what bounds the instance's tasks in the kernel, so that
// its forks can run natively (routes.NativeForks) and procsrv need not
// count them:
//   - "cgroup": its pids cgroup (cgroup.go), where the broker could make
//     one;
//   - "nproc:N", else: RLIMIT_NPROC. The kernel checks a fork against the
//     task count of each user namespace up the chain, each against the
//     RLIMIT_NPROC its creator had when it made it (the ucounts of Linux
//     5.15 and later); init sets its own to N before it makes the guests'
//     user namespace, so the guests, whatever limits they set themselves,
//     never have more than N tasks (threads count), and the next fork or
//     thread fails with EAGAIN. Guest root has no capability in the host's
//     namespace that would lift it, and is not host root, whom
//     RLIMIT_NPROC does not bind (ids.go).
//
// procsrv counts forks itself only in an instance whose route table traps
// them anyway (none now: the kernel bounds every instance).
func (in *Instance) forksBound() string {
	if in.cgroup != "" {
		return "cgroup"
	}
	return "nproc:" + strconv.Itoa(TasksPerProc*maxProcs())
}

// nprocBound is the N of forksEnv "nproc:N" in the environment getenv
// reads, or 0.
func nprocBound(getenv func(string) string) int {
	v, ok := strings.CutPrefix(getenv(forksEnv), "nproc:")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n <= 0 {
		return 0
	}
	return n
}

// boundTasks sets the process's RLIMIT_NPROC to n (or its hard limit, if
// that is lower), before init makes the guests' user namespace.
func boundTasks(n int) error {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &r); err != nil {
		return err
	}
	v := min(uint64(n), r.Max)
	return unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: v, Max: v})
}

// nativeEnvOf passes on what getenv has of nativeEnv, forksEnv and
// execsEnv.
func nativeEnvOf(getenv func(string) string) []string {
	var env []string
	for _, k := range []string{nativeEnv, forksEnv, execsEnv} {
		env = append(env, k+"="+getenv(k))
	}
	return env
}

// recorded reports whether the instance's fssrv records owners and devices
// in xattrs: only for an unprivileged user's distro.
func (in *Instance) recorded() bool { return in.root != "" && os.Geteuid() != 0 }

// nativeCalls are the path calls the instance's filter lets run natively.
func (in *Instance) nativeCalls() []int {
	if in.trapPaths {
		return nil
	}
	nrs := fssrv.PassThrough(in.recorded())
	slices.Sort(nrs)
	return nrs
}

// pathsMode names how the instance runs path calls, for lx status.
func (in *Instance) pathsMode() string {
	if in.trapPaths {
		return "trapped"
	}
	return "native"
}

func formatNrs(nrs []int) string {
	s := make([]string, len(nrs))
	for i, nr := range nrs {
		s[i] = strconv.Itoa(nr)
	}
	return strings.Join(s, ",")
}

// nativeRoutes is the route table an instance's filter is made from: the
// path calls listed in nativeEnv and, with forksEnv, forks run natively.
func nativeRoutes(getenv func(string) string) ([]routes.Route, error) {
	var nrs []int
	for _, f := range strings.Split(getenv(nativeEnv), ",") {
		if f == "" {
			continue
		}
		nr, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a syscall number", nativeEnv, f)
		}
		nrs = append(nrs, nr)
	}
	rs, err := routes.Natively(routes.All(), nrs)
	if err == nil && getenv(forksEnv) != "" {
		rs = routes.NativeForks(rs)
	}
	return rs, err
}

// joinPaths refuses a run that wants every path call trapped in an instance
// that runs them natively.
func (in *Instance) joinPaths(m *Msg) error {
	if m.TrapPaths && !in.trapPaths {
		return fmt.Errorf("instance %s runs path calls natively; stop it first (lx terminate %s) to run with --trap-paths", in.name, in.name)
	}
	return nil
}

// traceNotice is what a tracer of servers should know: fssrv does not see
// the path calls this instance runs natively, nor procsrv its forks.
func (in *Instance) traceNotice(servers []string) string {
	var notes []string
	if !in.trapPaths && slices.Contains(servers, "fssrv") {
		calls := "open, access, mkdir, rename…"
		if !in.recorded() {
			calls = "open, stat, access, mkdir, rename…"
		}
		notes = append(notes, fmt.Sprintf("instance %s runs the path calls the kernel resolves natively (%s): fssrv does not see them; lx trace --trap-paths starts an instance that traps them (lx terminate %s first)",
			in.name, calls, in.name))
	}
	if slices.Contains(servers, "procsrv") {
		var calls []string
		if in.forksBound() != "" {
			calls = append(calls, "fork, vfork and clone without namespace flags (the kernel bounds its tasks)")
		}
		if in.execs == "native" {
			calls = append(calls, "execve and execveat (its binfmt_misc refuses 32-bit programs)")
		}
		if len(calls) > 0 {
			note := fmt.Sprintf("instance %s runs %s natively: procsrv does not see them", in.name, strings.Join(calls, ", and "))
			if in.execs == "native" {
				note += fmt.Sprintf("; lx trace --trap-paths starts an instance that traps execs (lx terminate %s first)", in.name)
			}
			notes = append(notes, note)
		}
	}
	return strings.Join(notes, "\nlx: ")
}
