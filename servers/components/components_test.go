package components

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
	"lx/shared/launch"
	"lx/shared/routes"
	"lx/shared/seccomp"
	"lx/shared/seccomp/bpfvm"
)

// neverAllowed are calls no component makes: running programs, tracing,
// mounting, modules, namespaces, identities, kernel-wide switches.
var neverAllowed = []int{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_FORK, unix.SYS_VFORK, unix.SYS_PTRACE,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_OPEN_TREE,
	unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE,
	unix.SYS_DELETE_MODULE, unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT,
	unix.SYS_SETNS, unix.SYS_UNSHARE, unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_SETUID,
	unix.SYS_SETRESUID, unix.SYS_SETGID, unix.SYS_CAPSET, unix.SYS_KEYCTL, unix.SYS_ADD_KEY,
	unix.SYS_SWAPON, unix.SYS_IO_URING_SETUP, unix.SYS_USERFAULTFD, unix.SYS_OPEN_BY_HANDLE_AT,
	unix.SYS_KILL, unix.SYS_TKILL, unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_SECCOMP, unix.SYS_PRCTL,
	unix.SYS_CONNECT, unix.SYS_LISTEN, unix.SYS_ACCEPT4, unix.SYS_SENDMSG, unix.SYS_MKNODAT,
	unix.SYS_RENAMEAT2, unix.SYS_LINKAT, unix.SYS_SYMLINKAT, unix.SYS_TRUNCATE, unix.SYS_ACCT,
}

// onlyFor are the calls of neverAllowed that one component makes: sigsrv
// sends a guest's kill(-1) itself, to every process but the holder.
var onlyFor = map[int]string{unix.SYS_PIDFD_SEND_SIGNAL: "sigsrv"}

// TestSandboxLists runs each component's filter in the BPF VM: every
// listed call is allowed (with arguments its rule accepts), the calls no
// component makes trap, as do other architectures, x32 numbers and
// numbers no list has; the argument rules hold.
func TestSandboxLists(t *testing.T) {
	x86 := uint32(unix.AUDIT_ARCH_X86_64)
	const trap, allow = seccomp.SandboxTrap, unix.SECCOMP_RET_ALLOW
	for _, r := range Table {
		name, list := r.Name, r.Sandbox()
		raw, err := seccomp.BuildSandbox(list, seccomp.SandboxTrap)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vm, err := bpfvm.NewVM(raw)
		if err != nil {
			t.Fatal(err)
		}
		run := func(nr int, arch uint32, args ...uint64) uint32 {
			d := bpfvm.Data{Nr: uint32(nr), Arch: arch}
			copy(d.Args[:], args)
			got, err := vm.Run(d)
			if err != nil {
				t.Fatalf("%s: run %+v: %v", name, d, err)
			}
			return got
		}
		listed := map[int]bool{}
		for _, a := range list {
			listed[a.Nr] = true
			var args [6]uint64
			want := uint32(allow)
			if a.Errno != 0 {
				want = unix.SECCOMP_RET_ERRNO | uint32(a.Errno)
			} else if len(a.If) > 0 {
				args[a.If[0].Arg] = a.If[0].Val
			}
			if got := run(a.Nr, x86, args[:]...); got != want {
				t.Errorf("%s: listed %s gets %#x, want %#x", name, abi.SyscallName(a.Nr), got, want)
			}
			if got := run(a.Nr, unix.AUDIT_ARCH_I386, args[:]...); got != trap {
				t.Errorf("%s: i386 %d gets %#x, want SIGSYS", name, a.Nr, got)
			}
			if got := run(a.Nr|0x40000000, x86, args[:]...); got != trap {
				t.Errorf("%s: x32 %s gets %#x, want SIGSYS", name, abi.SyscallName(a.Nr), got)
			}
		}
		for _, nr := range neverAllowed {
			if listed[nr] && onlyFor[nr] != name {
				t.Errorf("%s lists %s", name, abi.SyscallName(nr))
			}
		}
		for nr := 0; nr < abi.NSyscalls+64; nr++ {
			if !listed[nr] {
				if got := run(nr, x86); got != trap {
					t.Errorf("%s: unlisted %s gets %#x, want SIGSYS", name, abi.SyscallName(nr), got)
				}
			}
		}
		for _, tc := range []struct {
			what string
			nr   int
			args []uint64
			want uint32
		}{
			{"a thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM}, allow},
			{"a fork", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, trap},
			{"a vfork", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)}, trap},
			{"clone3", unix.SYS_CLONE3, nil, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
			{"preempting its own thread", unix.SYS_TGKILL, []uint64{uint64(os.Getpid()), 1, uint64(unix.SIGURG)}, allow},
			{"tgkill of another process", unix.SYS_TGKILL, []uint64{1, 1, uint64(unix.SIGKILL)}, trap},
			{"NOTIF_RECV", unix.SYS_IOCTL, []uint64{3, unix.SECCOMP_IOCTL_NOTIF_RECV}, allow},
			{"NOTIF_ADDFD", unix.SYS_IOCTL, []uint64{3, unix.SECCOMP_IOCTL_NOTIF_ADDFD}, allow},
			{"TIOCSTI", unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, trap},
			{"FIONREAD (TIOCINQ)", unix.SYS_IOCTL, []uint64{0, unix.TIOCINQ}, trap},
		} {
			if got := run(tc.nr, x86, tc.args...); got != tc.want {
				t.Errorf("%s: %s gets %#x, want %#x", name, tc.what, got, tc.want)
			}
		}
		t.Logf("%s: %d calls, %d instructions", name, len(listed), len(raw))
	}
}

