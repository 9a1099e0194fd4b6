package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/abi"
)

// Open implements Linux syscall open(2).
func Open(c *servers.Call) (int64, error) {
	return openat(c, -1, 0, int(c.Int(1)), c.ModeT(2))
}

// Openat implements Linux syscall openat(2).
func Openat(c *servers.Call) (int64, error) {
	return openat(c, 0, 1, int(c.Int(2)), c.ModeT(3))
}

// Creat implements Linux syscall creat(2).
func Creat(c *servers.Call) (int64, error) {
	return openat(c, -1, 0, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, c.ModeT(1))
}

// Openat2 implements Linux syscall openat2(2). A guest that asks for its own
// RESOLVE_* scoping gets it from the kernel, relative to its own dirfd.
func Openat2(c *servers.Call) (int64, error) {
	size := c.SizeT(3)
	if size < 24 || size > 4096 {
		return 0, unix.EINVAL
	}
	var how abi.OpenHow
	if err := servers.ReadStruct(c, c.Pointer(2), &how); err != nil {
		return 0, err
	}
	if how.Resolve != 0 || how.Flags>>32 != 0 || how.Mode&^0o7777 != 0 {
		if _, err := c.Path(1); err != nil {
			return 0, err
		}
		return 0, servers.ErrContinue
	}
	return openat(c, 0, 1, int(how.Flags), uint32(how.Mode))
}

func openat(c *servers.Call, d, i, flags int, mode uint32) (int64, error) {
	abs, err := at(c, d, i)
	if err != nil {
		return 0, err
	}
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		um, err := c.Umask()
		if err != nil {
			return 0, err
		}
		mode = mode & 0o7777 &^ um
	} else {
		mode = 0
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	// O_NONBLOCK keeps a FIFO or a device from blocking the server; those
	// are then left to the kernel, in the guest's context (a FIFO's open
	// must wait for the guest's peer, /dev/tty is the guest's terminal).
	path := flags&unix.O_PATH != 0
	sflags := flags &^ unix.O_CLOEXEC
	if !path {
		sflags |= unix.O_NONBLOCK | unix.O_NOCTTY
	}
	fd, err := c.OpenIn(abs, sflags, mode)
	if err != nil {
		return 0, servers.Fallback(err)
	}
	if path {
		// ADDFD cannot install an O_PATH file (the kernel's fget refuses
		// them): the name resolved, so the kernel opens it for the guest.
		unix.Close(fd)
		return 0, servers.ErrContinue
	}
	{
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return 0, err
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
			unix.Close(fd)
			return 0, servers.ErrContinue
		}
		if flags&unix.O_NONBLOCK == 0 {
			if err := unix.SetNonblock(fd, false); err != nil {
				unix.Close(fd)
				return 0, err
			}
		}
	}
	return c.InstallFD(fd, flags&unix.O_CLOEXEC != 0)
}
