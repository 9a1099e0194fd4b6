package seccomp

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

func TestBuildSandbox(t *testing.T) {
	const trap, allow = SandboxTrap, unix.SECCOMP_RET_ALLOW
	list := append(Calls(unix.SYS_READ, unix.SYS_WRITE, unix.SYS_FUTEX),
		Allowed{Nr: unix.SYS_CLONE, If: []routes.ArgRule{{Arg: 0, Op: routes.OpMaskAny, Val: unix.CLONE_THREAD}}},
		Allowed{Nr: unix.SYS_IOCTL, If: []routes.ArgRule{{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_RECV}}},
		Allowed{Nr: unix.SYS_IOCTL, If: []routes.ArgRule{{Arg: 1, Op: routes.OpEq, Val: unix.SECCOMP_IOCTL_NOTIF_SEND}}},
		Allowed{Nr: unix.SYS_SOCKET, If: []routes.ArgRule{{Arg: 0, Op: routes.OpEq, Val: unix.AF_INET}}},
		Allowed{Nr: unix.SYS_SOCKET}, // an unconditional entry wins
		Allowed{Nr: unix.SYS_WRITE},  // listed twice
		Allowed{Nr: unix.SYS_CLONE3, Errno: unix.ENOSYS},
	)
	raw, err := BuildSandbox(list, trap)
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, raw)
	x86 := uint32(unix.AUDIT_ARCH_X86_64)
	for _, tc := range []struct {
		what string
		d    seccompData
		want uint32
	}{
		{"read", seccompData{Nr: unix.SYS_READ, Arch: x86}, allow},
		{"write", seccompData{Nr: unix.SYS_WRITE, Arch: x86, Args: [6]uint64{1, 2, 3}}, allow},
		{"futex", seccompData{Nr: unix.SYS_FUTEX, Arch: x86}, allow},
		{"thread clone", seccompData{Nr: unix.SYS_CLONE, Arch: x86, Args: [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}}, allow},
		{"fork clone", seccompData{Nr: unix.SYS_CLONE, Arch: x86, Args: [6]uint64{uint64(unix.SIGCHLD)}}, trap},
		{"ioctl RECV", seccompData{Nr: unix.SYS_IOCTL, Arch: x86, Args: [6]uint64{3, unix.SECCOMP_IOCTL_NOTIF_RECV}}, allow},
		{"ioctl SEND", seccompData{Nr: unix.SYS_IOCTL, Arch: x86, Args: [6]uint64{3, unix.SECCOMP_IOCTL_NOTIF_SEND}}, allow},
		{"ioctl SEND|1<<32", seccompData{Nr: unix.SYS_IOCTL, Arch: x86, Args: [6]uint64{3, 1<<32 | unix.SECCOMP_IOCTL_NOTIF_SEND}}, trap},
		{"ioctl TIOCSTI", seccompData{Nr: unix.SYS_IOCTL, Arch: x86, Args: [6]uint64{0, unix.TIOCSTI}}, trap},
		{"socket AF_UNIX", seccompData{Nr: unix.SYS_SOCKET, Arch: x86, Args: [6]uint64{unix.AF_UNIX}}, allow},
		{"clone3", seccompData{Nr: unix.SYS_CLONE3, Arch: x86}, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"execve", seccompData{Nr: unix.SYS_EXECVE, Arch: x86}, trap},
		{"number 0x3fffffff", seccompData{Nr: 0x3fffffff, Arch: x86}, trap},
		{"x32 read", seccompData{Nr: x32Bit | unix.SYS_READ, Arch: x86}, trap},
		{"i386 read", seccompData{Nr: 3, Arch: unix.AUDIT_ARCH_I386}, trap},
		{"aarch64 read", seccompData{Nr: 63, Arch: unix.AUDIT_ARCH_AARCH64}, trap},
	} {
		if got := eval(t, vm, tc.d); got != tc.want {
			t.Errorf("%s: filter returns %#x, want %#x", tc.what, got, tc.want)
		}
	}
	// Every other number traps.
	listed := map[uint32]bool{}
	for _, a := range list {
		listed[uint32(a.Nr)] = true
	}
	for nr := uint32(0); nr < 1024; nr++ {
		if !listed[nr] {
			if got := eval(t, vm, seccompData{Nr: nr, Arch: x86}); got != trap {
				t.Errorf("unlisted %d: filter returns %#x, want trap", nr, got)
			}
		}
	}
	if raw, err := BuildSandbox(list, SandboxLog); err != nil {
		t.Error(err)
	} else if got := eval(t, newVM(t, raw), seccompData{Nr: unix.SYS_EXECVE, Arch: x86}); got != SandboxLog {
		t.Errorf("log mode: execve gets %#x", got)
	}
}

func TestBuildSandboxRejects(t *testing.T) {
	many := make([]routes.ArgRule, maxRules+1)
	for i := range many {
		many[i] = routes.ArgRule{Arg: 1, Op: routes.OpEq, Val: uint64(i)}
	}
	for _, tc := range []struct {
		name string
		list []Allowed
		want string
	}{
		{"negative", []Allowed{{Nr: -1}}, "out of range"},
		{"x32", []Allowed{{Nr: x32Bit}}, "out of range"},
		{"rule on args[6]", []Allowed{{Nr: 1, If: []routes.ArgRule{{Arg: 6}}}}, "args[6]"},
		{"too many rules", []Allowed{{Nr: 1, If: many}}, "argument rules"},
		{"errno and allowed", []Allowed{{Nr: 1}, {Nr: 1, Errno: unix.ENOSYS}}, "errno"},
		{"allowed and errno", []Allowed{{Nr: 1, Errno: unix.ENOSYS}, {Nr: 1}}, "errno"},
	} {
		_, err := BuildSandbox(tc.list, SandboxTrap)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: BuildSandbox error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
