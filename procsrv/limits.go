package procsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

const rlimNlimits = 16

func checkRlimit(c *servers.Call, resource uint32, ptr uint64) error {
	if resource >= rlimNlimits {
		return unix.EINVAL
	}
	if ptr == 0 {
		return nil
	}
	var r unix.Rlimit
	if err := servers.ReadStruct(c, ptr, &r); err != nil {
		return err
	}
	if r.Cur > r.Max {
		return unix.EINVAL
	}
	return nil
}

// Setrlimit implements Linux syscall setrlimit(2).
func Setrlimit(c *servers.Call) (int64, error) {
	if c.Pointer(1) == 0 {
		return 0, unix.EFAULT
	}
	if err := checkRlimit(c, c.Uint(0), c.Pointer(1)); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Prlimit64 implements Linux syscall prlimit64(2) when it sets a limit
// (a pure read runs natively); the pid is the guest's, and the kernel
// resolves it inside the instance's pid namespace.
func Prlimit64(c *servers.Call) (int64, error) {
	if c.Int(0) < 0 {
		return 0, unix.ESRCH
	}
	if err := checkRlimit(c, c.Uint(1), c.Pointer(2)); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}
