// Package procsrv is the instance's process server: fork, vfork and clone
// of processes, exec, identities and limits (DESIGN §4). Each call is
// checked here with Linux's errors and then continued: the kernel makes the
// process, replaces the image or changes the credentials itself, inside
// the instance's pid and user namespaces.
//
//   - fork, vfork, clone: namespace flags are EPERM, but for init's one
//     clone of the holder; past launch.Config.MaxProcs processes, EAGAIN
//     (table.go). Where the kernel bounds the instance's tasks only clones
//     with namespace flags come here (routes.Profile.NativeForks).
//   - execve, execveat (exec.go): the target is opened in the guests' root
//     and checked as the kernel will, a 32-bit program refused with a clear
//     log line (shared/elfhdr); only where execs trap
//     (routes.Profile.NativeExecs off).
//   - the setuid family and setgroups (cred.go): ids must be mapped in the
//     instance (EINVAL); the kernel applies its rules. setrlimit, prlimit64
//     (limits.go): resource and value checks.
//
// Runs in: the procsrv process of each instance. Owns: nothing that must
// survive it; the process count is read from the instance's /proc
// (table.go). Waits on: nobody.
package procsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/launch"
	"lx/shared/routes"
)

// Table is procsrv's handler table, counting forks against
// cfg.MaxProcs. Its keys must be exactly the Proc routes.
func Table(cfg *launch.Config) servers.Table {
	procs = procCount{max: defaultMaxProcs}
	if cfg.MaxProcs > 0 {
		procs.max = cfg.MaxProcs
	}
	return servers.Table{
		unix.SYS_FORK:        Fork,
		unix.SYS_VFORK:       Vfork,
		unix.SYS_CLONE:       Clone,
		unix.SYS_EXECVE:      Execve,
		unix.SYS_EXECVEAT:    Execveat,
		unix.SYS_SETUID:      Setuid,
		unix.SYS_SETGID:      Setgid,
		unix.SYS_SETREUID:    Setreuid,
		unix.SYS_SETREGID:    Setregid,
		unix.SYS_SETRESUID:   Setresuid,
		unix.SYS_SETRESGID:   Setresgid,
		unix.SYS_SETFSUID:    Setfsuid,
		unix.SYS_SETFSGID:    Setfsgid,
		unix.SYS_SETGROUPS:   Setgroups,
		unix.SYS_SETRLIMIT:   Setrlimit,
		unix.SYS_PRLIMIT64:   Prlimit64,
		unix.SYS_PERSONALITY: Personality,
		unix.SYS_REBOOT:      Reboot,
		unix.SYS_UNSHARE:     Unshare,
		unix.SYS_SETNS:       Setns,
	}
}

// namespaceFlags are the clone/unshare flags that would make a namespace
// inside the instance, out of fssrv's and netsrv's view.
const namespaceFlags = routes.NamespaceFlags

// holderFlags are the namespaces of the guests: a user namespace nested in
// the instance's and a mount namespace whose copy of the keeper's mounts
// the kernel locks. Only init makes them, once.
const holderFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS

// Fork implements Linux syscall fork(2).
func Fork(c *servers.Call) (int64, error) {
	if err := procs.admit(c); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Vfork implements Linux syscall vfork(2).
func Vfork(c *servers.Call) (int64, error) { return Fork(c) }

// Clone implements Linux syscall clone(2) for new processes; threads
// (CLONE_THREAD) never reach procsrv, the filter runs them natively.
func Clone(c *servers.Call) (int64, error) {
	if c.Args[0]&namespaceFlags == holderFlags && c.FromInit() {
		// init starting the holder of the guests' namespaces
		// (lxbroker/runtime/pid1/enter.go); guests cannot reach init.
		return Fork(c)
	}
	if c.Args[0]&namespaceFlags != 0 {
		c.Log().Info("clone with namespace flags refused")
		return 0, unix.EPERM
	}
	return Fork(c)
}

// Unshare implements Linux syscall unshare(2): no new namespaces.
func Unshare(c *servers.Call) (int64, error) {
	if c.Args[0]&namespaceFlags != 0 {
		return 0, unix.EPERM
	}
	return 0, servers.ErrContinue
}

// Setns implements Linux syscall setns(2). A guest has no other namespaces
// to join. The one process that may is lx-enter, init's child joining the
// guests' user and mount namespaces before it executes a launched command
// (lxbroker/runtime/pid1/enter.go): it is the only process of the instance
// besides init still in the instance's own user namespace (to join another
// user namespace) or in init's mount namespace (to join another mount
// namespace); guests are in neither, and the kernel lets no process join
// a namespace it has no privilege over.
func Setns(c *servers.Call) (int64, error) {
	switch c.Int(1) {
	case unix.CLONE_NEWUSER:
		if c.InInitNS(c.Tid(), "user") && !c.FromInit() {
			return 0, servers.ErrContinue
		}
	case unix.CLONE_NEWNS:
		if c.InInitNS(c.Tid(), "mnt") && !c.FromInit() {
			return 0, servers.ErrContinue
		}
	}
	return 0, unix.EPERM
}

// Personality implements Linux syscall personality(2): Linux personalities
// only (the filter refuses 32-bit system calls).
func Personality(c *servers.Call) (int64, error) {
	p := c.Uint(0)
	if p != 0xffffffff && p&0xff != 0 {
		return 0, unix.EINVAL
	}
	return 0, servers.ErrContinue
}

// Reboot implements Linux syscall reboot(2). In the instance's pid
// namespace the kernel turns a restart or power-off into the end of init,
// and so of the instance.
func Reboot(c *servers.Call) (int64, error) {
	if c.Uint(0) != unix.LINUX_REBOOT_MAGIC1 {
		return 0, unix.EINVAL
	}
	switch c.Uint(1) {
	case unix.LINUX_REBOOT_MAGIC2, 85072278, 369367448, 537993216: // MAGIC2, 2A, 2B, 2C
	default:
		return 0, unix.EINVAL
	}
	return 0, servers.ErrContinue
}
