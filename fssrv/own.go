package fssrv

import (
	"errors"

	"golang.org/x/sys/unix"

	"lx/fssrv/recorded"
	"lx/servers"
)

// chown and mknod. With the kernel's own ids (a distro of the host's root)
// the kernel does them, mapping ids through the instance's user namespace
// and refusing device nodes as it does for root in a user namespace. In a
// distro with recorded owners, where the host user cannot give a file
// another owner nor make a device, guest root's chown and mknod are
// recorded in the file's xattrs instead and persist with it (across
// restarts, exports and cp -a, which copies user.* xattrs).
//
// Limits: a symlink cannot carry user.* xattrs, so a recorded chown of a
// symlink itself (lchown) succeeds without a record and the link shows
// root; fstat on an open fd is native and shows the host user's ids as
// root; a recorded device is an empty regular file that opens as one.

// Chown implements Linux syscall chown(2).
func Chown(c *servers.Call) (int64, error) { return fchownat(c, -1, 0, 1, 2, 0) }

// Lchown implements Linux syscall lchown(2).
func Lchown(c *servers.Call) (int64, error) {
	return fchownat(c, -1, 0, 1, 2, unix.AT_SYMLINK_NOFOLLOW)
}

// Fchownat implements Linux syscall fchownat(2).
func Fchownat(c *servers.Call) (int64, error) { return fchownat(c, 0, 1, 2, 3, int(c.Int(4))) }

func fchownat(c *servers.Call, d, i, u, g, flags int) (int64, error) {
	if !c.Recorded() {
		return continueInKernel(c, i)
	}
	if flags&^(unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	fd, st, err := statTarget(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	uid, gid, _ := guestOwner(c, fd, st.Uid, st.Gid, st.Mode, st.Size)
	nuid, ngid := uid, gid
	if v := c.Uint(u); v != ^uint32(0) {
		nuid = v
	}
	if v := c.Uint(g); v != ^uint32(0) {
		ngid = v
	}
	if err := requireCap(c, unix.CAP_CHOWN); err != nil {
		return 0, err
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return 0, nil // see the limits above
	}
	p := servers.FdPath(fd)
	if nuid == 0 && ngid == 0 {
		if err := unix.Removexattr(p, recorded.OwnerXattr); err != nil && !errors.Is(err, unix.ENODATA) {
			return 0, err
		}
	} else if err := unix.Setxattr(p, recorded.OwnerXattr, []byte(recorded.FormatOwner(nuid, ngid)), 0); err != nil {
		return 0, err
	}
	// As Linux does on a chown of a non-directory: drop set-user-ID, and
	// set-group-ID where it means something (group execute set).
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		mode := st.Mode &^ unix.S_ISUID
		if mode&unix.S_IXGRP != 0 {
			mode &^= unix.S_ISGID
		}
		return 0, unix.Fchmodat(unix.AT_FDCWD, p, mode&0o7777, 0)
	}
	return 0, nil
}

// requireCap answers EPERM unless the caller has capability cap in its
// effective set. (chown(2) also lets an owner give a file a group it is in;
// only guest root exists in an instance with recorded owners.)
func requireCap(c *servers.Call, cap int) error {
	st, err := c.Status()
	if err != nil {
		return err
	}
	if !st.Has(cap) {
		return unix.EPERM
	}
	return nil
}

// Mknod implements Linux syscall mknod(2).
func Mknod(c *servers.Call) (int64, error) { return mknodat(c, -1, 0, c.ModeT(1), c.Long(2)) }

// Mknodat implements Linux syscall mknodat(2).
func Mknodat(c *servers.Call) (int64, error) { return mknodat(c, 0, 1, c.ModeT(2), c.Long(3)) }

func mknodat(c *servers.Call, d, i int, mode uint32, dev int64) (int64, error) {
	typ := mode & unix.S_IFMT
	if !c.Recorded() || (typ != unix.S_IFCHR && typ != unix.S_IFBLK) {
		return continueInKernel(c, i)
	}
	if err := requireCap(c, unix.CAP_MKNOD); err != nil {
		return 0, err
	}
	abs, err := c.At(d, i)
	if err != nil {
		return 0, err
	}
	if abs == "" {
		return 0, unix.ENOENT
	}
	pfd, base, err := c.Parent(abs)
	if err != nil {
		return 0, servers.Fallback(err)
	}
	if pfd < 0 || base == "." || base == ".." {
		if pfd >= 0 {
			unix.Close(pfd)
		}
		return 0, unix.EEXIST
	}
	defer unix.Close(pfd)
	um, err := c.Umask()
	if err != nil {
		return 0, err
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	c.Effect()
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, mode&0o7777&^um)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	kind := byte('c')
	if typ == unix.S_IFBLK {
		kind = 'b'
	}
	rec := recorded.FormatDev(kind, unix.Major(uint64(dev)), unix.Minor(uint64(dev)))
	if err := unix.Fsetxattr(fd, recorded.DevXattr, []byte(rec), 0); err != nil {
		unix.Unlinkat(pfd, base, 0)
		return 0, err
	}
	c.Done(0)
	return 0, nil
}
