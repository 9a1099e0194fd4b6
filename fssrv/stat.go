package fssrv

import (
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
	st.Uid = c.IDs().UID.ToGuest(st.Uid)
	st.Gid = c.IDs().GID.ToGuest(st.Gid)
	return 0, servers.WriteStruct(c, c.Pointer(buf), &st)
}

// lookup resolves the path at argument i (dirfd at d, -1 for AT_FDCWD) to
// an O_PATH fd, honouring AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH in flags.
func lookup(c *servers.Call, d, i, flags int) (int, error) {
	p, err := c.Path(i)
	if err != nil {
		return -1, err
	}
	if p == "" && flags&unix.AT_EMPTY_PATH != 0 {
		return -1, servers.ErrContinue // the fd itself: native semantics
	}
	dirfd := int32(unix.AT_FDCWD)
	if d >= 0 {
		dirfd = c.Fd(d)
	}
	abs, err := c.Abs(dirfd, p)
	if err != nil {
		return -1, err
	}
	if servers.KernelPath(abs) {
		return -1, servers.ErrContinue
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
	stx.Uid = c.IDs().UID.ToGuest(stx.Uid)
	stx.Gid = c.IDs().GID.ToGuest(stx.Gid)
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
