// Package sigsrv is the instance's signal server: the calls that send a
// signal across a process boundary (DESIGN §4).
//
// Each call is checked here (signal number, target, flags, the siginfo
// pointer) and its target looked up in the instance's /proc, then sent by
// the kernel from the guest's context: the receiver sees the sender's guest
// pid and uid, Linux's permission rules apply, and the pid namespace keeps
// kill(-1), kill(0) and kill(-pgid) inside the instance. The holder of the
// guests' namespaces is, like init, not for guests to signal (EPERM), and a
// guest's kill(-1) is sent here to every other process the caller may
// signal (holder.go). Signal dispositions, masks and waits run natively.
//
// Runs in: the sigsrv process of each instance. Owns: nothing. Waits on:
// nobody.
package sigsrv

import (
	"strconv"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/launch"
)

// Table is sigsrv's handler table. Its keys must be exactly the Sig routes.
func Table(*launch.Config) servers.Table {
	return servers.Table{
		unix.SYS_KILL:              Kill,
		unix.SYS_TKILL:             Tkill,
		unix.SYS_TGKILL:            Tgkill,
		unix.SYS_RT_SIGQUEUEINFO:   RtSigqueueinfo,
		unix.SYS_RT_TGSIGQUEUEINFO: RtTgsigqueueinfo,
		unix.SYS_PIDFD_SEND_SIGNAL: PidfdSendSignal,
	}
}

const maxSig = 64

func checkSig(sig int32) error {
	if sig < 0 || sig > maxSig {
		return unix.EINVAL
	}
	return nil
}

// exists reports whether guest path p (under the instance's /proc) exists.
func exists(c *servers.Call, p string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(c.Proc(), p, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return unix.ESRCH
	}
	return nil
}

// Kill implements Linux syscall kill(2).
func Kill(c *servers.Call) (int64, error) {
	pid, sig := c.Int(0), c.Int(1)
	if err := checkSig(sig); err != nil {
		return 0, err
	}
	if pid == -1<<31 {
		return 0, unix.ESRCH
	}
	if h := int32(c.HolderPid()); h > 0 && (pid == h || pid == -h) {
		return 0, unix.EPERM
	}
	// init's kill(-1) at teardown is for every process, the holder too.
	if pid == -1 && sig != 0 && c.HolderPid() > 0 && !c.FromInit() {
		return killAll(c, sig)
	}
	if pid > 0 {
		if err := exists(c, strconv.Itoa(int(pid))); err != nil {
			return 0, err
		}
	}
	return 0, servers.ErrContinue
}

// holderThread reports whether tid is a thread of the holder.
func holderThread(c *servers.Call, tid int32) bool {
	h := c.HolderPid()
	return h > 0 && exists(c, strconv.Itoa(h)+"/task/"+strconv.Itoa(int(tid))) == nil
}

// Tkill implements Linux syscall tkill(2).
func Tkill(c *servers.Call) (int64, error) {
	tid, sig := c.Int(0), c.Int(1)
	if tid <= 0 {
		return 0, unix.EINVAL
	}
	if err := checkSig(sig); err != nil {
		return 0, err
	}
	if holderThread(c, tid) {
		return 0, unix.EPERM
	}
	if err := exists(c, strconv.Itoa(int(tid))); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Tgkill implements Linux syscall tgkill(2).
func Tgkill(c *servers.Call) (int64, error) {
	tgid, tid, sig := c.Int(0), c.Int(1), c.Int(2)
	if tgid <= 0 || tid <= 0 {
		return 0, unix.EINVAL
	}
	if err := checkSig(sig); err != nil {
		return 0, err
	}
	if tgid == int32(c.HolderPid()) {
		return 0, unix.EPERM
	}
	if err := exists(c, strconv.Itoa(int(tgid))+"/task/"+strconv.Itoa(int(tid))); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

func readSiginfo(c *servers.Call, i int) error {
	var info [128]byte
	return c.Read(c.Pointer(i), info[:])
}

// RtSigqueueinfo implements Linux syscall rt_sigqueueinfo(2).
func RtSigqueueinfo(c *servers.Call) (int64, error) {
	if err := readSiginfo(c, 2); err != nil {
		return 0, err
	}
	if err := checkSig(c.Int(1)); err != nil {
		return 0, err
	}
	if h := c.HolderPid(); h > 0 && int(c.Int(0)) == h {
		return 0, unix.EPERM
	}
	if err := exists(c, strconv.Itoa(int(c.Int(0)))); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// RtTgsigqueueinfo implements Linux syscall rt_tgsigqueueinfo(2).
func RtTgsigqueueinfo(c *servers.Call) (int64, error) {
	tgid, tid := c.Int(0), c.Int(1)
	if tgid <= 0 || tid <= 0 {
		return 0, unix.EINVAL
	}
	if err := readSiginfo(c, 3); err != nil {
		return 0, err
	}
	if err := checkSig(c.Int(2)); err != nil {
		return 0, err
	}
	if tgid == int32(c.HolderPid()) {
		return 0, unix.EPERM
	}
	if err := exists(c, strconv.Itoa(int(tgid))+"/task/"+strconv.Itoa(int(tid))); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

const pidfdSignalFlags = 1 | 2 | 4 // PIDFD_SIGNAL_THREAD, _THREAD_GROUP, _PROCESS_GROUP

// PidfdSendSignal implements Linux syscall pidfd_send_signal(2); the pidfd
// is the guest's own and can only name a process it could see.
func PidfdSendSignal(c *servers.Call) (int64, error) {
	if c.Uint(3)&^pidfdSignalFlags != 0 {
		return 0, unix.EINVAL
	}
	if err := checkSig(c.Int(1)); err != nil {
		return 0, err
	}
	if c.Pointer(2) != 0 {
		if err := readSiginfo(c, 2); err != nil {
			return 0, err
		}
	}
	if names, err := pidfdNamesHolder(c); err != nil || names {
		if err == nil {
			err = unix.EPERM
		}
		return 0, err
	}
	return 0, servers.ErrContinue
}
