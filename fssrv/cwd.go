package fssrv

import (
	"strconv"

	"golang.org/x/sys/unix"

	"lx/servers"
)

// Getcwd implements Linux syscall getcwd(2). The guest's cwd as its /proc
// entry prints it is already relative to the instance's mount namespace.
func Getcwd(c *servers.Call) (int64, error) {
	cwd, err := servers.Readlink("/proc/" + strconv.Itoa(c.Tid()) + "/cwd")
	if err != nil {
		return 0, err
	}
	if len(cwd) > 10 && cwd[len(cwd)-10:] == " (deleted)" {
		return 0, unix.ENOENT
	}
	if uint64(len(cwd)+1) > c.SizeT(1) {
		return 0, unix.ERANGE
	}
	return int64(len(cwd) + 1), c.Write(c.Pointer(0), append([]byte(cwd), 0))
}

// Chdir implements Linux syscall chdir(2): the target is resolved and
// checked here (ENOENT, ENOTDIR, EACCES), then the kernel changes the
// guest's cwd, which only the guest's own context can do.
func Chdir(c *servers.Call) (int64, error) {
	abs, err := at(c, -1, 0)
	if err != nil {
		return 0, err
	}
	fd, err := c.OpenIn(abs, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0, servers.Fallback(err)
	}
	defer unix.Close(fd)
	if err := unix.Faccessat2(fd, "", unix.X_OK, unix.AT_EMPTY_PATH); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Chroot implements Linux syscall chroot(2) by refusing it: fssrv resolves
// every name from the instance root, and a per-process root is not
// emulated yet.
func Chroot(c *servers.Call) (int64, error) {
	if _, err := c.Path(0); err != nil {
		return 0, err
	}
	c.Log().Info("chroot refused: not emulated yet")
	return 0, unix.EPERM
}
