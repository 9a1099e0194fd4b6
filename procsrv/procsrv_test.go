package procsrv

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/servers/servertest"
	"lx/shared/idmap"
	"lx/shared/launch"
)

type (
	env  = servertest.Env
	tc   = servertest.Case
	opts = servertest.Options
)

var (
	cont  = servertest.Continue
	errno = servertest.Errno
)

const (
	initPid = 1
	sigchld = uint64(unix.SIGCHLD)
)

func neg(v int) uint64 { return uint64(int64(v)) }

func args(a ...uint64) func(*env) []uint64 { return func(*env) []uint64 { return a } }

// fromInit makes the caller a thread of init.
func fromInit(a ...uint64) func(*env) []uint64 {
	return func(e *env) []uint64 { e.Thread(initPid, servertest.Tid); return a }
}

// elf is an ELF header of class and machine.
func elf(class byte, machine uint16) string {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = class, 1, 1
	binary.LittleEndian.PutUint16(h[16:], 3)
	binary.LittleEndian.PutUint16(h[18:], machine)
	return string(h)
}

// programs puts the files an exec test runs in the instance root.
func programs(e *env) {
	e.File("/bin/prog", 0o755, elf(2, 62))
	e.File("/bin/prog32", 0o755, elf(1, 3))
	e.File("/bin/arm", 0o755, elf(2, 183))
	e.File("/bin/x32", 0o755, elf(1, 62))
	e.File("/bin/short", 0o755, "\x7fELF\x02\x01")
	e.File("/bin/script", 0o755, "#!/bin/sh\necho hi\n")
	e.File("/bin/text", 0o755, "echo hi\n")
	e.File("/bin/data", 0o644, elf(2, 62))
	e.File("/jail/bin/prog32", 0o755, elf(1, 3))
	os.Symlink("prog", e.InRoot("/bin/link"))
}

// exe is an execve of path, with the programs in place.
func exe(path string) func(*env) []uint64 {
	return func(e *env) []uint64 {
		programs(e)
		return []uint64{e.Mem.String(path), 0, 0}
	}
}

// exeat is an execveat of path relative to dirfd.
func exeat(dirfd int, path string, flags int) func(*env) []uint64 {
	return func(e *env) []uint64 {
		programs(e)
		return []uint64{uint64(int64(dirfd)), e.Mem.String(path), 0, 0, uint64(flags)}
	}
}

// then runs prep before args.
func then(prep func(e *env), args func(*env) []uint64) func(*env) []uint64 {
	return func(e *env) []uint64 { prep(e); return args(e) }
}

func cwd(dir string) func(e *env) {
	return func(e *env) {
		os.Remove(e.Proc + "/" + strconv.Itoa(servertest.Tid) + "/cwd")
		e.Symlink(strconv.Itoa(servertest.Tid)+"/cwd", dir)
	}
}

func guestFd(n int, target string) func(e *env) {
	return func(e *env) { e.Symlink(strconv.Itoa(servertest.Tid)+"/fd/"+strconv.Itoa(n), target) }
}

// gids maps n gids.
func gids(ids ...uint32) func(*env) []uint64 {
	return func(e *env) []uint64 {
		b := make([]byte, 4*len(ids))
		for i, id := range ids {
			binary.LittleEndian.PutUint32(b[4*i:], id)
		}
		return []uint64{uint64(len(ids)), e.Mem.Bytes(b)}
	}
}

func rlimit(e *env, cur, max uint64) uint64 {
	r := unix.Rlimit{Cur: cur, Max: max}
	return servertest.Struct(e.Mem, &r)
}

// narrow maps guest ids 0..999 only, as an unprivileged instance with a
// subordinate range would.
var narrow = opts{IDs: idmap.Maps{UID: idmap.Map{{Guest: 0, Host: 100000, Count: 1000}}, GID: idmap.Map{{Guest: 0, Host: 100000, Count: 1000}}}}

var none = ^uint64(0) >> 32 // (uid_t)-1

