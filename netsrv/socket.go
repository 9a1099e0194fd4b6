package netsrv

import (
	"runtime"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/netpolicy"
)

const typeFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// afMax and sockMax bound socket(2)'s family and type as Linux's
// __sock_create does (AF_MAX, SOCK_MAX); sockTypeMask is SOCK_TYPE_MASK.
const (
	afMax        = 46
	sockMax      = unix.SOCK_PACKET + 1
	sockTypeMask = 0xf
)

// Socket implements Linux syscall socket(2). Its errors come in Linux's
// order: the family's range, the type, the family, then the family's own
// lookup of type and protocol, and only then a permission (LTP socket01
// asks for EPROTONOSUPPORT, not EPERM, of a raw IP socket of protocol 0).
func (s *server) Socket(c *servers.Call) (int64, error) {
	domain, typ, proto := int(c.Int(0)), int(c.Int(1)), int(c.Int(2))
	if domain < 0 || domain >= afMax {
		return 0, unix.EAFNOSUPPORT
	}
	if typ&^(sockTypeMask|typeFlags) != 0 || typ&sockTypeMask >= sockMax {
		return 0, unix.EINVAL
	}
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
		switch typ & sockTypeMask {
		case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET: // SEQPACKET: SCTP, if the kernel has it
		case unix.SOCK_RAW:
			if proto == 0 { // inet_create: no wildcard protocol for raw sockets
				return 0, unix.EPROTONOSUPPORT
			}
			raw = true
		default:
			return 0, unix.ESOCKTNOSUPPORT
		}
	case unix.AF_PACKET:
		raw = true // packet_create checks the permission before the type
	default:
		return 0, unix.EAFNOSUPPORT
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
