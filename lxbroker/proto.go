package lxbroker

import (
	"errors"
	"fmt"
	"net"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

// ProtocolVersion is checked on every client request: a broker started by an
// older lx refuses a newer client with a message saying what to do.
const ProtocolVersion = 1

// Msg is every message on the broker socket and on init's control socket
// (unix SOCK_SEQPACKET: one message a packet, fds attached with SCM_RIGHTS).
type Msg struct {
	Op      string   `msgpack:"op"`
	Version int      `msgpack:"v,omitempty"`
	ID      uint64   `msgpack:"id,omitempty"`
	Argv    []string `msgpack:"argv,omitempty"`
	Env     []string `msgpack:"env,omitempty"`
	Cwd     string   `msgpack:"cwd,omitempty"`
	Distro  string   `msgpack:"distro,omitempty"`
	Root    string   `msgpack:"root,omitempty"` // the distro's root directory; "" for the host root
	Servers []string `msgpack:"servers,omitempty"`
	Seconds float64  `msgpack:"seconds,omitempty"`
	Code    int      `msgpack:"code,omitempty"`
	Sig     int      `msgpack:"sig,omitempty"`
	Null    int      `msgpack:"null,omitempty"` // bit i: stdio fd i is the host's /dev/null or a terminal, and was not sent
	Tty     int      `msgpack:"tty,omitempty"`  // bit i: stdio fd i is a terminal, for which a new pty of the instance stands
	User    string   `msgpack:"user,omitempty"` // run as this user of the instance (name or uid)
	Rows    int      `msgpack:"rows,omitempty"` // its window size
	Cols    int      `msgpack:"cols,omitempty"`
	Text    string   `msgpack:"text,omitempty"`
	Net     string   `msgpack:"net,omitempty"`     // the instance's network mode (policy.Mode); "" joins any
	NetRaw  bool     `msgpack:"netraw,omitempty"`  // the instance allows raw and packet sockets
	Publish []string `msgpack:"publish,omitempty"` // HOSTPORT:GUESTPORT, for the run's lifetime
	Mounts  []Mount  `msgpack:"mounts,omitempty"`  // host directories to mount in the instance (lx run --mount)
	Binary  string   `msgpack:"binary,omitempty"`  // lx restart --binary: the lx binary the component runs from now on
	// TrapPaths: the instance this run starts traps every path call, so that
	// lx trace fssrv sees them all (native.go); false joins any instance.
	TrapPaths bool `msgpack:"trappaths,omitempty"`
	// Execs: init → broker with OpReady, how the instance runs execve:
	// "native", or "trapped: " and why (binfmt.go).
	Execs string `msgpack:"execs,omitempty"`
	// Hide: broker → keeper with OpRoot, lx's own directories, covered
	// wherever the instance would show them (keeper.go).
	Hide []Hidden `msgpack:"hide,omitempty"`
	// Memory: the instance's memory bound in bytes (client → broker: the
	// bound a run asks for, 0 for the default; broker → keeper with
	// OpRoot: the bound its tmpfs sizes follow).
	Memory int64 `msgpack:"memory,omitempty"`
	// Profile: broker → init with OpProfile, what the instance should run
	// natively; init → broker with OpReady, what its filter does.
	Profile *routes.Profile `msgpack:"profile,omitempty"`
	// Tasks: broker → init with OpProfile, the RLIMIT_NPROC bound of the
	// guests (0: a pids cgroup bounds them).
	Tasks int `msgpack:"tasks,omitempty"`
}

// Mount is one `lx run --mount HOSTDIR:GUESTDIR[:ro]`, or the run's
// working directory (Cwd). In a run request each mount comes with the
// client's O_PATH fd of its host directory, after the stdio fds, in
// order: what the client opened, not what the path names later, is what
// the instance gets.
type Mount struct {
	Host     string `msgpack:"host" json:"host"` // absolute, symlinks resolved on the host
	Guest    string `msgpack:"guest" json:"guest"`
	ReadOnly bool   `msgpack:"ro,omitempty" json:"ro,omitempty"`
	Cwd      bool   `msgpack:"cwd,omitempty" json:"-"` // the run's working directory, bound at its own path
	Dev      uint64 `msgpack:"dev,omitempty" json:"-"` // identity of the host directory the client opened
	Ino      uint64 `msgpack:"ino,omitempty" json:"-"`
}

// Ops.
const (
	OpRun       = "run"       // client → broker, with stdin, stdout, stderr
	OpSignal    = "signal"    // client → broker → init: signal the command's process group
	OpTrace     = "trace"     // client → broker
	OpStatus    = "status"    // client → broker
	OpShutdown  = "shutdown"  // client → broker
	OpTerminate = "terminate" // client → broker: stop one distro's instance
	OpRestart   = "restart"   // client → broker: replace component Servers[0] of Distro's instance (from Binary)
	OpPs        = "ps"        // client → broker: the process table of Distro's instance, one line of JSON
	OpExit      = "exit"      // broker → client, init → broker: the command ended with Code
	OpError     = "error"     // any → client: Text, exit Code
	OpLine      = "line"      // broker → client: one line of output (trace, status)
	OpSpawn     = "spawn"     // broker → init, with stdin, stdout, stderr
	OpReady     = "ready"     // keeper → broker (Code: init's pid); init → broker, with the seccomp listener and its proc mount (Profile: the filter's)
	OpProfile   = "profile"   // broker → init, first: the profile to make the filter from (Profile, Tasks)
	OpRoot      = "root"      // broker → keeper, first: build the instance root (Root, Hide, Memory), with the root tree when the broker made it
	OpBind      = "bind"      // broker → keeper: bind Mounts[0] into the instance, with the tree when the broker made it
	OpHide      = "hide"      // broker → keeper: cover lx's directories Hide wherever the instance shows them
	OpStop      = "stop"      // broker → init: SIGTERM every guest, wait up to Seconds, then SIGKILL
	OpPty       = "pty"       // init → broker → client: the pty master of a Tty run
	OpDial      = "dial"      // broker → init: connect to port Code of the instance's loopback; init → broker, with the socket
	OpHolder    = "holder"    // init → broker, before any spawn: the holder of the guests' namespaces has pid Code (0: Text says why not)
)

const maxMsg = 1 << 20

// maxFds bounds the fds of one message: stdio and a run's mounts.
const maxFds = 64

// MaxMounts bounds the host directories one run mounts.
const MaxMounts = maxFds - 8

// send writes m and fds as one packet.
func send(c *net.UnixConn, m *Msg, fds ...int) error {
	b, err := msgpack.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMsg {
		return fmt.Errorf("message of %d bytes is too large", len(b))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one packet. Received fds are close-on-exec.
func recv(c *net.UnixConn) (*Msg, []int, error) {
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(maxFds*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, cm := range cmsgs {
				if got, err := unix.ParseUnixRights(&cm); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	if n == 0 {
		closeAll(fds)
		return nil, nil, errEOF
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(fds)
		return nil, nil, errors.New("message truncated")
	}
	var m Msg
	if err := msgpack.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return nil, nil, fmt.Errorf("bad message: %w", err)
	}
	return &m, fds, nil
}

var errEOF = errors.New("connection closed")

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
