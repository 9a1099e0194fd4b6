package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// parentAt resolves the directory holding the last component of the path at
// argument i (dirfd at d, -1 for AT_FDCWD).
func parentAt(c *servers.Call, d, i int) (int, string, error) {
	abs, err := at(c, d, i)
	if err != nil {
		return -1, "", err
	}
	fd, base, err := c.Parent(abs)
	if err != nil {
		return -1, "", servers.Fallback(err)
	}
	return fd, base, nil
}

func closeParent(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// Mkdir implements Linux syscall mkdir(2).
func Mkdir(c *servers.Call) (int64, error) { return mknodat(c, -1, 0, c.ModeT(1)|unix.S_IFDIR, 0) }

// Mkdirat implements Linux syscall mkdirat(2).
func Mkdirat(c *servers.Call) (int64, error) {
	return mknodat(c, 0, 1, c.ModeT(2)|unix.S_IFDIR, 0)
}

// Mknod implements Linux syscall mknod(2).
func Mknod(c *servers.Call) (int64, error) { return mknodat(c, -1, 0, c.ModeT(1), c.Long(2)) }

// Mknodat implements Linux syscall mknodat(2).
func Mknodat(c *servers.Call) (int64, error) { return mknodat(c, 0, 1, c.ModeT(2), c.Long(3)) }

func mknodat(c *servers.Call, d, i int, mode uint32, dev int64) (int64, error) {
	typ := mode & unix.S_IFMT
	switch typ {
	case 0:
		typ = unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFDIR:
	case unix.S_IFCHR, unix.S_IFBLK:
		if _, err := c.Path(i); err != nil {
			return 0, err
		}
		return 0, unix.EPERM // as for root in a user namespace
	default:
		return 0, unix.EINVAL
	}
	pfd, base, err := parentAt(c, d, i)
	if err != nil {
		return 0, err
	}
	defer closeParent(pfd)
	if base == "/" || base == "." || base == ".." {
		return 0, unix.EEXIST
	}
	um, err := c.Umask()
	if err != nil {
		return 0, err
	}
	perm := mode & 0o7777 &^ um
	if err := c.Valid(); err != nil {
		return 0, err
	}
	if typ == unix.S_IFDIR {
		return 0, unix.Mkdirat(pfd, base, perm)
	}
	return 0, unix.Mknodat(pfd, base, typ|perm, int(dev))
}

// Unlink implements Linux syscall unlink(2).
func Unlink(c *servers.Call) (int64, error) { return unlinkat(c, -1, 0, 0) }

// Rmdir implements Linux syscall rmdir(2).
func Rmdir(c *servers.Call) (int64, error) { return unlinkat(c, -1, 0, unix.AT_REMOVEDIR) }

// Unlinkat implements Linux syscall unlinkat(2).
func Unlinkat(c *servers.Call) (int64, error) { return unlinkat(c, 0, 1, int(c.Int(2))) }

func unlinkat(c *servers.Call, d, i, flags int) (int64, error) {
	if flags&^unix.AT_REMOVEDIR != 0 {
		return 0, unix.EINVAL
	}
	pfd, base, err := parentAt(c, d, i)
	if err != nil {
		return 0, err
	}
	defer closeParent(pfd)
	switch {
	case base == "/" && flags != 0:
		return 0, unix.EBUSY
	case base == "/":
		return 0, unix.EISDIR
	case base == "." && flags != 0:
		return 0, unix.EINVAL
	case base == ".." && flags != 0:
		return 0, unix.ENOTEMPTY
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	return 0, unix.Unlinkat(pfd, base, flags)
}

// Rename implements Linux syscall rename(2).
func Rename(c *servers.Call) (int64, error) { return renameat2(c, -1, 0, -1, 1, 0) }

// Renameat implements Linux syscall renameat(2).
func Renameat(c *servers.Call) (int64, error) { return renameat2(c, 0, 1, 2, 3, 0) }

// Renameat2 implements Linux syscall renameat2(2).
func Renameat2(c *servers.Call) (int64, error) { return renameat2(c, 0, 1, 2, 3, uint(c.Uint(4))) }

func renameat2(c *servers.Call, od, oi, nd, ni int, flags uint) (int64, error) {
	opfd, obase, err := parentAt(c, od, oi)
	if err != nil {
		return 0, err
	}
	defer closeParent(opfd)
	npfd, nbase, err := parentAt(c, nd, ni)
	if err != nil {
		return 0, err
	}
	defer closeParent(npfd)
	if opfd < 0 || npfd < 0 {
		return 0, unix.EBUSY
	}
	if obase == "." || obase == ".." || nbase == "." || nbase == ".." {
		return 0, unix.EBUSY
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	return 0, unix.Renameat2(opfd, obase, npfd, nbase, flags)
}

// Link implements Linux syscall link(2).
func Link(c *servers.Call) (int64, error) { return linkat(c, -1, 0, -1, 1, 0) }

// Linkat implements Linux syscall linkat(2).
func Linkat(c *servers.Call) (int64, error) { return linkat(c, 0, 1, 2, 3, int(c.Int(4))) }

func linkat(c *servers.Call, od, oi, nd, ni, flags int) (int64, error) {
	if flags&^(unix.AT_SYMLINK_FOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	var ofd int
	var obase string
	var err error
	if flags&unix.AT_SYMLINK_FOLLOW != 0 {
		ofd, err = lookup(c, od, oi, flags&unix.AT_EMPTY_PATH)
		obase = servers.FdPath(ofd)
	} else {
		if p, perr := c.Path(oi); perr == nil && p == "" && flags&unix.AT_EMPTY_PATH != 0 {
			return 0, servers.ErrContinue
		}
		ofd, obase, err = parentAt(c, od, oi)
	}
	if err != nil {
		return 0, err
	}
	defer closeParent(ofd)
	npfd, nbase, err := parentAt(c, nd, ni)
	if err != nil {
		return 0, err
	}
	defer closeParent(npfd)
	if ofd < 0 || npfd < 0 || nbase == "." || nbase == ".." {
		return 0, unix.EEXIST
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	if flags&unix.AT_SYMLINK_FOLLOW != 0 {
		return 0, unix.Linkat(unix.AT_FDCWD, obase, npfd, nbase, unix.AT_SYMLINK_FOLLOW)
	}
	return 0, unix.Linkat(ofd, obase, npfd, nbase, 0)
}

// Symlink implements Linux syscall symlink(2).
func Symlink(c *servers.Call) (int64, error) { return symlinkat(c, 0, -1, 1) }

// Symlinkat implements Linux syscall symlinkat(2).
func Symlinkat(c *servers.Call) (int64, error) { return symlinkat(c, 0, 1, 2) }

func symlinkat(c *servers.Call, ti, nd, ni int) (int64, error) {
	target, err := c.Path(ti)
	if err != nil {
		return 0, err
	}
	if target == "" {
		return 0, unix.ENOENT
	}
	npfd, nbase, err := parentAt(c, nd, ni)
	if err != nil {
		return 0, err
	}
	defer closeParent(npfd)
	if npfd < 0 || nbase == "." || nbase == ".." {
		return 0, unix.EEXIST
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	return 0, unix.Symlinkat(target, npfd, nbase)
}
