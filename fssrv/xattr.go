package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// Extended attributes. The l* forms act on a symlink itself; Linux allows
// only trusted.* and security.* there, which guests of an unprivileged
// instance cannot set, so a symlink answers as Linux does for user.*.

const xattrNameMax = 255
const xattrSizeMax = 65536

func xattrTarget(c *servers.Call, nofollow bool) (fd int, symlink bool, err error) {
	flags := 0
	if nofollow {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	fd, err = lookup(c, -1, 0, flags)
	if err != nil {
		return -1, false, err
	}
	if nofollow {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, false, err
		}
		symlink = st.Mode&unix.S_IFMT == unix.S_IFLNK
	}
	return fd, symlink, nil
}

func xattrName(c *servers.Call) (string, error) {
	name, err := c.String(1, xattrNameMax+1, unix.ERANGE)
	if err == nil && name == "" {
		err = unix.ERANGE
	}
	return name, err
}

// namedXattr reads the attribute name, resolves the target and runs op on
// the server's /proc name for it; a symlink (only with nofollow) answers
// onSymlink instead.
func namedXattr(c *servers.Call, nofollow bool, onSymlink unix.Errno, op func(name, path string) (int64, error)) (int64, error) {
	name, err := xattrName(c)
	if err != nil {
		return 0, err
	}
	fd, symlink, err := xattrTarget(c, nofollow)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if symlink {
		return 0, onSymlink
	}
	return op(name, servers.FdPath(fd))
}

// Setxattr implements Linux syscall setxattr(2).
func Setxattr(c *servers.Call) (int64, error) { return setxattr(c, false) }

// Lsetxattr implements Linux syscall lsetxattr(2).
func Lsetxattr(c *servers.Call) (int64, error) { return setxattr(c, true) }

func setxattr(c *servers.Call, nofollow bool) (int64, error) {
	size := c.SizeT(3)
	if size > xattrSizeMax {
		return 0, unix.E2BIG
	}
	val := make([]byte, size)
	if err := c.Read(c.Pointer(2), val); err != nil {
		return 0, err
	}
	return namedXattr(c, nofollow, unix.EPERM, func(name, path string) (int64, error) {
		if err := c.Valid(); err != nil {
			return 0, err
		}
		return 0, unix.Setxattr(path, name, val, int(c.Int(4)))
	})
}

// Getxattr implements Linux syscall getxattr(2).
func Getxattr(c *servers.Call) (int64, error) { return getxattr(c, false) }

// Lgetxattr implements Linux syscall lgetxattr(2).
func Lgetxattr(c *servers.Call) (int64, error) { return getxattr(c, true) }

func getxattr(c *servers.Call, nofollow bool) (int64, error) {
	return namedXattr(c, nofollow, unix.ENODATA, func(name, path string) (int64, error) {
		buf := make([]byte, min(c.SizeT(3), xattrSizeMax))
		n, err := unix.Getxattr(path, name, buf)
		if err != nil {
			return 0, err
		}
		if len(buf) == 0 {
			return int64(n), nil
		}
		return int64(n), c.Write(c.Pointer(2), buf[:n])
	})
}

// Listxattr implements Linux syscall listxattr(2).
func Listxattr(c *servers.Call) (int64, error) { return listxattr(c, false) }

// Llistxattr implements Linux syscall llistxattr(2).
func Llistxattr(c *servers.Call) (int64, error) { return listxattr(c, true) }

func listxattr(c *servers.Call, nofollow bool) (int64, error) {
	fd, symlink, err := xattrTarget(c, nofollow)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if symlink {
		return 0, nil
	}
	buf := make([]byte, min(c.SizeT(2), xattrSizeMax))
	n, err := unix.Listxattr(servers.FdPath(fd), buf)
	if err != nil {
		return 0, err
	}
	if len(buf) == 0 {
		return int64(n), nil
	}
	return int64(n), c.Write(c.Pointer(1), buf[:n])
}

// Removexattr implements Linux syscall removexattr(2).
func Removexattr(c *servers.Call) (int64, error) { return removexattr(c, false) }

// Lremovexattr implements Linux syscall lremovexattr(2).
func Lremovexattr(c *servers.Call) (int64, error) { return removexattr(c, true) }

func removexattr(c *servers.Call, nofollow bool) (int64, error) {
	return namedXattr(c, nofollow, unix.ENODATA, func(name, path string) (int64, error) {
		if err := c.Valid(); err != nil {
			return 0, err
		}
		return 0, unix.Removexattr(path, name)
	})
}
