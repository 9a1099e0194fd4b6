package seccomp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"lx/shared/abi"
	"lx/shared/routes"
	"lx/shared/seccomp/bpfvm"
)

// seccompData is struct seccomp_data.
type seccompData = bpfvm.Data

func newVM(t *testing.T, raw []bpf.RawInstruction) *bpfvm.VM {
	t.Helper()
	vm, err := bpfvm.NewVM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func eval(t *testing.T, vm *bpfvm.VM, d seccompData) uint32 {
	t.Helper()
	got, err := vm.Run(d)
	if err != nil {
		t.Fatalf("run %+v: %v", d, err)
	}
	return got
}

// argSets returns argument vectors that take both branches of rule, and the
// obvious all-zero and all-ones ones.
func argSets(rule *routes.ArgRule) [][6]uint64 {
	sets := [][6]uint64{{}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}}
	if rule == nil {
		return sets
	}
	var vals []uint64
	switch rule.Op {
	case routes.OpEq:
		vals = []uint64{rule.Val, rule.Val + 1, rule.Val ^ 1<<32, rule.Val ^ 1<<63, rule.Val ^ 1}
	case routes.OpMaskAny, routes.OpMaskNone:
		vals = []uint64{rule.Val, rule.Val | 0xdead0000_00000000, ^rule.Val & 0xffffffff, rule.Val << 32, 0}
	}
	if rule.None != 0 {
		// each bit of None alone, and with the rule's own bits
		for bit := uint64(1); bit <= 1<<31; bit <<= 1 {
			if rule.None&bit != 0 {
				vals = append(vals, bit, rule.Val|bit)
			}
		}
		vals = append(vals, rule.None, rule.Val|rule.None)
	}
	for _, v := range vals {
		for _, other := range []uint64{0, ^uint64(0)} {
			var s [6]uint64
			for i := range s {
				s[i] = other
			}
			s[rule.Arg] = v
			sets = append(sets, s)
		}
	}
	return sets
}

func TestFilterMatchesTable(t *testing.T) {
	if rules := checkFilter(t, routes.All()); rules != 6 {
		t.Errorf("exercised %d argument rules, the table has 6", rules)
	}
}

// TestFilterNativePaths checks the filter of a default instance, whose path
// calls the kernel resolves run natively (routes.Profile).
func TestFilterNativePaths(t *testing.T) {
	rs := routes.Profile{}.Routes()
	checkFilter(t, rs)
	raw, err := Build(rs)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, raw)
	for _, nr := range []int{unix.SYS_STAT, unix.SYS_OPENAT, unix.SYS_NEWFSTATAT, unix.SYS_MKNOD} {
		d := seccompData{Nr: uint32(nr), Arch: unix.AUDIT_ARCH_X86_64}
		if got := eval(t, vm, d); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("nr %d: filter returns %#x, want ALLOW", nr, got)
		}
	}
	for _, nr := range []int{unix.SYS_EXECVE, unix.SYS_MOUNT} {
		if got := eval(t, vm, seccompData{Nr: uint32(nr), Arch: unix.AUDIT_ARCH_X86_64}); got != unix.SECCOMP_RET_USER_NOTIF {
			t.Errorf("nr %d: filter returns %#x, want USER_NOTIF", nr, got)
		}
	}
}

// TestFilterNativeExecs: the filter of an instance with native execs and
// forks (the default) lets execve and execveat through and still sends
// the setuid family and the limits to the listener.
func TestFilterNativeExecs(t *testing.T) {
	rs := routes.Profile{NativeForks: true, NativeExecs: true}.Routes()
	checkFilter(t, rs)
	raw, _ := Build(rs)
	vm := newVM(t, raw)
	for nr, want := range map[int]uint32{
		unix.SYS_EXECVE:    unix.SECCOMP_RET_ALLOW,
		unix.SYS_EXECVEAT:  unix.SECCOMP_RET_ALLOW,
		unix.SYS_SETRESUID: unix.SECCOMP_RET_USER_NOTIF,
		unix.SYS_SETRLIMIT: unix.SECCOMP_RET_USER_NOTIF,
	} {
		if got := eval(t, vm, seccompData{Nr: uint32(nr), Arch: unix.AUDIT_ARCH_X86_64}); got != want {
			t.Errorf("nr %d: filter returns %#x, want %#x", nr, got, want)
		}
	}
	if got := eval(t, vm, seccompData{Nr: unix.SYS_EXECVE, Arch: unix.AUDIT_ARCH_I386}); got == unix.SECCOMP_RET_ALLOW {
		t.Errorf("an i386 execve is let through")
	}
}

