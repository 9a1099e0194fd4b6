package sigsrv

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/procfs"
)

// killAll is kill(-1, sig) with the holder left out. Linux sends sig to
// every process of the caller's pid namespace but init and the caller's
// own thread group that the caller may signal, and answers 0 if there was
// any such process, even one it may not signal, else ESRCH (kill(2)). The
// permission rule is Linux's (kill_ok_by_cred): the caller's real or
// effective uid is the target's real or saved uid, or the caller has
// CAP_KILL (every guest is in the same user namespace), or sig is SIGCONT
// within the caller's session. The receiver sees a signal from pid 0 (the
// sender is outside the instance's pid namespace), uid 0.
func killAll(c *servers.Call, sig int32) (int64, error) {
	me, err := c.Status()
	if err != nil {
		return 0, unix.ESRCH
	}
	self := last(me["NStgid"]) // the caller's pid in the instance
	mySid := ""
	if dir, err := unix.Openat(c.Proc(), self, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		mySid = sessionAt(dir)
		unix.Close(dir)
	}
	procs, err := procfs.Pids(c.Proc())
	if err != nil {
		return 0, unix.ESRCH
	}
	canKill := me.Has(unix.CAP_KILL)
	count := 0
	for _, pid := range procs {
		name := strconv.Itoa(pid)
		if pid <= 1 || name == self {
			continue
		}
		count++
		if pid == c.HolderPid() {
			continue
		}
		dir, err := unix.Openat(c.Proc(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		it, err := procfs.ReadStatus(dir, "status")
		if err == nil && (canKill || sameUser(me["Uid"], it["Uid"]) ||
			(sig == int32(unix.SIGCONT) && mySid != "" && mySid == sessionAt(dir))) {
			unix.PidfdSendSignal(dir, unix.Signal(sig), nil, 0)
		}
		unix.Close(dir)
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	if count == 0 {
		return 0, unix.ESRCH
	}
	return 0, nil
}

// pidfdNamesHolder reports whether the guest's fd at argument 0, a pidfd
// or a /proc/PID directory, names the holder.
func pidfdNamesHolder(c *servers.Call) (bool, error) {
	h := c.HolderPid()
	if h <= 0 {
		return false, nil
	}
	fd, err := c.GuestFd(0)
	if err != nil {
		if e := servers.Errno(err); e == unix.ESRCH || e == unix.EINTR {
			return false, err // the caller is gone
		}
		return false, unix.EBADF
	}
	defer unix.Close(fd)
	var st, hst unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.Fstatat(c.Proc(), strconv.Itoa(h), &hst, 0) == nil && st.Dev == hst.Dev && st.Ino == hst.Ino, nil
	}
	info, err := procfs.ReadStatus(unix.AT_FDCWD, "/proc/self/fdinfo/"+strconv.Itoa(fd))
	if err != nil {
		return false, nil
	}
	ns := strings.Fields(info["NSpid"])
	if len(ns) < 2 || ns[len(ns)-1] != strconv.Itoa(h) {
		return false, nil
	}
	// the holder's pid, in the instance's pid namespace
	pid, err := strconv.Atoi(ns[0])
	return err == nil && c.InInitNS(pid, "pid"), nil
}

func last(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// sameUser is kill_ok_by_cred's uid rule on two Uid lines (real,
// effective, saved, fs), both read by sigsrv and so in the same ids.
func sameUser(caller, target string) bool {
	a, b := strings.Fields(caller), strings.Fields(target)
	if len(a) < 2 || len(b) < 3 {
		return false
	}
	for _, x := range []string{a[0], a[1]} { // real, effective
		if x == b[0] || x == b[2] { // real, saved
			return true
		}
	}
	return false
}

// sessionAt is field 6 (session) of the stat file in a /proc/PID dir.
func sessionAt(dir int) string {
	fd, err := unix.Openat(dir, "stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	f := os.NewFile(uintptr(fd), "stat")
	defer f.Close()
	b := make([]byte, 1024)
	n, _ := f.Read(b)
	return session(string(b[:n]))
}

func session(stat string) string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 4 {
		return ""
	}
	return f[3]
}
