package fssrv

import (
	"fmt"

	"golang.org/x/sys/unix"

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
	if flags&^statFlags != 0 {
		return 0, unix.EINVAL
	}
	fd, err := lookup(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
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

// Statx implements Linux syscall statx(2).
func Statx(c *servers.Call) (int64, error) {
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

// Statfs implements Linux syscall statfs(2).
func Statfs(c *servers.Call) (int64, error) {
	fd, err := lookup(c, -1, 0, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return 0, err
	}
	return 0, servers.WriteStruct(c, c.Pointer(1), &st)
}

// Access implements Linux syscall access(2).
func Access(c *servers.Call) (int64, error) { return faccessat(c, -1, 0, c.Int(1), 0) }

// Faccessat implements Linux syscall faccessat(2) (no flags argument).
func Faccessat(c *servers.Call) (int64, error) { return faccessat(c, 0, 1, c.Int(2), 0) }

// Faccessat2 implements Linux syscall faccessat2(2).
func Faccessat2(c *servers.Call) (int64, error) {
	return faccessat(c, 0, 1, c.Int(2), int(c.Int(3)))
}

func faccessat(c *servers.Call, d, i int, mode int32, flags int) (int64, error) {
	if mode&^(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return 0, unix.EINVAL
	}
	if flags&^(unix.AT_EACCESS|unix.AT_SYMLINK_NOFOLLOW|unix.AT_EMPTY_PATH) != 0 {
		return 0, unix.EINVAL
	}
	fd, err := lookup(c, d, i, flags)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return 0, unix.Faccessat2(fd, "", uint32(mode), unix.AT_EMPTY_PATH|flags&unix.AT_EACCESS)
}

// Readlink implements Linux syscall readlink(2).
func Readlink(c *servers.Call) (int64, error) { return readlinkat(c, -1, 0, 1, 2) }

// Readlinkat implements Linux syscall readlinkat(2).
func Readlinkat(c *servers.Call) (int64, error) { return readlinkat(c, 0, 1, 2, 3) }

func readlinkat(c *servers.Call, d, i, buf, size int) (int64, error) {
	n := int64(c.Int(size))
	if n <= 0 {
		return 0, unix.EINVAL
	}
	fd, err := lookup(c, d, i, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return 0, unix.EINVAL
	}
	var target [unix.PathMax]byte
	got, err := unix.Readlinkat(fd, "", target[:])
	if err != nil {
		return 0, err
	}
	got = min(got, int(n))
	return int64(got), c.Write(c.Pointer(buf), target[:got])
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
	r := recorded(fd, mode&unix.S_IFMT == unix.S_IFREG && size == 0)
	if r.owner {
		uid, gid = r.uid, r.gid
	}
	return uid, gid, r
}

// record is what lx import kept in xattrs for a file an unprivileged user
// could not give its owner or make as a device: "user.lx.owner" = "UID:GID",
// "user.lx.dev" = "c|b MAJOR MINOR" (see lxbroker/tarball.go). Only files
// owned by guest root carry them; the guest sees the recorded values.
type record struct {
	owner, dev   bool
	uid, gid     uint32
	typ          uint32
	major, minor uint32
}

func recorded(fd int, maybeDev bool) record {
	var r record
	var buf [64]byte
	p := servers.FdPath(fd)
	if n, err := unix.Getxattr(p, "user.lx.owner", buf[:]); err == nil {
		if _, err := fmt.Sscanf(string(buf[:n]), "%d:%d", &r.uid, &r.gid); err == nil {
			r.owner = true
		}
	}
	if !maybeDev {
		return r
	}
	if n, err := unix.Getxattr(p, "user.lx.dev", buf[:]); err == nil {
		var kind string
		if _, err := fmt.Sscanf(string(buf[:n]), "%s %d %d", &kind, &r.major, &r.minor); err == nil && (kind == "c" || kind == "b") {
			r.dev, r.typ = true, unix.S_IFCHR
			if kind == "b" {
				r.typ = unix.S_IFBLK
			}
		}
	}
	return r
}
