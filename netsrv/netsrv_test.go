package netsrv

import (
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/servers/servertest"
	"lx/shared/launch"
	"lx/shared/netpolicy"
)

type (
	env = servertest.Env
	tc  = servertest.Case
)

var (
	cont  = servertest.Continue
	errno = servertest.Errno
	val   = servertest.Val
)

const capBind = 1 << unix.CAP_NET_BIND_SERVICE

// policy writes the instance's network policy, and makes the caller the
// test's own user, with capabilities caps.
func policy(e *env, p netpolicy.Policy, caps uint64) {
	if err := netpolicy.Save(e.Path("policy"), &p); err != nil {
		e.T.Fatal(err)
	}
	e.WriteStatus(servertest.Tid, uint32(os.Getuid()), uint32(os.Getgid()), caps)
}

var (
	all      = netpolicy.Policy{Mode: netpolicy.All}
	loopback = netpolicy.Policy{Mode: netpolicy.Loopback}
	none     = netpolicy.Policy{Mode: netpolicy.None}
	raw      = netpolicy.Policy{Mode: netpolicy.All, Raw: true}
)

// socket is socket(domain, typ, proto) under policy p.
func socket(p netpolicy.Policy, domain, typ, proto int) func(*env) []uint64 {
	return func(e *env) []uint64 {
		policy(e, p, 0)
		return []uint64{uint64(domain), uint64(typ), uint64(proto)}
	}
}

// installed checks that the call installed one socket of domain and type
// as the guest's fd 3, with its side effect marked and its answer kept.
func installed(domain, typ int) func(*testing.T, *env, servertest.Reply) {
	return func(t *testing.T, e *env, r servertest.Reply) {
		fd, ok := r.FDs[3]
		if len(r.FDs) != 1 || !ok {
			t.Fatalf("installed %v, want one fd, 3", r.FDs)
		}
		d, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
		ty, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if d != domain || ty != typ {
			t.Errorf("installed a socket of domain %d type %d, want %d %d", d, ty, domain, typ)
		}
		if !r.Effect || !r.Done || r.Answer != 3 {
			t.Errorf("effect %v done %v answer %d: want the install marked and 3 recorded", r.Effect, r.Done, r.Answer)
		}
	}
}

// inet4 is a sockaddr_in of port on 127.0.0.1, n bytes of it.
func inet4(port uint16, n int) []byte {
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.LittleEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], []byte{127, 0, 0, 1})
	return b[:n]
}

// bind is a bind of the guest's fd 3 (a fresh TCP socket of the test's,
// kept in *sock) to port under policy p.
func bind(p netpolicy.Policy, port uint16, caps uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		policy(e, p, caps)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			e.T.Fatal(err)
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		e.GuestFd(3, fd)
		unix.Close(fd)
		a := inet4(port, unix.SizeofSockaddrInet4)
		return []uint64{3, e.Mem.Bytes(a), uint64(len(a))}
	}
}

// boundTo checks that the guest's socket is bound to port.
func boundTo(port func() uint16) func(*testing.T, *env, servertest.Reply) {
	return func(t *testing.T, e *env, r servertest.Reply) {
		sa, err := unix.Getsockname(e.GuestFds[3])
		in, ok := sa.(*unix.SockaddrInet4)
		if err != nil || !ok || in.Port != int(port()) {
			t.Errorf("guest socket bound to %+v (%v), want port %d", sa, err, port())
		}
	}
}

func unbound(t *testing.T, e *env, r servertest.Reply) {
	sa, _ := unix.Getsockname(e.GuestFds[3])
	if in, ok := sa.(*unix.SockaddrInet4); ok && in.Port != 0 {
		t.Errorf("guest socket bound to port %d", in.Port)
	}
}

// freePort is a host port nothing listens on.
func freePort() uint16 {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	sa, _ := unix.Getsockname(fd)
	if in, ok := sa.(*unix.SockaddrInet4); ok {
		return uint16(in.Port)
	}
	return 0
}

var hostPort = freePort()

// lowPort is the port below 1024 the root-only cases bind.
const lowPort = 1019

func asRoot(f func(*env) []uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		servertest.Root(e.T, "binds a port below 1024 on the host")
		return f(e)
	}
}

func addr(p netpolicy.Policy, b []byte, n uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		policy(e, p, 0)
		return []uint64{3, e.Mem.Bytes(b), n}
	}
}

