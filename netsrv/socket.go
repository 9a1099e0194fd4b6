package netsrv

import (
	"runtime"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/netpolicy"
)

const typeFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// Socket implements Linux syscall socket(2).
func (s *server) Socket(c *servers.Call) (int64, error) {
	domain, typ, proto := int(c.Int(0)), int(c.Int(1)), int(c.Int(2))
	pol := s.policy(c)
	raw := false
	switch domain {
	case unix.AF_UNIX:
		return 0, servers.ErrContinue
	case unix.AF_NETLINK:
		// Routing sockets show the network the instance's IP sockets
		// live in; other netlink families stay in the instance.
		if proto != unix.NETLINK_ROUTE || pol.Mode != netpolicy.All {
			return 0, servers.ErrContinue
		}
		return s.hostSocket(c, domain, typ, proto)
	case unix.AF_INET, unix.AF_INET6:
	case unix.AF_PACKET:
		raw = true
	default:
		return 0, unix.EAFNOSUPPORT
	}
	switch typ &^ typeFlags {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	case unix.SOCK_RAW, unix.SOCK_PACKET:
		raw = true
	default:
		return 0, unix.EINVAL
	}
	if raw && !pol.Raw {
		return 0, unix.EPERM
	}
	switch pol.Mode {
	case netpolicy.None:
		return 0, unix.EACCES
	case netpolicy.Loopback:
		return 0, servers.ErrContinue // made in the instance's network namespace
	}
	return s.hostSocket(c, domain, typ, proto)
}

// hostSocket makes a socket in the host's network namespace and installs it
// into the caller. The socket is the caller's, not netsrv's: Linux gives a
// socket the file system uid of its maker (its owner for SO_REUSEPORT
// groups, iptables' --uid-owner, /proc/net), so netsrv makes it with the
// caller's host ids. A socket of host root's netsrv would let a guest
// running as nobody join a root service's SO_REUSEPORT group.
func (s *server) hostSocket(c *servers.Call, domain, typ, proto int) (int64, error) {
	if err := c.Valid(); err != nil {
		return 0, err
	}
	var fd int
	err := asCaller(c, func() (err error) {
		fd, err = unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return 0, err
	}
	return c.InstallFD(fd, typ&unix.SOCK_CLOEXEC != 0)
}

// asCaller runs f with the file system ids of this thread set to the
// calling guest's host ids (read from /proc), and restores them. Servers
// serve on one locked thread, and setfsuid is per thread. An unprivileged
// netsrv's ids are already the caller's (an unprivileged instance maps one
// id), and setfsuid leaves them.
func asCaller(c *servers.Call, f func() error) error {
	uid, gid, err := c.FsIDs()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	oldGid, _ := unix.SetfsgidRetGid(int(gid))
	oldUid, _ := unix.SetfsuidRetUid(int(uid))
	defer func() {
		unix.Setfsuid(oldUid)
		unix.Setfsgid(oldGid)
	}()
	return f()
}
