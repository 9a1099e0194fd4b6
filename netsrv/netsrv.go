// Package netsrv is the instance's socket server (DESIGN §3, §4).
//
// The instance has an empty network namespace, so an AF_INET or AF_INET6
// socket a guest makes there could reach nothing. netsrv makes those sockets
// in the host's network namespace and installs them into the guest with
// ADDFD; from then on reads, writes, accept, poll and the rest run natively.
// AF_UNIX sockets run natively in the instance's own namespace (the filter
// lets socket(AF_UNIX) through): their paths live in the instance's file
// namespace and their abstract names stay private to it. AF_NETLINK sockets
// are made in the instance namespace too, where they see its interfaces.
//
// bind, connect, listen and sendto-with-address come here to be checked
// (address length and family) and are then continued on the guest's socket.
// Per-instance policy (loopback only, no outbound, published ports) comes
// with the netsrv issue.
//
// Owns: nothing; the sockets belong to the guests. Waits on: nobody.
package netsrv

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"lx/servers"
)

// Table is netsrv's handler table. Its keys must be exactly the Net routes.
func Table() servers.Table {
	return servers.Table{
		unix.SYS_SOCKET:  Socket,
		unix.SYS_BIND:    Bind,
		unix.SYS_CONNECT: Connect,
		unix.SYS_LISTEN:  Listen,
		unix.SYS_SENDTO:  Sendto,
	}
}

const typeFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// Socket implements Linux syscall socket(2).
func Socket(c *servers.Call) (int64, error) {
	domain, typ, proto := int(c.Int(0)), int(c.Int(1)), int(c.Int(2))
	switch domain {
	case unix.AF_UNIX, unix.AF_NETLINK:
		return 0, servers.ErrContinue
	case unix.AF_INET, unix.AF_INET6:
	default:
		return 0, unix.EAFNOSUPPORT
	}
	base := typ &^ typeFlags
	switch base {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	case unix.SOCK_RAW, unix.SOCK_PACKET:
		return 0, unix.EPERM
	default:
		return 0, unix.EINVAL
	}
	if err := c.Valid(); err != nil {
		return 0, err
	}
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return 0, err
	}
	return c.InstallFD(fd, typ&unix.SOCK_CLOEXEC != 0)
}

// sockaddr reads and checks the address at argument a of length argument l.
func sockaddr(c *servers.Call, a, l int) (family uint16, err error) {
	n := c.Int(l)
	if n < 0 || n > unix.SizeofSockaddrAny {
		return 0, unix.EINVAL
	}
	if n < 2 {
		return unix.AF_UNSPEC, nil // the kernel answers EINVAL where it must
	}
	buf := make([]byte, n)
	if err := c.Read(c.Pointer(a), buf); err != nil {
		return 0, err
	}
	family = binary.LittleEndian.Uint16(buf)
	switch family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return 0, unix.EINVAL
		}
		c.Note(a, "{AF_INET "+inet4(buf)+"}")
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return 0, unix.EINVAL
		}
		c.Note(a, "{AF_INET6}")
	case unix.AF_UNIX:
		c.Note(a, "{AF_UNIX}")
	}
	return family, nil
}

func inet4(b []byte) string {
	port := binary.BigEndian.Uint16(b[2:])
	return itoa(int(b[4])) + "." + itoa(int(b[5])) + "." + itoa(int(b[6])) + "." + itoa(int(b[7])) + ":" + itoa(int(port))
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for ; v > 0; v /= 10 {
		i--
		b[i] = byte('0' + v%10)
	}
	return string(b[i:])
}

// Bind implements Linux syscall bind(2).
func Bind(c *servers.Call) (int64, error) {
	if _, err := sockaddr(c, 1, 2); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Connect implements Linux syscall connect(2). A blocking connect waits in
// the guest, not in netsrv.
func Connect(c *servers.Call) (int64, error) {
	if _, err := sockaddr(c, 1, 2); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}

// Listen implements Linux syscall listen(2).
func Listen(c *servers.Call) (int64, error) { return 0, servers.ErrContinue }

// Sendto implements Linux syscall sendto(2) with an address (without one it
// runs natively).
func Sendto(c *servers.Call) (int64, error) {
	if _, err := sockaddr(c, 4, 5); err != nil {
		return 0, err
	}
	return 0, servers.ErrContinue
}
