package netsrv

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/netpolicy"
)

// sizeofSockaddrStorage is the kernel's limit on an address length.
const sizeofSockaddrStorage = 128

// sockaddr reads and checks the address at argument a of length argument l.
// It returns the address's bytes (nil for a length under 2, which the
// kernel answers itself) and its family.
func sockaddr(c *servers.Call, a, l int) ([]byte, uint16, error) {
	n := c.Int(l)
	if n < 0 || n > sizeofSockaddrStorage {
		return nil, 0, unix.EINVAL
	}
	if n < 2 {
		return nil, unix.AF_UNSPEC, nil
	}
	buf := make([]byte, n)
	if err := c.Read(c.Pointer(a), buf); err != nil {
		return nil, 0, err
	}
	family := binary.LittleEndian.Uint16(buf)
	switch family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return nil, 0, unix.EINVAL
		}
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return nil, 0, unix.EINVAL
		}
	}
	c.Note(a, addrText(buf, family))
	return buf, family, nil
}

// addrText is the strace form of an address for trace lines.
func addrText(b []byte, family uint16) string {
	switch family {
	case unix.AF_INET:
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return "{AF_INET " + netip.AddrPortFrom(ip, port(b)).String() + "}"
	case unix.AF_INET6:
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return "{AF_INET6 " + netip.AddrPortFrom(ip, port(b)).String() + "}"
	case unix.AF_UNIX:
		return "{AF_UNIX}"
	}
	return "{family " + strconv.Itoa(int(family)) + "}"
}

func port(b []byte) uint16       { return binary.BigEndian.Uint16(b[2:4]) }
func setPort(b []byte, p uint16) { binary.BigEndian.PutUint16(b[2:4], p) }

// Bind implements Linux syscall bind(2).
func (s *server) Bind(c *servers.Call) (int64, error) {
	addr, family, err := sockaddr(c, 1, 2)
	if err != nil {
		return 0, err
	}
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return 0, servers.ErrContinue
	}
	pol := s.policy(c)
	p := port(addr)
	if pol.Mode != netpolicy.All {
		// The instance's own namespace: its ports are its own. Guests
		// live in a user namespace nested in the one that owns it
		// (lxbroker/runtime/pid1/enter.go), where the kernel would
		// refuse guest root a port below 1024: netsrv binds it with the
		// rights of that namespace's owner, for a guest whose
		// capabilities allow it.
		if p == 0 || p >= 1024 {
			return 0, servers.ErrContinue
		}
		if !mayBindLow(c) {
			return 0, unix.EACCES
		}
		return 0, onGuestSocket(c, 0, func(fd int) error { return rawBind(fd, addr) })
	}
	host, published := pol.HostPort(p)
	switch {
	case published:
		// The user handed this port in (lx run -p): netsrv binds the
		// host port for the guest, below 1024 too where lx runs as root.
		setPort(addr, host)
		c.Note(1, addrText(addr, family)+" (published "+strconv.Itoa(int(host))+":"+strconv.Itoa(int(p))+")")
	case p != 0 && p < 1024:
		// A port below 1024 of the host's is host root's to give, and
		// guest root is not host root: only a published one is bound.
		return 0, unix.EACCES
	default:
		return 0, servers.ErrContinue
	}
	return 0, onGuestSocket(c, 0, func(fd int) error {
		c.Effect()
		err := rawBind(fd, addr)
		if err == nil {
			c.Done(0)
		}
		return err
	})
}

// Connect implements Linux syscall connect(2). A blocking connect waits in
// the guest, not in netsrv.
func (s *server) Connect(c *servers.Call) (int64, error) {
	if _, _, err := sockaddr(c, 1, 2); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Listen implements Linux syscall listen(2).
func (s *server) Listen(c *servers.Call) (int64, error) { return 0, servers.ErrContinue }