// TestFilterNativeForks checks the filter of an instance whose tasks the
// kernel bounds (routes.Profile.NativeForks): fork runs natively, and clone
// unless it has namespace flags.
func TestFilterNativeForks(t *testing.T) {
	rs := routes.Profile{TrapPaths: true, NativeForks: true}.Routes()
	if rules := checkFilter(t, rs); rules != 6 {
		t.Errorf("exercised %d argument rules, the table has 6", rules)
	}
	raw, _ := Build(rs)
	vm := newVM(t, raw)
	for _, c := range []struct {
		nr    int
		flags uint64
		want  uint32
	}{
		{unix.SYS_FORK, 0, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_VFORK, 0, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_CLONE, uint64(unix.SIGCHLD), unix.SECCOMP_RET_ALLOW},
		{unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_CLONE, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), unix.SECCOMP_RET_USER_NOTIF},
		{unix.SYS_CLONE, unix.CLONE_NEWNS | unix.CLONE_THREAD, unix.SECCOMP_RET_USER_NOTIF},
		{unix.SYS_CLONE, 0xffffffff_00000000 | uint64(unix.SIGCHLD), unix.SECCOMP_RET_ALLOW}, // the kernel reads the low 32 bits
	} {
		d := seccompData{Nr: uint32(c.nr), Arch: unix.AUDIT_ARCH_X86_64, Args: [6]uint64{c.flags}}
		if got := eval(t, vm, d); got != c.want {
			t.Errorf("nr %d flags %#x: filter returns %#x, want %#x", c.nr, c.flags, got, c.want)
		}
	}
}

// checkFilter builds the filter of rs and checks its answer for every
// number (and some beyond the table), every architecture and both branches
// of every argument rule against what rs says. It returns how many
// argument rules it exercised.
func checkFilter(t *testing.T, rs []routes.Route) (rules int) {
	t.Helper()
	raw, err := Build(rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= maxInsns {
		t.Fatalf("program has %d instructions, the kernel takes < %d", len(raw), maxInsns)
	}
	t.Logf("program length: %d instructions", len(raw))
	vm := newVM(t, raw)
	byNr := map[int]routes.Route{}
	for _, r := range rs {
		byNr[r.Nr] = r
	}
	lookup := func(nr int) routes.Route {
		if r, ok := byNr[nr]; ok {
			return r
		}
		return routes.Route{Nr: nr, Kind: routes.Unknown}
	}

	var nrs []uint32
	for nr := uint32(0); nr < abi.NSyscalls+16; nr++ {
		nrs = append(nrs, nr)
	}
	nrs = append(nrs, 1000, 0xffff, 0x3fffffff, x32Bit, x32Bit|unix.SYS_READ, x32Bit|unix.SYS_EXECVE,
		0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff)

	checks := 0
	for _, nr := range nrs {
		r := lookup(int(nr))
		if r.NativeIf != nil {
			rules++
		}
		for _, args := range argSets(r.NativeIf) {
			for _, arch := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0} {
				d := seccompData{Nr: nr, Arch: arch, IP: 0x7fff_1234_5678, Args: args}
				w := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
				if arch == unix.AUDIT_ARCH_X86_64 && nr < x32Bit {
					w = wantFor(r, d)
				}
				if got := eval(t, vm, d); got != w {
					t.Errorf("nr %d (%s) arch %#x args %#x: filter returns %#x, table says %#x", nr, r.Name, arch, args, got, w)
				}
				checks++
			}
		}
	}
	t.Logf("%d checks", checks)
	return rules
}

