package servers

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Path resolution inside the instance root, for the servers that must look
// at a file themselves (fssrv's recorded owners, procsrv's exec checks); the
// other path calls are resolved by the kernel in the guest's context. A name
// is made absolute in the guest's view (its root after a chroot, its cwd or
// dirfd, read back from /proc, which prints them relative to the instance's
// mount namespace) and resolved with openat2(RESOLVE_IN_ROOT) from the
// guests' root fd (GuestRoot, which sees their own mounts): "..", absolute
// symlinks and mount crossings all stay inside the instance.
//
// A few names only mean something in the caller's own context: /proc/self,
// procfs magic links (/proc/PID/fd/N, /dev/fd/N, /dev/stdin), the caller's
// controlling terminal /dev/tty. Those, and names that do not resolve from
// outside (ENOENT, ELOOP, EXDEV), are answered with CONTINUE: the kernel then
// resolves them for the guest itself, confined by the same mount namespace,
// and its answer is Linux's answer.

const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// Abs returns p made absolute in the caller's view, relative to dirfd.
func (c *Call) Abs(dirfd int32, p string) (string, error) {
	if p == "" {
		return "", unix.ENOENT
	}
	if p[0] == '/' {
		// A guest that chrooted names paths from its own root, which
		// /proc prints relative to the instance's mount namespace.
		root, err := Readlink(c.procPath("root"))
		if err != nil || root == "/" {
			return p, err
		}
		return root + p, nil
	}
	var link string
	var err error
	if dirfd == unix.AT_FDCWD {
		link, err = Readlink(c.procPath("cwd"))
	} else {
		if dirfd < 0 {
			return "", unix.EBADF
		}
		link, err = Readlink(c.procPath("fd/" + strconv.Itoa(int(dirfd))))
		if err == unix.ENOENT {
			return "", unix.EBADF
		}
	}
	if err != nil {
		return "", fmt.Errorf("dirfd %d of %d: %w", dirfd, c.Tid(), err)
	}
	if !strings.HasPrefix(link, "/") {
		return "", unix.ENOTDIR // a pipe, socket or anon inode
	}
	if strings.HasSuffix(link, " (deleted)") {
		return "", unix.ENOENT
	}
	if link == "/" {
		return "/" + p, nil
	}
	return link + "/" + p, nil
}

// At reads the path at argument i and makes it absolute in the caller's
// view, relative to the dirfd at argument d (-1: AT_FDCWD). A name only the
// kernel can resolve comes back as ErrContinue. An empty path comes back as
// "" with no error: the caller decides (AT_EMPTY_PATH or ENOENT).
func (c *Call) At(d, i int) (string, error) {
	p, err := c.Path(i)
	if err != nil || p == "" {
		return "", err
	}
	dirfd := int32(unix.AT_FDCWD)
	if d >= 0 {
		dirfd = c.Fd(d)
	}
	abs, err := c.Abs(dirfd, p)
	if err != nil {
		return "", err
	}
	if KernelPath(abs) {
		return "", ErrContinue
	}
	return abs, nil
}

// KernelPath reports names that only the kernel can resolve, in the
// caller's context.
func KernelPath(abs string) bool {
	p := path.Clean(abs)
	for _, pre := range []string{"/proc", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/console"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// Fallback turns the errors of a resolution from outside into CONTINUE
// where the kernel, resolving in the guest's context, may see more.
func Fallback(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
		return ErrContinue
	}
	return err
}

// OpenIn opens the guest-absolute path abs inside the instance root.
func (c *Call) OpenIn(abs string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(c.GuestRoot(), abs, &how)
		if err == unix.EAGAIN && i < 8 { // a concurrent rename or mount: retry
			continue
		}
		return fd, err
	}
}

// OpenPath opens abs with O_PATH, following a final symlink unless nofollow.
func (c *Call) OpenPath(abs string, nofollow bool) (int, error) {
	flags := unix.O_PATH
	if nofollow {
		flags |= unix.O_NOFOLLOW
	}
	return c.OpenIn(abs, flags, 0)
}

// Parent opens the directory that holds the last component of abs and
// returns it with that component, for the calls that act on a name without
// following it (mkdir, unlink, rename, link, symlink, mknod). The component
// is never "" ; it is "/" for the root itself and may be "." or "..".
func (c *Call) Parent(abs string) (dirfd int, base string, err error) {
	trimmed := strings.TrimRight(abs, "/")
	if trimmed == "" {
		return -1, "/", nil
	}
	i := strings.LastIndexByte(trimmed, '/')
	dir, base := trimmed[:i+1], trimmed[i+1:]
	fd, err := c.OpenIn(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

// FdPath is the name of one of the server's own fds through its /proc,
// for the calls that have no fd or AT_EMPTY_PATH form.
func FdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// FsIDs reads the caller's file system uid and gid from /proc: host ids.
func (c *Call) FsIDs() (uid, gid uint32, err error) {
	st, err := c.Status()
	if err != nil {
		return 0, 0, err
	}
	uids, gids := st.IDs("Uid"), st.IDs("Gid")
	if uids == nil || gids == nil {
		return 0, 0, fmt.Errorf("ids of %d: Uid %q, Gid %q in its status", c.Tid(), st["Uid"], st["Gid"])
	}
	return uids[3], gids[3], nil
}

// Umask reads the caller's umask from /proc.
func (c *Call) Umask() (uint32, error) {
	st, err := c.Status()
	if err != nil {
		return 0, err
	}
	um, ok, err := st.Umask()
	if err != nil {
		return 0, fmt.Errorf("umask of %d: %w", c.Tid(), err)
	}
	if !ok {
		return 0o022, nil
	}
	return um, nil
}

// Readlink reads a symlink of the server's own view (a /proc link).
func Readlink(name string) (string, error) {
	var buf [unix.PathMax]byte
	n, err := unix.Readlink(name, buf[:])
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