var cases = []tc{
	{Name: "admitted", Nr: unix.SYS_FORK, Want: cont},
	{Name: "admitted", Nr: unix.SYS_VFORK, Want: cont},

	{Name: "a process", Nr: unix.SYS_CLONE, Args: args(sigchld), Want: cont},
	{Name: "a new net namespace", Nr: unix.SYS_CLONE, Args: args(unix.CLONE_NEWNET | sigchld), Want: errno(unix.EPERM)},
	{Name: "a new pid namespace", Nr: unix.SYS_CLONE, Args: args(unix.CLONE_NEWPID), Want: errno(unix.EPERM)},
	{Name: "the holder, by a guest", Nr: unix.SYS_CLONE, Opt: opts{InitPid: initPid}, Args: args(holderFlags | sigchld), Want: errno(unix.EPERM)},
	{Name: "the holder, by init", Nr: unix.SYS_CLONE, Opt: opts{InitPid: initPid}, Args: fromInit(holderFlags | sigchld), Want: cont},
	{Name: "the holder and a net namespace, by init", Nr: unix.SYS_CLONE, Opt: opts{InitPid: initPid},
		Args: fromInit(holderFlags | unix.CLONE_NEWNET), Want: errno(unix.EPERM)},

	{Name: "an x86-64 program", Nr: unix.SYS_EXECVE, Args: exe("/bin/prog"), Want: cont},
	{Name: "through a symlink", Nr: unix.SYS_EXECVE, Args: exe("/bin/link"), Want: cont},
	{Name: "a script", Nr: unix.SYS_EXECVE, Args: exe("/bin/script"), Want: cont},
	{Name: "a 32-bit program", Nr: unix.SYS_EXECVE, Args: exe("/bin/prog32"), Want: errno(unix.ENOEXEC)},
	{Name: "an x32 program", Nr: unix.SYS_EXECVE, Args: exe("/bin/x32"), Want: errno(unix.ENOEXEC)},
	{Name: "another machine's program", Nr: unix.SYS_EXECVE, Args: exe("/bin/arm"), Want: errno(unix.ENOEXEC)},
	{Name: "a truncated header", Nr: unix.SYS_EXECVE, Args: exe("/bin/short"), Want: errno(unix.ENOEXEC)},
	{Name: "a text file", Nr: unix.SYS_EXECVE, Args: exe("/bin/text"), Want: errno(unix.ENOEXEC)},
	{Name: "not executable", Nr: unix.SYS_EXECVE, Args: exe("/bin/data"), Want: errno(unix.EACCES)},
	{Name: "a directory", Nr: unix.SYS_EXECVE, Args: exe("/bin"), Want: errno(unix.EACCES)},
	{Name: "missing: the kernel's answer", Nr: unix.SYS_EXECVE, Args: exe("/bin/nothing"), Want: cont},
	{Name: "a /proc name", Nr: unix.SYS_EXECVE, Args: exe("/proc/self/exe"), Want: cont},
	{Name: "empty path", Nr: unix.SYS_EXECVE, Args: exe(""), Want: errno(unix.ENOENT)},
	{Name: "relative to the cwd", Nr: unix.SYS_EXECVE, Args: then(cwd("/bin"), exe("prog32")), Want: errno(unix.ENOEXEC)},
	{Name: "in a chroot", Nr: unix.SYS_EXECVE, Args: then(func(e *env) {
		os.Remove(e.Proc + "/" + strconv.Itoa(servertest.Tid) + "/root")
		e.Symlink(strconv.Itoa(servertest.Tid)+"/root", "/jail")
	}, exe("/bin/prog32")), Want: errno(unix.ENOEXEC)},
	{Name: "cwd deleted", Nr: unix.SYS_EXECVE, Args: then(cwd("/gone (deleted)"), exe("prog")), Want: errno(unix.ENOENT)},
	{Name: "path unmapped", Nr: unix.SYS_EXECVE, Args: args(servertest.Unmapped, 0, 0), Want: errno(unix.EFAULT)},
	{Name: "path runs into unmapped memory", Nr: unix.SYS_EXECVE,
		Args: func(e *env) []uint64 { return []uint64{e.Mem.Bytes([]byte("/bin/prog")), 0, 0} }, Want: errno(unix.EFAULT)},
	{Name: "path too long", Nr: unix.SYS_EXECVE,
		Args: func(e *env) []uint64 { return []uint64{e.Mem.String(strings.Repeat("a", unix.PathMax)), 0, 0} }, Want: errno(unix.ENAMETOOLONG)},
	{Name: "caller gone", Nr: unix.SYS_EXECVE, Args: then(func(e *env) { e.Gone = true }, exe("/bin/prog")), Want: errno(unix.EINTR)},

	{Name: "an x86-64 program", Nr: unix.SYS_EXECVEAT, Args: exeat(unix.AT_FDCWD, "/bin/prog", 0), Want: cont},
	{Name: "unknown flag", Nr: unix.SYS_EXECVEAT, Args: exeat(unix.AT_FDCWD, "/bin/prog", 0x4000), Want: errno(unix.EINVAL)},
	{Name: "the fd itself", Nr: unix.SYS_EXECVEAT, Args: exeat(3, "", unix.AT_EMPTY_PATH), Want: cont},
	{Name: "empty path without AT_EMPTY_PATH", Nr: unix.SYS_EXECVEAT, Args: exeat(3, "", 0), Want: errno(unix.ENOENT)},
	{Name: "relative to a dirfd", Nr: unix.SYS_EXECVEAT, Args: then(guestFd(5, "/bin"), exeat(5, "prog32", 0)), Want: errno(unix.ENOEXEC)},
	{Name: "a dirfd not open", Nr: unix.SYS_EXECVEAT, Args: exeat(5, "prog", 0), Want: errno(unix.EBADF)},
	{Name: "a negative dirfd", Nr: unix.SYS_EXECVEAT, Args: exeat(-5, "prog", 0), Want: errno(unix.EBADF)},
	{Name: "a dirfd on a pipe", Nr: unix.SYS_EXECVEAT, Args: then(guestFd(5, "pipe:[4242]"), exeat(5, "prog", 0)), Want: errno(unix.ENOTDIR)},
	{Name: "a symlink with AT_SYMLINK_NOFOLLOW", Nr: unix.SYS_EXECVEAT, Args: exeat(unix.AT_FDCWD, "/bin/link", unix.AT_SYMLINK_NOFOLLOW), Want: errno(unix.ELOOP)},

	{Name: "a mapped id", Nr: unix.SYS_SETUID, Args: args(1000), Want: cont},
	{Name: "-1", Nr: unix.SYS_SETUID, Args: args(none), Want: errno(unix.EINVAL)},
	{Name: "an unmapped id", Nr: unix.SYS_SETUID, Opt: narrow, Args: args(1000), Want: errno(unix.EINVAL)},
	{Name: "a mapped id", Nr: unix.SYS_SETGID, Opt: narrow, Args: args(999), Want: cont},
	{Name: "-1", Nr: unix.SYS_SETGID, Args: args(none), Want: errno(unix.EINVAL)},
	{Name: "an unmapped id", Nr: unix.SYS_SETGID, Opt: narrow, Args: args(1000), Want: errno(unix.EINVAL)},
	{Name: "mapped, one left unchanged", Nr: unix.SYS_SETREUID, Opt: narrow, Args: args(none, 5), Want: cont},
	{Name: "an unmapped effective id", Nr: unix.SYS_SETREUID, Opt: narrow, Args: args(5, 5000), Want: errno(unix.EINVAL)},
	{Name: "mapped", Nr: unix.SYS_SETREGID, Opt: narrow, Args: args(5, 6), Want: cont},
	{Name: "an unmapped real id", Nr: unix.SYS_SETREGID, Opt: narrow, Args: args(5000, none), Want: errno(unix.EINVAL)},
	{Name: "mapped", Nr: unix.SYS_SETRESUID, Opt: narrow, Args: args(1, 2, 3), Want: cont},
	{Name: "an unmapped saved id", Nr: unix.SYS_SETRESUID, Opt: narrow, Args: args(1, 2, 3000), Want: errno(unix.EINVAL)},
	{Name: "all unchanged", Nr: unix.SYS_SETRESGID, Opt: narrow, Args: args(none, none, none), Want: cont},
	{Name: "an unmapped real id", Nr: unix.SYS_SETRESGID, Opt: narrow, Args: args(3000, 1, 1), Want: errno(unix.EINVAL)},
	{Name: "the kernel's", Nr: unix.SYS_SETFSUID, Opt: narrow, Args: args(5000), Want: cont},
	{Name: "the kernel's", Nr: unix.SYS_SETFSGID, Opt: narrow, Args: args(5000), Want: cont},

	{Name: "none", Nr: unix.SYS_SETGROUPS, Args: args(0, 0), Want: cont},
	{Name: "mapped", Nr: unix.SYS_SETGROUPS, Opt: narrow, Args: gids(0, 4, 999), Want: cont},
	{Name: "one unmapped", Nr: unix.SYS_SETGROUPS, Opt: narrow, Args: gids(0, 1000), Want: errno(unix.EINVAL)},
	{Name: "negative count", Nr: unix.SYS_SETGROUPS, Args: args(neg(-1), 0), Want: errno(unix.EINVAL)},
	{Name: "past NGROUPS_MAX", Nr: unix.SYS_SETGROUPS, Args: args(ngroupsMax+1, 0), Want: errno(unix.EINVAL)},
	{Name: "list unmapped", Nr: unix.SYS_SETGROUPS, Args: args(2, servertest.Unmapped), Want: errno(unix.EFAULT)},
	{Name: "list shorter than its count", Nr: unix.SYS_SETGROUPS,
		Args: func(e *env) []uint64 { a := gids(1, 2)(e); a[0] = 3; return a }, Want: errno(unix.EFAULT)},

	{Name: "a limit", Nr: unix.SYS_SETRLIMIT,
		Args: func(e *env) []uint64 { return []uint64{unix.RLIMIT_NOFILE, rlimit(e, 1024, 4096)} }, Want: cont},
	{Name: "NULL", Nr: unix.SYS_SETRLIMIT, Args: args(unix.RLIMIT_NOFILE, 0), Want: errno(unix.EFAULT)},
	{Name: "unmapped", Nr: unix.SYS_SETRLIMIT, Args: args(unix.RLIMIT_NOFILE, servertest.Unmapped), Want: errno(unix.EFAULT)},
	{Name: "unknown resource", Nr: unix.SYS_SETRLIMIT,
		Args: func(e *env) []uint64 { return []uint64{rlimNlimits, rlimit(e, 1, 2)} }, Want: errno(unix.EINVAL)},
	{Name: "soft above hard", Nr: unix.SYS_SETRLIMIT,
		Args: func(e *env) []uint64 { return []uint64{unix.RLIMIT_NOFILE, rlimit(e, 4096, 1024)} }, Want: errno(unix.EINVAL)},

	{Name: "a limit", Nr: unix.SYS_PRLIMIT64,
		Args: func(e *env) []uint64 { return []uint64{0, unix.RLIMIT_STACK, rlimit(e, 1<<23, ^uint64(0)), 0} }, Want: cont},
	{Name: "only the old limit", Nr: unix.SYS_PRLIMIT64, Args: func(e *env) []uint64 {
		return []uint64{0, unix.RLIMIT_STACK, 0, e.Mem.Alloc(int(unsafe.Sizeof(unix.Rlimit{})))}
	}, Want: cont},
	{Name: "negative pid", Nr: unix.SYS_PRLIMIT64, Args: args(neg(-1), unix.RLIMIT_STACK, 0, 0), Want: errno(unix.ESRCH)},
	{Name: "unknown resource", Nr: unix.SYS_PRLIMIT64, Args: args(0, 99, 0, 0), Want: errno(unix.EINVAL)},
	{Name: "unmapped", Nr: unix.SYS_PRLIMIT64, Args: args(0, unix.RLIMIT_STACK, servertest.Unmapped, 0), Want: errno(unix.EFAULT)},
	{Name: "soft above hard", Nr: unix.SYS_PRLIMIT64,
		Args: func(e *env) []uint64 { return []uint64{0, unix.RLIMIT_CORE, rlimit(e, 2, 1), 0} }, Want: errno(unix.EINVAL)},

	{Name: "query", Nr: unix.SYS_PERSONALITY, Args: args(0xffffffff), Want: cont},
	{Name: "PER_LINUX", Nr: unix.SYS_PERSONALITY, Args: args(0), Want: cont},
	{Name: "ADDR_NO_RANDOMIZE", Nr: unix.SYS_PERSONALITY, Args: args(0x0040000), Want: cont},
	{Name: "PER_LINUX32", Nr: unix.SYS_PERSONALITY, Args: args(0x0008), Want: errno(unix.EINVAL)},

	{Name: "power off", Nr: unix.SYS_REBOOT, Args: args(unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2, unix.LINUX_REBOOT_CMD_POWER_OFF), Want: cont},
	{Name: "magic 2C", Nr: unix.SYS_REBOOT, Args: args(unix.LINUX_REBOOT_MAGIC1, 537993216, unix.LINUX_REBOOT_CMD_RESTART), Want: cont},
	{Name: "bad first magic", Nr: unix.SYS_REBOOT, Args: args(1, unix.LINUX_REBOOT_MAGIC2, 0), Want: errno(unix.EINVAL)},
	{Name: "bad second magic", Nr: unix.SYS_REBOOT, Args: args(unix.LINUX_REBOOT_MAGIC1, 1, 0), Want: errno(unix.EINVAL)},

	{Name: "files", Nr: unix.SYS_UNSHARE, Args: args(unix.CLONE_FILES | unix.CLONE_FS), Want: cont},
	{Name: "a mount namespace", Nr: unix.SYS_UNSHARE, Args: args(unix.CLONE_NEWNS), Want: errno(unix.EPERM)},
	{Name: "a user namespace", Nr: unix.SYS_UNSHARE, Args: args(unix.CLONE_NEWUSER), Want: errno(unix.EPERM)},

	{Name: "lx-enter joins the user namespace", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: inInits("user", 3, unix.CLONE_NEWUSER), Want: cont},
	{Name: "lx-enter joins the mount namespace", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: inInits("mnt", 3, unix.CLONE_NEWNS), Want: cont},
	{Name: "a guest joins a user namespace", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: func(e *env) []uint64 {
			e.WriteFile("1/ns/user", "init's")
			e.WriteFile(strconv.Itoa(servertest.Tid)+"/ns/user", "the guests'")
			return []uint64{3, unix.CLONE_NEWUSER}
		}, Want: errno(unix.EPERM)},
	{Name: "init joins", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: then(func(e *env) { e.Thread(initPid, servertest.Tid) }, inInits("mnt", 3, unix.CLONE_NEWNS)), Want: errno(unix.EPERM)},
	{Name: "a net namespace", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: inInits("net", 3, unix.CLONE_NEWNET), Want: errno(unix.EPERM)},
	{Name: "any namespace", Nr: unix.SYS_SETNS, Opt: opts{InitPid: initPid},
		Args: inInits("user", 3, 0), Want: errno(unix.EPERM)},
}