// TestFilterRuleBranches pins the argument rules to concrete calls.
func TestFilterRuleBranches(t *testing.T) {
	raw, err := Build(routes.All())
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, raw)
	const allow, notify = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_USER_NOTIF
	fd := uint64(3)
	for _, tc := range []struct {
		what string
		nr   uint32
		args [6]uint64
		want uint32
	}{
		{"fstat via fstatat", unix.SYS_NEWFSTATAT, [6]uint64{fd, 0x1000, 0x2000, unix.AT_EMPTY_PATH}, allow},
		{"fstatat of a path", unix.SYS_NEWFSTATAT, [6]uint64{unix.AT_FDCWD & 0xffffffff, 0x1000, 0x2000, unix.AT_SYMLINK_NOFOLLOW}, notify},
		{"statx of an fd", unix.SYS_STATX, [6]uint64{fd, 0x1000, unix.AT_EMPTY_PATH | unix.AT_STATX_SYNC_AS_STAT, 0x7ff}, allow},
		{"statx of a path", unix.SYS_STATX, [6]uint64{fd, 0x1000, 0, 0x7ff}, notify},
		{"futimens", unix.SYS_UTIMENSAT, [6]uint64{fd, 0, 0x3000, 0}, allow},
		{"utimensat of a path", unix.SYS_UTIMENSAT, [6]uint64{fd, 0x1000, 0x3000, 0}, notify},
		{"pthread_create", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID}, allow},
		{"thread with a new net namespace", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_NEWNET}, notify},
		{"thread with a new cgroup namespace", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_NEWCGROUP}, notify},
		{"thread with new mount, uts, ipc namespaces", unix.SYS_CLONE, [6]uint64{unix.CLONE_VM | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC}, notify},
		{"fork via clone", unix.SYS_CLONE, [6]uint64{unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD)}, notify},
		{"getrlimit via prlimit64", unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_NOFILE, 0, 0x4000}, allow},
		{"setrlimit via prlimit64", unix.SYS_PRLIMIT64, [6]uint64{0, unix.RLIMIT_NOFILE, 0x4000, 0}, notify},
		{"AF_UNIX socket", unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}, allow},
		{"AF_INET socket", unix.SYS_SOCKET, [6]uint64{unix.AF_INET, unix.SOCK_STREAM}, notify},
		{"socket 1<<32|AF_UNIX", unix.SYS_SOCKET, [6]uint64{1<<32 | unix.AF_UNIX}, notify},
		{"send on a connected socket", unix.SYS_SENDTO, [6]uint64{fd, 0x1000, 10, 0, 0, 0}, allow},
		{"sendto an address", unix.SYS_SENDTO, [6]uint64{fd, 0x1000, 10, 0, 0x5000, 16}, allow},
	} {
		d := seccompData{Nr: tc.nr, Arch: unix.AUDIT_ARCH_X86_64, Args: tc.args}
		if got := eval(t, vm, d); got != tc.want {
			t.Errorf("%s: filter returns %#x, want %#x", tc.what, got, tc.want)
		}
	}
}

