package fssrv

// The stat family. In a distro with recorded owners (an unprivileged
// user's) fssrv answers it, with the owners and devices lx import or a
// guest's chown and mknod recorded; everywhere else the kernel answers.

import (
	"golang.org/x/sys/unix"

	"lx/fssrv/recorded"
	"lx/servers"
)

// Stat implements Linux syscall stat(2).
func Stat(c *servers.Call) (int64, error) { return fstatat(c, -1, 0, 1, 0) }

// Lstat implements Linux syscall lstat(2).
func Lstat(c *servers.Call) (int64, error) {
	return fstatat(c, -1, 0, 1, unix.AT_SYMLINK_NOFOLLOW)
}

// Newfstatat implements Linux syscall newfstatat(2). The AT_EMPTY_PATH form
// (glibc's fstat) runs natively: the filter lets it through.
func Newfstatat(c *servers.Call) (int64, error) {
	return fstatat(c, 0, 1, 2, int(c.Int(3)))
}

const statFlags = unix.AT_SYMLINK_NOFOLLOW | unix.AT_EMPTY_PATH | unix.AT_NO_AUTOMOUNT

func fstatat(c *servers.Call, d, i, buf, flags int) (int64, error) {
	if !c.Recorded() {
		return continueInKernel(c, i)
	}
	if flags&^statFlags != 0 {
		return 0, unix.EINVAL
	}
	fd, st, err := statTarget(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var dev record
	st.Uid, st.Gid, dev = guestOwner(c, fd, st.Uid, st.Gid, st.Mode, st.Size)
	if dev.dev {
		st.Mode = st.Mode&^unix.S_IFMT | dev.typ
		st.Rdev = unix.Mkdev(dev.major, dev.minor)
	}
	return 0, servers.WriteStruct(c, c.Pointer(buf), &st)
}

// lookup resolves the path at argument i (dirfd at d, -1 for AT_FDCWD) to
// an O_PATH fd, honouring AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH in flags.
func lookup(c *servers.Call, d, i, flags int) (int, error) {
	abs, err := c.At(d, i)
	if err != nil {
		return -1, err
	}
	if abs == "" {
		if flags&unix.AT_EMPTY_PATH != 0 {
			return -1, servers.ErrContinue // the fd itself: native semantics
		}
		return -1, unix.ENOENT
	}
	fd, err := c.OpenPath(abs, flags&unix.AT_SYMLINK_NOFOLLOW != 0)
	if err != nil {
		return -1, servers.Fallback(err)
	}
	return fd, nil
}

// statTarget resolves the path at argument i like lookup and stats it.
func statTarget(c *servers.Call, d, i, flags int) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := lookup(c, d, i, flags)
	if err != nil {
		return -1, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, err
	}
	return fd, st, nil
}

// Statx implements Linux syscall statx(2).
func Statx(c *servers.Call) (int64, error) {
	if !c.Recorded() {
		return continueInKernel(c, 1)
	}
	flags := int(c.Int(2))
	if flags&^(statFlags|atStatxSyncType) != 0 || flags&atStatxSyncType == atStatxSyncType {
		return 0, unix.EINVAL
	}
	if c.Uint(3)&unix.STATX__RESERVED != 0 {
		return 0, unix.EINVAL
	}
	fd, err := lookup(c, 0, 1, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|flags&atStatxSyncType, int(c.Uint(3)), &stx); err != nil {
		return 0, err
	}
	var dev record
	stx.Uid, stx.Gid, dev = guestOwner(c, fd, stx.Uid, stx.Gid, uint32(stx.Mode), int64(stx.Size))
	if dev.dev {
		stx.Mode = stx.Mode&^unix.S_IFMT | uint16(dev.typ)
		stx.Rdev_major, stx.Rdev_minor = dev.major, dev.minor
	}
	return 0, servers.WriteStruct(c, c.Pointer(4), &stx)
}

const atStatxSyncType = unix.AT_STATX_FORCE_SYNC | unix.AT_STATX_DONT_SYNC

// guestOwner maps a file's host owner into the instance, and for a file of
// guest root in an unprivileged distro applies what lx import recorded; a
// recorded device comes back in the record.
func guestOwner(c *servers.Call, fd int, uid, gid, mode uint32, size int64) (uint32, uint32, record) {
	uid, gid = c.IDs().UID.ToGuest(uid), c.IDs().GID.ToGuest(gid)
	if !c.Recorded() || uid != 0 || mode&unix.S_IFMT == unix.S_IFLNK {
		return uid, gid, record{}
	}
	r := readRecord(fd, mode&unix.S_IFMT == unix.S_IFREG && size == 0)
	if r.owner {
		uid, gid = r.uid, r.gid
	}
	return uid, gid, r
}

// record is what lx import kept in xattrs for a file an unprivileged user
// could not give its owner or make as a device: recorded.OwnerXattr and recorded.DevXattr. Only files
// owned by guest root carry them; the guest sees the recorded values.
type record struct {
	owner, dev   bool
	uid, gid     uint32
	typ          uint32
	major, minor uint32
}

// readRecord reads the record of the file fd, its device only when maybeDev.
func readRecord(fd int, maybeDev bool) record {
	var r record
	var buf [64]byte
	p := servers.FdPath(fd)
	if n, err := unix.Getxattr(p, recorded.OwnerXattr, buf[:]); err == nil {
		r.uid, r.gid, r.owner = recorded.ParseOwner(string(buf[:n]))
	}
	if !maybeDev {
		return r
	}
	if n, err := unix.Getxattr(p, recorded.DevXattr, buf[:]); err == nil {
		var kind byte
		if kind, r.major, r.minor, r.dev = recorded.ParseDev(string(buf[:n])); r.dev {
			r.typ = unix.S_IFCHR
			if kind == 'b' {
				r.typ = unix.S_IFBLK
			}
		}
	}
	return r
}
