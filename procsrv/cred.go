package procsrv

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/idmap"
)

// Identity calls are checked against the instance's id mapping (EINVAL for
// an id that has no host id, as Linux answers) and then made by the kernel,
// which applies its own permission rules (EPERM) to the guest's credentials.

func mapped(m idmap.Map, ids ...uint32) error {
	for _, id := range ids {
		if id == ^uint32(0) {
			continue // -1: leave unchanged
		}
		if _, ok := m.ToHost(id); !ok {
			return unix.EINVAL
		}
	}
	return nil
}

func setids(c *servers.Call, m idmap.Map, n int) (int64, error) {
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = c.Uint(i)
	}
	if err := mapped(m, ids...); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Setuid implements Linux syscall setuid(2).
func Setuid(c *servers.Call) (int64, error) {
	if c.Uint(0) == ^uint32(0) {
		return 0, unix.EINVAL
	}
	return setids(c, c.IDs().UID, 1)
}

// Setgid implements Linux syscall setgid(2).
func Setgid(c *servers.Call) (int64, error) {
	if c.Uint(0) == ^uint32(0) {
		return 0, unix.EINVAL
	}
	return setids(c, c.IDs().GID, 1)
}

// Setreuid implements Linux syscall setreuid(2).
func Setreuid(c *servers.Call) (int64, error) { return setids(c, c.IDs().UID, 2) }

// Setregid implements Linux syscall setregid(2).
func Setregid(c *servers.Call) (int64, error) { return setids(c, c.IDs().GID, 2) }

// Setresuid implements Linux syscall setresuid(2).
func Setresuid(c *servers.Call) (int64, error) { return setids(c, c.IDs().UID, 3) }

// Setresgid implements Linux syscall setresgid(2).
func Setresgid(c *servers.Call) (int64, error) { return setids(c, c.IDs().GID, 3) }

// Setfsuid implements Linux syscall setfsuid(2); it never fails, and returns
// the previous fsuid, which only the kernel knows.
func Setfsuid(c *servers.Call) (int64, error) { return 0, servers.ErrContinue }

// Setfsgid implements Linux syscall setfsgid(2).
func Setfsgid(c *servers.Call) (int64, error) { return 0, servers.ErrContinue }

const ngroupsMax = 65536

// Setgroups implements Linux syscall setgroups(2).
func Setgroups(c *servers.Call) (int64, error) {
	n := c.Int(0)
	if n < 0 || n > ngroupsMax {
		return 0, unix.EINVAL
	}
	gids := make([]uint32, n)
	if n > 0 {
		buf := make([]byte, 4*int(n))
		if err := c.Read(c.Pointer(1), buf); err != nil {
			return 0, err
		}
		for i := range gids {
			gids[i] = binary.LittleEndian.Uint32(buf[4*i:])
		}
	}
	if err := mapped(c.IDs().GID, gids...); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}