// TestBuildShapes checks the binary search on synthetic tables: alternating
// actions (the most runs), an empty table, and a table that starts late.
func TestBuildShapes(t *testing.T) {
	alternating := make([]routes.Route, 0, 600)
	for nr := 0; nr < 600; nr++ {
		r := routes.Route{Nr: nr, Name: "x", Kind: routes.Native}
		switch nr % 3 {
		case 1:
			r.Kind, r.Errno = routes.Deny, unix.Errno(1+nr%100)
		case 2:
			r.Kind, r.NativeIf = routes.FS, &routes.ArgRule{Arg: nr % 6, Op: routes.Op(nr % 2), Val: uint64(nr)}
		}
		alternating = append(alternating, r)
	}
	for name, rs := range map[string][]routes.Route{
		"alternating": alternating,
		"empty":       nil,
		"late":        {{Nr: 5000, Kind: routes.Native}, {Nr: 5002, Kind: routes.Deny, Errno: unix.EPERM}},
	} {
		raw, err := Build(rs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vm := newVM(t, raw)
		lookup := make(map[int]routes.Route)
		for _, r := range rs {
			lookup[r.Nr] = r
		}
		for nr := uint32(0); nr < 5010; nr++ {
			r := lookup[int(nr)]
			for _, args := range argSets(r.NativeIf) {
				d := seccompData{Nr: nr, Arch: unix.AUDIT_ARCH_X86_64, Args: args}
				got, w := eval(t, vm, d), wantFor(r, d)
				if got != w {
					t.Fatalf("%s: nr %d args %#x: filter returns %#x, want %#x", name, nr, args, got, w)
				}
			}
		}
		t.Logf("%s: %d instructions", name, len(raw))
	}
}

// wantFor is want for an arbitrary route r rather than the table's.
func wantFor(r routes.Route, d seccompData) uint32 {
	switch r.Kind {
	case routes.Native:
		return unix.SECCOMP_RET_ALLOW
	case routes.Deny:
		return unix.SECCOMP_RET_ERRNO | uint32(r.Errno)
	}
	if rule := r.NativeIf; rule != nil && rule.Match(d.Args[rule.Arg]) {
		return unix.SECCOMP_RET_ALLOW
	}
	return unix.SECCOMP_RET_USER_NOTIF
}

func TestBuildRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   []routes.Route
		want string
	}{
		{"twice", []routes.Route{{Nr: 1, Kind: routes.Native}, {Nr: 1, Kind: routes.FS}}, "routed twice"},
		{"negative", []routes.Route{{Nr: -1, Kind: routes.Native}}, "out of range"},
		{"x32", []routes.Route{{Nr: x32Bit, Kind: routes.Native}}, "out of range"},
		{"deny without errno", []routes.Route{{Nr: 1, Kind: routes.Deny}}, "errno"},
		{"rule on native", []routes.Route{{Nr: 1, Kind: routes.Native, NativeIf: &routes.ArgRule{}}}, "argument rule"},
		{"rule on args[6]", []routes.Route{{Nr: 1, Kind: routes.FS, NativeIf: &routes.ArgRule{Arg: 6}}}, "args[6]"},
		{"bad kind", []routes.Route{{Nr: 1, Kind: 42}}, "unknown kind"},
		{"too long", tooLong(), "at most 4096"},
	} {
		_, err := Build(tc.rs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// tooLong returns a table whose filter would exceed BPF_MAXINSNS.
func tooLong() []routes.Route {
	var rs []routes.Route
	for nr := 0; nr < 2000; nr++ {
		rs = append(rs, routes.Route{Nr: nr, Kind: routes.Kind(1 + nr%2)})
	}
	return rs
}

const childEnv = "LX_SECCOMP_INSTALL_CHILD"

// TestInstall installs the real filter in a child process (this test binary,
// re-executed) so this process stays unfiltered.
func TestInstall(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		installChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestInstall$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
}

// installChild runs in the re-executed child. After Install it makes only raw
// syscalls that the filter allows or denies, and closes the listener at once:
// nobody serves it, and with it closed the kernel fails any trapped call with
// ENOSYS instead of blocking (the Go runtime itself may tgkill for preemption).
func installChild() {
	fail := func(format string, args ...any) {
		os.Stderr.WriteString("FAIL: " + fmt.Sprintf(format, args...) + "\n")
		os.Exit(1)
	}
	prog, err := Build(routes.All())
	if err != nil {
		fail("build: %v", err)
	}
	ppid := os.Getppid()
	var st unix.Stat_t
	empty, _ := unix.BytePtrFromString("")
	f, err := os.Open(os.Args[0])
	if err != nil {
		fail("open: %v", err)
	}
	fd := f.Fd()

	runtime.LockOSThread() // no_new_privs is per thread; TSYNC spreads it
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	listener, err := Install(prog)
	if err != nil {
		fail("install: %v", err)
	}
	// From here on: raw syscalls only.
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(listener), 0, 0); e != 0 {
		fail("close listener: %v", e)
	}
	if got, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0); e != 0 || int(got) != ppid {
		fail("getppid = %d, %v; want %d", got, e, ppid)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); e != unix.ENOSYS {
		fail("clone3: %v, want ENOSYS", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_BPF, ^uintptr(0), 0, 0); e != unix.EPERM {
		fail("bpf: %v, want EPERM", e)
	}
	// newfstatat with AT_EMPTY_PATH is FS with a native rule: it must run.
	if _, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, fd, uintptr(unsafe.Pointer(empty)), uintptr(unsafe.Pointer(&st)), unix.AT_EMPTY_PATH, 0, 0); e != 0 {
		fail("fstatat(fd, \"\", AT_EMPTY_PATH): %v", e)
	}
	// A trapped call, with the listener gone, fails with ENOSYS.
	if _, _, e := unix.RawSyscall(unix.SYS_KILL, uintptr(ppid), 0, 0); e != unix.ENOSYS {
		fail("kill(ppid, 0) with no listener: %v, want ENOSYS", e)
	}
	runtime.KeepAlive(f)
	os.Stdout.WriteString("seccomp filter installed: getppid native, clone3 ENOSYS, bpf EPERM, fstatat(AT_EMPTY_PATH) native, kill ENOSYS without a listener\n")
	os.Exit(0)
}
