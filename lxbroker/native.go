package lxbroker

// Calls an instance runs natively although their route is a server's
// (routes.Profile): the path calls the kernel resolves, forks where the
// kernel bounds the instance's tasks (forksBound), and execs where the
// instance's binfmt_misc refuses 32-bit programs (binfmt.go).
//
// fssrv answers most path calls CONTINUE without a look: the kernel
// resolves the name in the guest's mount namespace, whose root is the
// distro, with the guest's credentials. For those calls the listener's
// round trip buys nothing but a trace line, so an instance's filter lets
// them run natively: a stat costs what it costs on the host instead of a
// trip to the router and back. Calls fssrv serves itself (recorded owners
// and devices, mounts) stay trapped.
//
// An instance started with `lx run --trap-paths` traps them all, as DESIGN
// §4 has it, so that `lx trace fssrv` shows every path call; it is slower.
// The profile is chosen when the instance starts (the filter is installed
// once, by init) and holds until it stops: the broker sends init the
// profile it wants (OpProfile), init answers with the one it installed
// (native execs need a binfmt_misc of the instance's own, Linux 6.7).

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/abi"
	"lx/shared/routes"
	"lx/shared/wire"
)

// wantedProfile is the profile the broker asks init for.
func (in *Instance) wantedProfile() routes.Profile {
	return proto.WantedProfile(in.root, in.trapPaths)
}

// forksBound is what bounds the instance's tasks in the kernel, so that
// its forks can run natively (routes.Profile.NativeForks) and procsrv need
// not count them:
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
//     RLIMIT_NPROC does not bind (shared/idmap/subids.go).
//
// procsrv counts forks itself only in an instance whose route table traps
// them anyway (none now: the kernel bounds every instance).
func (in *Instance) forksBound() string {
	if in.cgroup != "" {
		return "cgroup"
	}
	return "nproc:" + strconv.Itoa(in.nprocBound())
}

// nprocBound is the RLIMIT_NPROC init sets for the guests' user namespace:
// 0 where a pids cgroup bounds the instance.
func (in *Instance) nprocBound() int {
	if in.cgroup != "" {
		return 0
	}
	return TasksPerProc * in.b.knobs.maxProcs
}

// recorded reports whether the instance's fssrv records owners and devices
// in xattrs: only for an unprivileged user's distro.
func (in *Instance) recorded() bool { return proto.RecordedFor(in.root) }

// pathsMode names how the instance runs path calls, for lx status.
func (in *Instance) pathsMode() string {
	if in.profile.TrapPaths {
		return "trapped"
	}
	return "native"
}

// joinPaths refuses a run that wants every path call trapped in an instance
// that runs them natively.
func (in *Instance) joinPaths(trapPaths bool) error {
	if trapPaths && !in.trapPaths {
		return fmt.Errorf("instance %s runs path calls natively; stop it first (lx terminate %s) to run with --trap-paths", in.name, in.name)
	}
	return nil
}

// traceNotice is what a tracer of servers should know: fssrv does not see
// the path calls this instance runs natively, nor procsrv its forks.
func (in *Instance) traceNotice(servers []string, calls map[int32]bool) string {
	p := in.profile
	var notes []string
	if len(calls) > 0 {
		// Only the calls asked for: each that no traced server sees, once.
		table := map[int]routes.Route{}
		for _, r := range p.Routes() {
			table[r.Nr] = r
		}
		var nrs []int
		for nr := range calls {
			nrs = append(nrs, int(nr))
		}
		slices.Sort(nrs)
		for _, nr := range nrs {
			r := table[nr]
			server := r.Kind.Server()
			switch {
			case server != "" && slices.Contains(servers, server):
				if r.NativeIf != nil {
					notes = append(notes, fmt.Sprintf("%s runs natively in instance %s when %s: %s sees the others", r.Name, in.name, r.NativeIf, server))
				}
			case server != "":
				notes = append(notes, fmt.Sprintf("%s goes to %s, which this trace leaves out", r.Name, server))
			case lookupServer(nr) != "":
				notes = append(notes, fmt.Sprintf("%s runs natively in instance %s (%s): no server sees it; lx trace --trap-paths starts an instance that traps it (lx terminate %s first)", r.Name, in.name, r.Note, in.name))
			default:
				notes = append(notes, fmt.Sprintf("%s runs natively in every instance (%s): lx does not trap it", r.Name, r.Kind))
			}
		}
		return strings.Join(notes, "\nlx: ")
	}
	if !p.TrapPaths && slices.Contains(servers, "fssrv") {
		calls := "open, access, mkdir, rename…"
		if !p.Recorded {
			calls = "open, stat, access, mkdir, rename…"
		}
		notes = append(notes, fmt.Sprintf("instance %s runs the path calls the kernel resolves natively (%s): fssrv does not see them; lx trace --trap-paths starts an instance that traps them (lx terminate %s first)",
			in.name, calls, in.name))
	}
	if slices.Contains(servers, "procsrv") {
		var calls []string
		if p.NativeForks {
			calls = append(calls, "fork, vfork and clone without namespace flags (the kernel bounds its tasks)")
		}
		execs := p.NativeExecs && !p.TrapPaths
		if execs {
			calls = append(calls, "execve and execveat (its binfmt_misc refuses 32-bit programs)")
		}
		if len(calls) > 0 {
			note := fmt.Sprintf("instance %s runs %s natively: procsrv does not see them", in.name, strings.Join(calls, ", and "))
			if execs {
				note += fmt.Sprintf("; lx trace --trap-paths starts an instance that traps execs (lx terminate %s first)", in.name)
			}
			notes = append(notes, note)
		}
	}
	return strings.Join(notes, "\nlx: ")
}

// lookupServer is the server the base route table sends syscall nr to, ""
// for a call no instance traps.
func lookupServer(nr int) string { return routes.Lookup(nr).Kind.Server() }

// traceCalls resolves lx trace -e's syscall names to numbers; an unknown
// name is an error.
func traceCalls(names []string) (map[int32]bool, error) {
	if len(names) == 0 {
		return nil, nil
	}
	calls := map[int32]bool{}
	for _, n := range names {
		nr, ok := abi.SyscallNumber(n)
		if !ok {
			return nil, fmt.Errorf("trace: no x86-64 system call is named %q", n)
		}
		calls[int32(nr)] = true
	}
	return calls, nil
}

// traced reports whether ev passes lx trace's filters (none: all).
func traced(ev *wire.Trace, calls map[int32]bool, pids map[int32]bool) bool {
	if len(calls) > 0 && !calls[ev.Nr] {
		return false
	}
	pid := ev.GuestPid
	if pid == 0 {
		pid = ev.Pid
	}
	return len(pids) == 0 || pids[pid]
}

// traceEvent is ev of server as a line of lx trace's stream (JSON).
func traceEvent(server string, ev *wire.Trace) string {
	te := proto.TraceEvent{Server: server, Pid: int(ev.GuestPid), Tid: int(ev.Pid), Call: abi.SyscallName(int(ev.Nr)),
		Text: ev.Text, Result: ev.Result(), Continue: ev.Continue, NS: ev.NS}
	if te.Pid == 0 {
		te.Pid = te.Tid
	}
	if ev.Errno != 0 {
		te.Errno = unix.ErrnoName(unix.Errno(ev.Errno))
	}
	b, _ := json.Marshal(te)
	return string(b)
}
