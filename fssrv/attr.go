package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// Calls that follow the final symlink act on the resolved O_PATH fd through
// the server's own /proc/self/fd/N name (the kernel has no fd form of them
// for O_PATH fds); calls that must not follow it act on parent fd + name.

// changeTarget checks the AT_ flags of a metadata change, resolves its
// target and checks the call is still pending before the change is made.
func changeTarget(c *servers.Call, d, i, flags int) (int, error) {
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return -1, unix.EINVAL
	}
	fd, err := lookup(c, d, i, flags)
	if err != nil {
		return -1, err
	}
	if err := c.Valid(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Chmod implements Linux syscall chmod(2).
func Chmod(c *servers.Call) (int64, error) { return fchmodat(c, -1, 0, c.ModeT(1), 0) }

// Fchmodat implements Linux syscall fchmodat(2), which has no flags.
func Fchmodat(c *servers.Call) (int64, error) { return fchmodat(c, 0, 1, c.ModeT(2), 0) }

// Fchmodat2 implements Linux syscall fchmodat2(2).
func Fchmodat2(c *servers.Call) (int64, error) {
	return fchmodat(c, 0, 1, c.ModeT(2), int(c.Int(3)))
}

func fchmodat(c *servers.Call, d, i int, mode uint32, flags int) (int64, error) {
	fd, err := changeTarget(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return 0, unix.EOPNOTSUPP
	}
	return 0, unix.Chmod(servers.FdPath(fd), mode&0o7777)
}

// Chown implements Linux syscall chown(2).
func Chown(c *servers.Call) (int64, error) { return fchownat(c, -1, 0, 1, 2, 0) }

// Lchown implements Linux syscall lchown(2).
func Lchown(c *servers.Call) (int64, error) {
	return fchownat(c, -1, 0, 1, 2, unix.AT_SYMLINK_NOFOLLOW)
}

// Fchownat implements Linux syscall fchownat(2).
func Fchownat(c *servers.Call) (int64, error) { return fchownat(c, 0, 1, 2, 3, int(c.Int(4))) }

func fchownat(c *servers.Call, d, i, u, g, flags int) (int64, error) {
	uid, gid := -1, -1
	if v := c.Uint(u); v != ^uint32(0) {
		h, ok := c.IDs().UID.ToHost(v)
		if !ok {
			return 0, unix.EINVAL
		}
		uid = int(h)
	}
	if v := c.Uint(g); v != ^uint32(0) {
		h, ok := c.IDs().GID.ToHost(v)
		if !ok {
			return 0, unix.EINVAL
		}
		gid = int(h)
	}
	fd, err := changeTarget(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return 0, unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
}

// Utime implements Linux syscall utime(2).
func Utime(c *servers.Call) (int64, error) {
	var ts *[2]unix.Timespec
	if p := c.Pointer(1); p != 0 {
		var ub [2]int64 // struct utimbuf {actime, modtime}
		if err := servers.ReadStruct(c, p, &ub); err != nil {
			return 0, err
		}
		ts = &[2]unix.Timespec{{Sec: ub[0]}, {Sec: ub[1]}}
	}
	return utimensat(c, -1, 0, ts, 0)
}

// Utimes implements Linux syscall utimes(2).
func Utimes(c *servers.Call) (int64, error) { return futimesat(c, -1, 0, 1) }

// Futimesat implements Linux syscall futimesat(2).
func Futimesat(c *servers.Call) (int64, error) { return futimesat(c, 0, 1, 2) }

func futimesat(c *servers.Call, d, i, t int) (int64, error) {
	var ts *[2]unix.Timespec
	if p := c.Pointer(t); p != 0 {
		var tv [2]unix.Timeval
		if err := servers.ReadStruct(c, p, &tv); err != nil {
			return 0, err
		}
		for _, v := range tv {
			if v.Usec < 0 || v.Usec >= 1e6 {
				return 0, unix.EINVAL
			}
		}
		ts = &[2]unix.Timespec{unix.NsecToTimespec(tv[0].Nano()), unix.NsecToTimespec(tv[1].Nano())}
	}
	return utimensat(c, d, i, ts, 0)
}

// Utimensat implements Linux syscall utimensat(2). The futimens form (no
// path) runs natively.
func Utimensat(c *servers.Call) (int64, error) {
	var ts *[2]unix.Timespec
	if p := c.Pointer(2); p != 0 {
		ts = new([2]unix.Timespec)
		if err := servers.ReadStruct(c, p, ts); err != nil {
			return 0, err
		}
	}
	return utimensat(c, 0, 1, ts, int(c.Int(3)))
}

func utimensat(c *servers.Call, d, i int, ts *[2]unix.Timespec, flags int) (int64, error) {
	fd, err := changeTarget(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var t []unix.Timespec
	if ts != nil {
		t = ts[:]
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// Only reached with AT_SYMLINK_NOFOLLOW: set the link's own times.
		pfd, base, err := parentAt(c, d, i)
		if err != nil {
			return 0, err
		}
		defer closeParent(pfd)
		return 0, unix.UtimesNanoAt(pfd, base, t, unix.AT_SYMLINK_NOFOLLOW)
	}
	return 0, unix.UtimesNanoAt(unix.AT_FDCWD, servers.FdPath(fd), t, 0)
}

// Truncate implements Linux syscall truncate(2).
func Truncate(c *servers.Call) (int64, error) {
	if c.Long(1) < 0 {
		return 0, unix.EINVAL
	}
	fd, err := changeTarget(c, -1, 0, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return 0, unix.Truncate(servers.FdPath(fd), c.Long(1))
}
