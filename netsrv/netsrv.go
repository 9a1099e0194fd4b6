// Package netsrv is the instance's socket server (DESIGN §3, §4).
//
// Where a guest's AF_INET and AF_INET6 sockets live is the instance's
// network policy (package policy), fixed when the instance starts:
//
//   - all (the default): netsrv makes them in the host's network namespace
//     and installs them into the guest with ADDFD. The guest reaches what
//     the host reaches, and shares the host's port space, as WSL1 does: two
//     instances that both bind :8080 collide like two host programs would.
//   - loopback: socket() is continued, so the kernel makes the socket in the
//     instance's own network namespace, which has only its loopback
//     interface (init brings it up). Guests of the instance reach each other
//     on 127.0.0.1 and ::1; the host and the outside are unreachable
//     (ENETUNREACH), which the kernel enforces for every call that carries
//     an address, sendmsg included.
//   - none: socket(AF_INET or AF_INET6) fails with EACCES.
//
// From then on reads, writes, accept, poll, sendmsg and the rest run
// natively. AF_UNIX sockets are native too, in the instance's namespaces:
// their paths live in the instance's file namespace and their abstract names
// in its network namespace, so both stay private to it.
//
// NETLINK_ROUTE sockets show the network the instance's IP sockets live in:
// in mode all netsrv makes them in the host's namespace, so getifaddrs and
// `ip addr` list the host's interfaces, as WSL1 does, and getaddrinfo's
// AI_ADDRCONFIG sees the addresses the guest can actually use (with only a
// loopback interface, glibc answers EAI_NONAME to an AF_INET lookup with
// AI_ADDRCONFIG). Changing them still needs CAP_NET_ADMIN in the host's
// namespace, checked against the guest that sends the request. In modes
// loopback and none, and for every other netlink family, the socket is made
// in the instance's own namespace: its loopback interface, up (init brings
// it up), with 127.0.0.1 and ::1.
//
// Other families get EAFNOSUPPORT; SOCK_RAW and AF_PACKET get EPERM unless
// the policy allows raw sockets (lx run --net-raw).
//
// The policy is where a socket lives, so nothing needs to look at the
// address of each datagram: sendto and sendmsg run natively, with or
// without an address (a trapped sendto cost 8.9× a native one, measured
// with bench's udpsendto). bind, connect and listen come here to be checked
// (address length and family) and are then continued on the guest's
// socket, except a bind of a published guest port (lx run --publish
// HOST:GUEST) in mode all, which netsrv performs itself, on the guest's
// socket taken with pidfd_getfd and with its own copy of the address: it
// binds HOST instead, with the host user's rights (a HOST below 1024 works
// when lx runs as root); getsockname then shows HOST. A bind of an
// unpublished port below 1024 in mode all is EACCES: the host's privileged
// ports are host root's to give, guest root is not host root, and the
// user gives one with --publish.
//
// netsrv makes the host's sockets with the caller's host ids (socket.go):
// the owner Linux records for a socket is its maker's.
//
// A connect to a published guest port is not rewritten: guests reach a
// published server on its host port, as the host does. (In mode loopback
// netsrv has no part in publishing: the broker forwards the host port into
// the instance.)
//
// Owns: nothing; the sockets belong to the guests. Reads the policy file the
// broker writes (launch.Config.Policy) at its first call and whenever the file
// changes, so a restarted netsrv serves the same policy; a file it cannot
// read at all means mode none. Waits on: nobody.
package netsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/launch"
	"lx/shared/netpolicy"
)

// server is netsrv's state: the instance's policy.
type server struct {
	pol *netpolicy.Watch
}

// Table is netsrv's handler table, serving the policy in the file
// cfg.Policy. Its keys must be exactly the Net routes.
func Table(cfg *launch.Config) servers.Table {
	s := &server{pol: netpolicy.NewWatch(cfg.Policy)}
	return servers.Table{
		unix.SYS_SOCKET:  s.Socket,
		unix.SYS_BIND:    s.Bind,
		unix.SYS_CONNECT: s.Connect,
		unix.SYS_LISTEN:  s.Listen,
	}
}

// policy returns the instance's current policy; a file that cannot be read
// is logged and the last good policy stays.
func (s *server) policy(c *servers.Call) *netpolicy.Policy {
	p, err := s.pol.Get()
	if err != nil {
		c.Log().Warn("network policy: " + err.Error())
	}
	return p
}
