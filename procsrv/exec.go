package procsrv

import (
	"io"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/elfhdr"
)

// Execve implements Linux syscall execve(2).
func Execve(c *servers.Call) (int64, error) { return execveat(c, -1, 0, 0) }

// Execveat implements Linux syscall execveat(2).
func Execveat(c *servers.Call) (int64, error) { return execveat(c, 0, 1, int(c.Int(4))) }

// execveat checks the target the way the kernel will, so that the guest
// gets Linux's errno from procsrv, then lets the kernel load it. It serves
// instances that trap execs; the others run them natively
// (lxbroker/runtime/pid1/binfmt.go).
func execveat(c *servers.Call, d, i, flags int) (int64, error) {
	if flags&^(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	abs, err := c.At(d, i)
	if err != nil {
		return 0, err
	}
	if abs == "" {
		if flags&unix.AT_EMPTY_PATH != 0 {
			return 0, servers.ErrContinue
		}
		return 0, unix.ENOENT
	}
	fd, err := c.OpenPath(abs, flags&unix.AT_SYMLINK_NOFOLLOW != 0)
	if err != nil {
		return 0, servers.Fallback(err)
	}
	defer unix.Close(fd)
	if err := checkExec(c, fd, abs); err != nil {
		return 0, err
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

func checkExec(c *servers.Call, fd int, abs string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP // AT_SYMLINK_NOFOLLOW on a symlink
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unix.EACCES
	}
	if err := unix.Faccessat2(fd, "", unix.X_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS); err != nil {
		return unix.EACCES
	}
	rfd, err := unix.Open(servers.FdPath(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // execute-only: the kernel may still load it
	}
	defer unix.Close(rfd)
	var magic [2]byte
	if n, _ := unix.Pread(rfd, magic[:], 0); n == 2 && string(magic[:]) == "#!" {
		return nil // the kernel runs the interpreter, nested ones too
	}
	h, err := elfhdr.Read(fdReader(rfd))
	switch {
	case err != nil:
		return unix.ENOEXEC // not ELF, truncated or unreadable
	case !h.Is64():
		c.Log().Info("32-bit binaries are not supported", zap.String("path", abs))
		return unix.ENOEXEC
	case !h.IsX8664():
		// Linux's ELF loader checks the machine, not the data encoding.
		return unix.ENOEXEC
	}
	return nil
}

// fdReader reads a file by its fd, for elfhdr.
type fdReader int

func (fd fdReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := unix.Pread(int(fd), p, off)
	if n < 0 {
		n = 0
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