// inInits puts the caller in init's namespace ns and returns args.
func inInits(ns string, a ...uint64) func(*env) []uint64 {
	return func(e *env) []uint64 { e.SetNS(servertest.Tid, initPid, ns); return a }
}

// limited are served by a procsrv bounded at two processes.
var limited = []tc{
	{Name: "one process: admitted", Nr: unix.SYS_FORK, Want: cont},
	{Name: "at the bound", Nr: unix.SYS_FORK, Args: func(e *env) []uint64 { e.Task(200); return nil }, Want: errno(unix.EAGAIN)},
	{Name: "at the bound", Nr: unix.SYS_VFORK, Args: func(e *env) []uint64 { e.Task(200); return nil }, Want: errno(unix.EAGAIN)},
	{Name: "at the bound", Nr: unix.SYS_CLONE, Args: func(e *env) []uint64 { e.Task(200); return []uint64{sigchld} }, Want: errno(unix.EAGAIN)},
	{Name: "a namespace at the bound", Nr: unix.SYS_CLONE, Args: func(e *env) []uint64 { e.Task(200); return []uint64{unix.CLONE_NEWNET} }, Want: errno(unix.EPERM)},
}

func table(*env) servers.Table { return Table(&launch.Config{Name: "procsrv"}) }

func TestHandlers(t *testing.T) { servertest.Run(t, table, cases) }

func TestProcessBound(t *testing.T) {
	servertest.Run(t, func(*env) servers.Table { return Table(&launch.Config{Name: "procsrv", MaxProcs: 2}) }, limited)
}

func TestEveryHandlerHasCases(t *testing.T) {
	servertest.Covered(t, table(nil), append(cases, limited...))
}