var cases = []tc{
	{Name: "AF_UNIX", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_UNIX, unix.SOCK_STREAM, 0), Want: cont},
	{Name: "TCP in the host's namespace", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_STREAM, 0), Want: val(3),
		Check: installed(unix.AF_INET, unix.SOCK_STREAM)},
	{Name: "UDP6, non-blocking, in the host's namespace", Nr: unix.SYS_SOCKET,
		Args: socket(all, unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0), Want: val(3),
		Check: installed(unix.AF_INET6, unix.SOCK_DGRAM)},
	{Name: "made with the caller's ids", Nr: unix.SYS_SOCKET, Args: func(e *env) []uint64 {
		servertest.Root(e.T, "makes a socket as another user")
		policy(e, all, 0)
		e.WriteStatus(servertest.Tid, 4321, 4322, 0)
		return []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}
	}, Want: val(3), Check: func(t *testing.T, e *env, r servertest.Reply) {
		var st unix.Stat_t
		if err := unix.Fstat(r.FDs[3], &st); err != nil || st.Uid != 4321 {
			t.Errorf("socket owned by %d (%v), want the caller's 4321", st.Uid, err)
		}
	}},
	{Name: "netlink route in the host's namespace", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE),
		Want: val(3), Check: installed(unix.AF_NETLINK, unix.SOCK_RAW)},
	{Name: "netlink route of a loopback instance", Nr: unix.SYS_SOCKET, Args: socket(loopback, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE), Want: cont},
	{Name: "other netlink families stay in the instance", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT), Want: cont},
	{Name: "TCP of a loopback instance", Nr: unix.SYS_SOCKET, Args: socket(loopback, unix.AF_INET, unix.SOCK_STREAM, 0), Want: cont},
	{Name: "TCP with no network", Nr: unix.SYS_SOCKET, Args: socket(none, unix.AF_INET, unix.SOCK_STREAM, 0), Want: errno(unix.EACCES)},
	{Name: "no policy file: no network", Nr: unix.SYS_SOCKET, Args: func(*env) []uint64 { return []uint64{unix.AF_INET6, unix.SOCK_DGRAM, 0} },
		Want: errno(unix.EACCES)},
	{Name: "raw without --net-raw", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP), Want: errno(unix.EPERM)},
	{Name: "packet without --net-raw", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_PACKET, unix.SOCK_DGRAM, 0), Want: errno(unix.EPERM)},
	// Linux looks the protocol up before it checks the permission (LTP socket01).
	{Name: "raw IP of protocol 0: no such protocol before any permission", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_RAW, 0), Want: errno(unix.EPROTONOSUPPORT)},
	{Name: "raw IPv6 of protocol 0, no network", Nr: unix.SYS_SOCKET, Args: socket(none, unix.AF_INET6, unix.SOCK_RAW, 0), Want: errno(unix.EPROTONOSUPPORT)},
	{Name: "SOCK_PACKET is no IP type", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_PACKET, 0), Want: errno(unix.ESOCKTNOSUPPORT)},
	{Name: "SOCK_RDM is no IP type", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_RDM, 0), Want: errno(unix.ESOCKTNOSUPPORT)},
	{Name: "type out of range", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, 11, 0), Want: errno(unix.EINVAL)},
	{Name: "unknown type flag", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, unix.SOCK_STREAM|0x10, 0), Want: errno(unix.EINVAL)},
	{Name: "raw of a loopback instance with --net-raw", Nr: unix.SYS_SOCKET,
		Args: socket(netpolicy.Policy{Mode: netpolicy.Loopback, Raw: true}, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP), Want: cont},
	{Name: "raw in the host's namespace with --net-raw", Nr: unix.SYS_SOCKET, Args: asRoot(socket(raw, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)),
		Want: val(3), Check: installed(unix.AF_INET, unix.SOCK_RAW)},
	{Name: "an unsupported family", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_BLUETOOTH, unix.SOCK_STREAM, 0), Want: errno(unix.EAFNOSUPPORT)},
	{Name: "an unknown type", Nr: unix.SYS_SOCKET, Args: socket(all, unix.AF_INET, 99, 0), Want: errno(unix.EINVAL)},
	{Name: "caller gone", Nr: unix.SYS_SOCKET, Args: func(e *env) []uint64 {
		a := socket(all, unix.AF_INET, unix.SOCK_STREAM, 0)(e)
		e.Gone = true
		return a
	}, Want: errno(unix.EINTR), Check: func(t *testing.T, e *env, r servertest.Reply) {
		if len(r.FDs) != 0 || r.Effect {
			t.Errorf("installed %v for a caller that is gone", r.FDs)
		}
	}},

	{Name: "an unpublished port", Nr: unix.SYS_BIND, Args: bind(all, 8080, 0), Want: cont, Check: unbound},
	{Name: "any port", Nr: unix.SYS_BIND, Args: bind(all, 0, capBind), Want: cont, Check: unbound},
	{Name: "a published port", Nr: unix.SYS_BIND,
		Args: bind(netpolicy.Policy{Mode: netpolicy.All, Publish: []netpolicy.Publish{{Host: hostPort, Guest: 8080}}}, 8080, 0),
		Want: val(0), Check: func(t *testing.T, e *env, r servertest.Reply) {
			boundTo(func() uint16 { return hostPort })(t, e, r)
			if !r.Effect || !r.Done {
				t.Errorf("effect %v done %v: want the bind marked and its answer kept", r.Effect, r.Done)
			}
		}},
	{Name: "a low port of the host's", Nr: unix.SYS_BIND, Args: bind(all, lowPort, capBind), Want: errno(unix.EACCES), Check: unbound},
	{Name: "a published port, no such fd", Nr: unix.SYS_BIND, Args: func(e *env) []uint64 {
		a := bind(netpolicy.Policy{Mode: netpolicy.All, Publish: []netpolicy.Publish{{Host: hostPort, Guest: 8080}}}, 8080, 0)(e)
		a[0] = 9
		return a
	}, Want: errno(unix.EBADF)},
	{Name: "a published port, caller gone", Nr: unix.SYS_BIND, Args: func(e *env) []uint64 {
		a := bind(netpolicy.Policy{Mode: netpolicy.All, Publish: []netpolicy.Publish{{Host: hostPort, Guest: 8080}}}, 8080, 0)(e)
		e.Gone = true
		return a
	}, Want: errno(unix.EINTR), Check: unbound},
	{Name: "loopback: a high port", Nr: unix.SYS_BIND, Args: bind(loopback, 8080, 0), Want: cont, Check: unbound},
	{Name: "loopback: a low port without CAP_NET_BIND_SERVICE", Nr: unix.SYS_BIND, Args: bind(loopback, lowPort, 0), Want: errno(unix.EACCES), Check: unbound},
	{Name: "loopback: a low port with CAP_NET_BIND_SERVICE", Nr: unix.SYS_BIND, Args: asRoot(bind(loopback, lowPort, capBind)), Want: val(0),
		Check: boundTo(func() uint16 { return lowPort })},
	{Name: "AF_UNIX", Nr: unix.SYS_BIND, Args: addr(all, []byte{unix.AF_UNIX, 0, '/', 's', 0}, 5), Want: cont},
	{Name: "an address too short for AF_INET", Nr: unix.SYS_BIND, Args: addr(all, inet4(80, 8), 8), Want: errno(unix.EINVAL)},
	{Name: "an address too short for AF_INET6", Nr: unix.SYS_BIND, Args: addr(all, append([]byte{unix.AF_INET6, 0}, make([]byte, 18)...), 20), Want: errno(unix.EINVAL)},
	{Name: "a length past sockaddr_storage", Nr: unix.SYS_BIND, Args: addr(all, make([]byte, 129), 129), Want: errno(unix.EINVAL)},
	{Name: "a negative length", Nr: unix.SYS_BIND, Args: addr(all, inet4(80, 16), ^uint64(0)), Want: errno(unix.EINVAL)},
	{Name: "a length under 2: the kernel's", Nr: unix.SYS_BIND, Args: addr(all, inet4(80, 16), 1), Want: cont},
	{Name: "address unmapped", Nr: unix.SYS_BIND, Args: func(e *env) []uint64 { policy(e, all, 0); return []uint64{3, servertest.Unmapped, 16} }, Want: errno(unix.EFAULT)},
	{Name: "address shorter than its length", Nr: unix.SYS_BIND, Args: addr(all, inet4(80, 8), 16), Want: errno(unix.EFAULT)},

	{Name: "an address", Nr: unix.SYS_CONNECT, Args: addr(all, inet4(80, 16), 16), Want: cont},
	{Name: "an address too short for AF_INET", Nr: unix.SYS_CONNECT, Args: addr(all, inet4(80, 15), 15), Want: errno(unix.EINVAL)},
	{Name: "address unmapped", Nr: unix.SYS_CONNECT, Args: func(e *env) []uint64 { policy(e, all, 0); return []uint64{3, servertest.Unmapped, 16} }, Want: errno(unix.EFAULT)},
	{Name: "a length past sockaddr_storage", Nr: unix.SYS_CONNECT, Args: addr(all, make([]byte, 200), 200), Want: errno(unix.EINVAL)},

	{Name: "continued", Nr: unix.SYS_LISTEN, Args: func(e *env) []uint64 { return []uint64{3, 128} }, Want: cont},
}

func table(e *env) servers.Table {
	p := "/nonexistent/policy"
	if e != nil {
		p = e.Path("policy")
	}
	return Table(&launch.Config{Name: "netsrv", Policy: p})
}

func TestHandlers(t *testing.T) { servertest.Run(t, table, cases) }

func TestEveryHandlerHasCases(t *testing.T) { servertest.Covered(t, table(nil), cases) }
