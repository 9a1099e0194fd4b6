package sigsrv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/servers/servertest"
	"lx/shared/launch"
)

const (
	initPid = 1
	holder  = 50
	other   = 200 // another guest
)

var withHolder = servertest.Options{InitPid: initPid, Holder: holder}

func args(a ...uint64) func(*servertest.Env) []uint64 {
	return func(*servertest.Env) []uint64 { return a }
}

func neg(v int32) uint64 { return uint64(int64(v)) }

// task makes other (and its thread other+1) exist, then returns a.
func task(a ...uint64) func(*servertest.Env) []uint64 {
	return func(e *servertest.Env) []uint64 {
		e.Task(other)
		e.Thread(other, other+1)
		return a
	}
}

// siginfo is a mapped siginfo_t (128 bytes).
func siginfo(e *servertest.Env) uint64 { return e.Mem.Alloc(128) }

var cases = []servertest.Case{
	// kill
	{Name: "signal out of range", Nr: unix.SYS_KILL, Args: task(other, 65), Want: servertest.Errno(unix.EINVAL)},
	{Name: "negative signal", Nr: unix.SYS_KILL, Args: task(other, neg(-1)), Want: servertest.Errno(unix.EINVAL)},
	{Name: "INT_MIN", Nr: unix.SYS_KILL, Args: args(neg(-1<<31), 9), Want: servertest.Errno(unix.ESRCH)},
	{Name: "a guest", Nr: unix.SYS_KILL, Args: task(other, 9), Want: servertest.Continue},
	{Name: "probe a guest", Nr: unix.SYS_KILL, Args: task(other, 0), Want: servertest.Continue},
	{Name: "no such pid", Nr: unix.SYS_KILL, Args: args(other, 9), Want: servertest.Errno(unix.ESRCH)},
	{Name: "the holder", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(holder, 9), Want: servertest.Errno(unix.EPERM)},
	{Name: "the holder's group", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(neg(-holder), 9), Want: servertest.Errno(unix.EPERM)},
	{Name: "own group", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(0, 15), Want: servertest.Continue},
	{Name: "another group", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(neg(-other), 15), Want: servertest.Continue},
	{Name: "everyone, before the holder runs", Nr: unix.SYS_KILL, Opt: servertest.Options{InitPid: initPid}, Args: args(neg(-1), 15), Want: servertest.Continue},
	{Name: "everyone, probed", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(neg(-1), 0), Want: servertest.Continue},
	{Name: "everyone, from init at teardown", Nr: unix.SYS_KILL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 { e.Thread(initPid, servertest.Tid); return []uint64{neg(-1), 15} }, Want: servertest.Continue},
	{Name: "everyone but the holder", Nr: unix.SYS_KILL, Opt: withHolder, Args: task(neg(-1), 15), Want: servertest.Val(0)},
	{Name: "everyone, only the holder there", Nr: unix.SYS_KILL, Opt: withHolder, Args: args(neg(-1), 15), Want: servertest.Val(0)},
	{Name: "everyone, nobody there", Nr: unix.SYS_KILL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 {
			os.RemoveAll(filepath.Join(e.Proc, strconv.Itoa(holder)))
			return []uint64{neg(-1), 15}
		}, Want: servertest.Errno(unix.ESRCH)},
	{Name: "everyone, caller gone", Nr: unix.SYS_KILL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 { e.Gone = true; return []uint64{neg(-1), 15} }, Want: servertest.Errno(unix.EINTR)},
	{Name: "everyone, no status", Nr: unix.SYS_KILL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 {
			os.Remove(filepath.Join(e.Proc, strconv.Itoa(servertest.Tid), "status"))
			return []uint64{neg(-1), 15}
		}, Want: servertest.Errno(unix.ESRCH)},

	// tkill
	{Name: "a guest thread", Nr: unix.SYS_TKILL, Args: task(other, 10), Want: servertest.Continue},
	{Name: "tid 0", Nr: unix.SYS_TKILL, Args: args(0, 10), Want: servertest.Errno(unix.EINVAL)},
	{Name: "signal out of range", Nr: unix.SYS_TKILL, Args: task(other, 99), Want: servertest.Errno(unix.EINVAL)},
	{Name: "no such thread", Nr: unix.SYS_TKILL, Args: args(other, 10), Want: servertest.Errno(unix.ESRCH)},
	{Name: "a holder thread", Nr: unix.SYS_TKILL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 { e.Thread(holder, holder+1); return []uint64{holder + 1, 9} }, Want: servertest.Errno(unix.EPERM)},

	// tgkill
	{Name: "a guest thread", Nr: unix.SYS_TGKILL, Args: task(other, other+1, 10), Want: servertest.Continue},
	{Name: "tgid 0", Nr: unix.SYS_TGKILL, Args: task(0, other, 10), Want: servertest.Errno(unix.EINVAL)},
	{Name: "tid 0", Nr: unix.SYS_TGKILL, Args: task(other, 0, 10), Want: servertest.Errno(unix.EINVAL)},
	{Name: "signal out of range", Nr: unix.SYS_TGKILL, Args: task(other, other, 65), Want: servertest.Errno(unix.EINVAL)},
	{Name: "thread of another group", Nr: unix.SYS_TGKILL, Args: task(servertest.Tid, other+1, 10), Want: servertest.Errno(unix.ESRCH)},
	{Name: "the holder", Nr: unix.SYS_TGKILL, Opt: withHolder, Args: args(holder, holder, 9), Want: servertest.Errno(unix.EPERM)},

	// rt_sigqueueinfo
	{Name: "a guest", Nr: unix.SYS_RT_SIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, 10, siginfo(e)} }, Want: servertest.Continue},
	{Name: "siginfo unmapped", Nr: unix.SYS_RT_SIGQUEUEINFO, Args: task(other, 10, servertest.Unmapped), Want: servertest.Errno(unix.EFAULT)},
	{Name: "siginfo short of 128 bytes", Nr: unix.SYS_RT_SIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, 10, e.Mem.Alloc(127)} }, Want: servertest.Errno(unix.EFAULT)},
	{Name: "signal out of range", Nr: unix.SYS_RT_SIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, 65, siginfo(e)} }, Want: servertest.Errno(unix.EINVAL)},
	{Name: "the holder", Nr: unix.SYS_RT_SIGQUEUEINFO, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 { return []uint64{holder, 10, siginfo(e)} }, Want: servertest.Errno(unix.EPERM)},
	{Name: "no such pid", Nr: unix.SYS_RT_SIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { return []uint64{other, 10, siginfo(e)} }, Want: servertest.Errno(unix.ESRCH)},

	// rt_tgsigqueueinfo
	{Name: "a guest thread", Nr: unix.SYS_RT_TGSIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, other, 10, siginfo(e)} }, Want: servertest.Continue},
	{Name: "tgid 0", Nr: unix.SYS_RT_TGSIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { return []uint64{0, other, 10, siginfo(e)} }, Want: servertest.Errno(unix.EINVAL)},
	{Name: "tid 0", Nr: unix.SYS_RT_TGSIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { return []uint64{other, 0, 10, siginfo(e)} }, Want: servertest.Errno(unix.EINVAL)},
	{Name: "siginfo unmapped", Nr: unix.SYS_RT_TGSIGQUEUEINFO, Args: task(other, other, 10, servertest.Unmapped), Want: servertest.Errno(unix.EFAULT)},
	{Name: "signal out of range", Nr: unix.SYS_RT_TGSIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, other, 65, siginfo(e)} }, Want: servertest.Errno(unix.EINVAL)},
	{Name: "the holder", Nr: unix.SYS_RT_TGSIGQUEUEINFO, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 { return []uint64{holder, holder, 10, siginfo(e)} }, Want: servertest.Errno(unix.EPERM)},
	{Name: "no such thread", Nr: unix.SYS_RT_TGSIGQUEUEINFO,
		Args: func(e *servertest.Env) []uint64 { e.Task(other); return []uint64{other, other + 1, 10, siginfo(e)} }, Want: servertest.Errno(unix.ESRCH)},

	// pidfd_send_signal
	{Name: "before the holder runs", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Args: args(3, 15, 0, 0), Want: servertest.Continue},
	{Name: "unknown flag", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Args: args(3, 15, 0, 8), Want: servertest.Errno(unix.EINVAL)},
	{Name: "signal out of range", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Args: args(3, 65, 0, 0), Want: servertest.Errno(unix.EINVAL)},
	{Name: "siginfo unmapped", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Args: args(3, 15, servertest.Unmapped, 0), Want: servertest.Errno(unix.EFAULT)},
	{Name: "a guest's /proc directory", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 {
			procDir(e, 3, e.Task(other))
			return []uint64{3, 15, siginfo(e), 1}
		}, Want: servertest.Continue},
	{Name: "the holder's /proc directory", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 {
			procDir(e, 3, e.Task(holder))
			return []uint64{3, 15, 0, 0}
		}, Want: servertest.Errno(unix.EPERM)},
	with(nested(true), "a pidfd of the holder", servertest.Errno(unix.EPERM)),
	with(nested(false), "a pidfd of pid 1 of another namespace", servertest.Continue),
	{Name: "a closed fd", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Opt: withHolder, Args: args(7, 15, 0, 0), Want: servertest.Errno(unix.EBADF)},
	{Name: "caller gone", Nr: unix.SYS_PIDFD_SEND_SIGNAL, Opt: withHolder,
		Args: func(e *servertest.Env) []uint64 {
			procDir(e, 3, e.Task(other))
			e.Gone = true
			return []uint64{3, 15, 0, 0}
		}, Want: servertest.Errno(unix.EINTR)},
}

