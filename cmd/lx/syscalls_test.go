package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/routes"
	"lx/shared/seccomp/bpfvm"
)

// TestSyscallsMatchTheFilter: `lx syscalls -d NAME` prints what the
// instance of NAME really runs. For a default instance, a --trap-paths
// one and an unprivileged user's (recorded owners), the filter its init
// installed is dumped (PTRACE_SECCOMP_GET_FILTER) and run in a BPF VM
// against every line of the printed table.
func TestSyscallsMatchTheFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: dumping an instance's filter needs CAP_SYS_ADMIN (run as root)")
	}
	need(t, "setpriv")
	self := actors(t)
	cases := []struct {
		what   string
		a      actor
		distro string
		args   []string
		want   routes.Profile
	}{
		{"default", self[0], "default", nil, routes.Profile{NativeForks: true, NativeExecs: true}},
		{"trap-paths", self[0], "tp", []string{"--trap-paths"}, routes.Profile{TrapPaths: true, NativeForks: true}},
	}
	if len(self) > 1 {
		cases = append(cases, struct {
			what   string
			a      actor
			distro string
			args   []string
			want   routes.Profile
		}{"nobody's distro", self[1], "rec", nil, routes.Profile{Recorded: true, NativeForks: true, NativeExecs: true}})
	}
	for _, tc := range cases {
		if tc.distro != "default" {
			tc.a.importBB(t, tc.distro)
		}
		// A client holds the instance while it is looked at.
		args := append(append([]string{"run", "-d", tc.distro}, tc.args...), "--", "sleep", "60")
		argv := append([]string{lxBin}, args...)
		if tc.a.uid != os.Geteuid() {
			argv = append(append([]string{"setpriv", "--reuid=" + strconv.Itoa(tc.a.uid), "--regid=" + strconv.Itoa(tc.a.uid), "--clear-groups", "--", "env"}, tc.a.env...), argv...)
		}
		hold := exec.Command(argv[0], argv[1:]...)
		hold.Env = append(os.Environ(), tc.a.env...)
		hold.Dir = "/"
		if err := hold.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { hold.Process.Kill(); hold.Wait() }()
		var in proto.InstanceStatus
		for i := 0; i < 100 && in.Guests == 0; i++ {
			time.Sleep(50 * time.Millisecond)
			js, _, _ := tc.a.lx(t, "/", nil, "status", "--json")
			var st proto.Status
			json.Unmarshal([]byte(js), &st)
			for _, is := range st.Instances {
				if is.Name == tc.distro {
					in = is
				}
			}
		}
		if in.Init == 0 || in.Guests == 0 {
			t.Fatalf("%s: the instance did not come up", tc.what)
		}
		if in.Profile != tc.want {
			t.Errorf("%s: profile %+v, want %+v", tc.what, in.Profile, tc.want)
		}
		prog, err := dumpFilter(in.Init)
		if err != nil {
			t.Fatalf("%s: the filter of init %d: %v", tc.what, in.Init, err)
		}
		vm, err := bpfvm.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		out, errs, code := tc.a.lx(t, "/", nil, "syscalls", "-d", tc.distro)
		if code != 0 || !strings.HasPrefix(out, "# instance "+tc.distro+" (running): ") {
			t.Fatalf("%s: lx syscalls -d: exit %d %s %s", tc.what, code, out, errs)
		}
		checkPrinted(t, tc.what, out, in.Profile.Routes(), vm)
	}
}

// checkPrinted checks each line of an lx syscalls table against the route
// of the same number in rs, and the filter in vm against both.
func checkPrinted(t *testing.T, what, out string, rs []routes.Route, vm *bpfvm.VM) {
	t.Helper()
	byNr := map[int]routes.Route{}
	for _, r := range rs {
		byNr[r.Nr] = r
	}
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(line, "#") || f[0] == "NR" {
			continue
		}
		nr, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("%s: line %q", what, line)
		}
		r, ok := byNr[nr]
		if !ok || f[1] != r.Name || f[2] != r.Kind.String() {
			t.Errorf("%s: printed %q, the profile says %+v", what, line, r)
			continue
		}
		lines++
		if r.NativeIf != nil && !strings.Contains(line, "native if "+r.NativeIf.String()) {
			t.Errorf("%s: printed %q lacks the rule %s", what, line, r.NativeIf)
		}
		for _, args := range [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, ruleArgs(r.NativeIf)} {
			d := bpfvm.Data{Nr: uint32(nr), Arch: unix.AUDIT_ARCH_X86_64, Args: args}
			got, err := vm.Run(d)
			if err != nil {
				t.Fatal(err)
			}
			if want := expected(r, args); got != want {
				t.Errorf("%s: %s args %#x: the installed filter returns %#x, the printed table says %#x", what, r.Name, args, got, want)
			}
		}
	}
	if lines != len(rs) {
		t.Errorf("%s: %d lines checked, the table has %d", what, lines, len(rs))
	}
}

// ruleArgs are arguments that satisfy rule (all zero without one).
func ruleArgs(rule *routes.ArgRule) [6]uint64 {
	var a [6]uint64
	if rule == nil {
		return a
	}
	switch rule.Op {
	case routes.OpEq:
		a[rule.Arg] = rule.Val
	case routes.OpMaskAny:
		a[rule.Arg] = rule.Val & -rule.Val // its lowest bit
	case routes.OpMaskNone:
		a[rule.Arg] = 0
	}
	return a
}

// expected is what a filter made from route r answers for args.
func expected(r routes.Route, args [6]uint64) uint32 {
	switch {
	case r.Kind == routes.Native:
		return unix.SECCOMP_RET_ALLOW
	case r.Kind == routes.Deny:
		return unix.SECCOMP_RET_ERRNO | uint32(r.Errno)
	case r.NativeIf != nil && r.NativeIf.Match(args[r.NativeIf.Arg]):
		return unix.SECCOMP_RET_ALLOW
	}
	return unix.SECCOMP_RET_USER_NOTIF
}

// dumpFilter reads the seccomp filter of process pid (its only one: init
// installs one filter and no other before it) with
// PTRACE_SECCOMP_GET_FILTER, attaching to it for the time it takes.
func dumpFilter(pid int) ([]bpf.RawInstruction, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		return nil, fmt.Errorf("seize: %w", err)
	}
	defer unix.PtraceDetach(pid)
	if err := unix.PtraceInterrupt(pid); err != nil {
		return nil, fmt.Errorf("interrupt: %w", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return nil, err
	}
	n, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), 0, 0, 0, 0)
	if errno != 0 {
		return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER: %w", errno)
	}
	filter := make([]unix.SockFilter, n)
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(pid), 0, uintptr(unsafe.Pointer(&filter[0])), 0, 0); errno != 0 {
		return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER: %w", errno)
	}
	prog := make([]bpf.RawInstruction, n)
	for i, f := range filter {
		prog[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	return prog, nil
}