// TestSandboxRecovery: every server may make the calls that recover an
// interrupted InstallFD after a restart (Call.installed lists
// /proc/TID/fd and stats each entry); a server without them died of
// SIGSYS on each restart, looping (chaos: netsrv restarted 286 times).
func TestSandboxRecovery(t *testing.T) {
	for _, r := range Table {
		if r.Name == "router" {
			continue
		}
		has := map[int]bool{}
		for _, a := range r.Sandbox() {
			has[a.Nr] = true
		}
		for _, nr := range []int{unix.SYS_OPENAT, unix.SYS_GETDENTS64, unix.SYS_NEWFSTATAT, unix.SYS_CLOSE} {
			if !has[nr] {
				t.Errorf("%s's sandbox lacks %s, which recovering an interrupted InstallFD makes", r.Name, abi.SyscallName(nr))
			}
		}
	}
}

// TestSandboxSocketsNetsrvOnly: only netsrv makes host sockets.
func TestSandboxSocketsNetsrvOnly(t *testing.T) {
	for _, r := range Table {
		name, has := r.Name, false
		for _, a := range r.Sandbox() {
			has = has || a.Nr == unix.SYS_SOCKET || a.Nr == unix.SYS_BIND
		}
		if has != (name == "netsrv") {
			t.Errorf("%s: socket or bind listed: %v", name, has)
		}
	}
}

// TestTablesAgree checks the route table against every server's handler
// table both ways: each trapped route has a handler in the server it names,
// and each handler serves a route that names its server. The filter's side
// (every route compiled into the right action) is checked in shared/seccomp.
func TestTablesAgree(t *testing.T) {
	for _, k := range routes.ServerKinds() {
		r, err := Lookup(k.Server())
		if err != nil {
			t.Fatal(err)
		}
		table := r.Handlers(&launch.Config{Name: r.Name})
		for _, r := range routes.ForServer(k) {
			if table[r.Nr] == nil {
				t.Errorf("%s (%d) routes to %s, which has no handler for it", r.Name, r.Nr, k.Server())
			}
		}
		for nr := range table {
			if r := routes.Lookup(nr); r.Kind != k {
				t.Errorf("%s has a handler for %s (%d), which routes to %s", k.Server(), abi.SyscallName(nr), nr, r.Kind)
			}
		}
	}
	if err := launch.Check(Data()); err != nil {
		t.Error(err)
	}
}