func with(c servertest.Case, name string, want servertest.Reply) servertest.Case {
	c.Name, c.Want = name, want
	return c
}

// procDir gives the caller fd n open on dir.
func procDir(e *servertest.Env, n int, dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		e.T.Fatal(err)
	}
	defer unix.Close(fd)
	e.GuestFd(n, fd)
}

// nested is the holder as a pidfd shows it: pid 1 of a pid namespace
// nested in the host's, which is the instance's (init's) when inInstance.
// The guest's fd 3 is a pidfd of it.
func nested(inInstance bool) servertest.Case {
	return servertest.Case{Nr: unix.SYS_PIDFD_SEND_SIGNAL, Opt: servertest.Options{InitPid: 7, Holder: 1},
		Args: func(e *servertest.Env) []uint64 {
			servertest.Root(e.T, "a process in a new pid namespace")
			cmd := exec.Command("sleep", "60")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID}
			if err := cmd.Start(); err != nil {
				e.T.Fatal(err)
			}
			e.T.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
			if err != nil {
				e.T.Fatal(err)
			}
			defer unix.Close(pidfd)
			e.GuestFd(3, pidfd)
			e.Task(cmd.Process.Pid)
			if inInstance {
				e.SetNS(cmd.Process.Pid, 7, "pid")
			} else {
				e.WriteFile(strconv.Itoa(cmd.Process.Pid)+"/ns/pid", "another")
				e.WriteFile("7/ns/pid", "the instance's")
			}
			return []uint64{3, 15, 0, 0}
		}}
}

func table(*servertest.Env) servers.Table { return Table(&launch.Config{Name: "sigsrv"}) }

func TestHandlers(t *testing.T) { servertest.Run(t, table, cases) }

func TestEveryHandlerHasCases(t *testing.T) { servertest.Covered(t, table(nil), cases) }
