// Package netsrv is the instance's socket server (DESIGN §6): socket,
// bind, connect and listen.
//
// Where a guest's IP sockets live is the instance's network policy
// (shared/netpolicy): in mode all netsrv makes them, and NETLINK_ROUTE
// sockets, in the host's network namespace with the caller's host ids, and
// installs them into the guest (socket.go); in mode loopback the kernel
// makes them in the instance's own namespace; in mode none they are EACCES.
// Raw and packet sockets need the policy's raw. Everything after socket()
// runs natively. bind, connect and listen are checked (address length and
// family) and continued, but for the binds that need netsrv's rights: a
// published port in mode all, bound to its host port, and a port below 1024
// in mode loopback; netsrv binds the guest's own socket, taken with
// pidfd_getfd (addr.go).
//
// Runs in: the netsrv process of each instance. Owns: nothing; the sockets
// are the guests'. It reads the policy file the broker writes
// (launch.Config.Policy) at its first call and whenever the file changes, so
// a restarted netsrv serves the same policy; a file it cannot read means
// mode none. Waits on: nobody.
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
