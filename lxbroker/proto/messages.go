package proto

import (
	"lx/shared/routes"
)

// ProtocolVersion is checked on every client request: a broker started by an
// older lx refuses a newer client with a message saying what to do.
const ProtocolVersion = 2

// Ops. Each exchange has its own message types; Op says which message of
// the exchange it is.
const (
	// Client → broker (Request), one a connection; on a run's connection
	// any number of OpSignal follow.
	OpRun       = "run"       // with the stdio fds Run.Command does not mark Null, then one O_PATH fd per Run.Mounts
	OpSignal    = "signal"    // signal the command's foreground process group with Sig
	OpTrace     = "trace"     // stream the trace events of Trace.Servers
	OpStatus    = "status"    // one line of JSON: Status
	OpPs        = "ps"        // one line of JSON: []PsEntry of Distro's instance
	OpShutdown  = "shutdown"  // stop every instance and the broker
	OpTerminate = "terminate" // stop Distro's instance
	OpRestart   = "restart"   // replace a component of Distro's instance

	// Broker → client (Reply).
	OpExit  = "exit"  // the end: Status is the command's exit status (0 for other requests)
	OpError = "error" // the end: Text says what failed, Status is lx's exit status
	OpLine  = "line"  // one line of output: Text
	OpPty   = "pty"   // with the master of the pty that stands for the client's terminal (also init → broker)

	// Broker → init (ToInit).
	OpProfile = "profile" // first: what to make the filter from (Profile, Tasks)
	OpSpawn   = "spawn"   // run Command, with its stdio fds
	OpStop    = "stop"    // SIGTERM every guest, wait up to Seconds, then SIGKILL
	OpDial    = "dial"    // connect to Port of the instance's loopback; init answers OpDial with the socket
	// (and OpSignal: signal the process group of spawn ID with Sig)

	// Init → broker (FromInit): OpReady, then OpHolder, then for each
	// spawn any number of OpPty and one OpExit or OpError (ID the spawn's).
	OpReady  = "ready"  // with the seccomp listener and the proc mount's root (Profile, Execs); keeper → broker too (InitPid)
	OpHolder = "holder" // the holder of the guests' namespaces has pid Holder in the instance (0: Text says why not)

	// Broker → keeper (ToKeeper), answered OpExit or OpError (FromKeeper).
	OpRoot = "root" // first: build the instance root (Root, Hide, Memory), with the root tree when the broker made it; answered OpReady
	OpBind = "bind" // bind Mount into the instance, with the tree when the broker made it
	OpHide = "hide" // cover lx's directories Hide wherever the instance shows them
)

// Request is what a client asks the broker.
type Request struct {
	Op      string `msgpack:"op"`
	Version int    `msgpack:"v"`
	Distro  string `msgpack:"distro,omitempty"` // the instance's name; "" the default distro
	Root    string `msgpack:"root,omitempty"`   // the distro's root directory; "" the host root
	// TrapPaths: the instance the request starts traps every path call and
	// exec, so that lx trace sees them all; false joins any instance.
	TrapPaths bool     `msgpack:"trappaths,omitempty"`
	Run       *Run     `msgpack:"run,omitempty"`     // OpRun
	Trace     *Trace   `msgpack:"trace,omitempty"`   // OpTrace
	Restart   *Restart `msgpack:"restart,omitempty"` // OpRestart
	Sig       int      `msgpack:"sig,omitempty"`     // OpSignal
}

// Run is a run request: the command, and what the instance it runs in
// must have or be started with.
type Run struct {
	Command Command `msgpack:"command"`
	// Mounts are the host directories to mount (lx run --mount, the
	// distro's, and under the default distro the working directory).
	Mounts []Mount `msgpack:"mounts,omitempty"`
	// Hide are lx's own directories as the client's environment names
	// them, which the instance must not show.
	Hide   []Hidden   `msgpack:"hide,omitempty"`
	Net    NetOptions `msgpack:"net"`
	Memory int64      `msgpack:"memory,omitempty"` // the memory bound it asks for, in bytes; 0 the default
}

// NetOptions are a run's network options: the instance's network mode
// (all, loopback, none; "" joins a running instance whatever its mode and
// starts one in mode all), whether it allows raw sockets, and the ports the
// run publishes (HOSTPORT:GUESTPORT) while it runs.
type NetOptions struct {
	Mode    string   `msgpack:"mode,omitempty"`
	Raw     bool     `msgpack:"raw,omitempty"`
	Publish []string `msgpack:"publish,omitempty"`
}

// Command is what init runs: the client's request, passed on as it is.
type Command struct {
	Argv []string `msgpack:"argv"`
	Env  []string `msgpack:"env,omitempty"`
	// Cwd is the working directory in the instance; "" is the user's
	// home.
	Cwd  string `msgpack:"cwd,omitempty"`
	User string `msgpack:"user,omitempty"` // run as this user of the instance (name or uid); "" root
	Null int    `msgpack:"null,omitempty"` // bit i: stdio fd i is the host's /dev/null or a terminal, and was not sent
	Tty  int    `msgpack:"tty,omitempty"`  // bit i: stdio fd i is a terminal, for which a new pty of the instance stands
	Rows int    `msgpack:"rows,omitempty"` // the terminal's window size
	Cols int    `msgpack:"cols,omitempty"`
}

// Trace is a trace request: stream the events of these servers, for
// Seconds (0: until the client goes).
type Trace struct {
	Servers []string `msgpack:"servers"` // none: every server
	Seconds float64  `msgpack:"seconds,omitempty"`
	Calls   []string `msgpack:"calls,omitempty"` // syscall names (lx trace -e); none: every call
	Pids    []int    `msgpack:"pids,omitempty"`  // guest pids (lx trace -p); none: every process
}

// TraceEvent is one call a server served: after lx trace's first line
// (the notice), each line of its stream is one, in JSON.
type TraceEvent struct {
	Server   string `json:"server"`
	Pid      int    `json:"pid"`      // the caller's pid in the instance (lx ps), else its host tid
	Tid      int    `json:"host_tid"` // its host thread id
	Call     string `json:"call"`     // the syscall's name
	Text     string `json:"text"`     // the call with decoded arguments, strace style (guest text escaped)
	Result   string `json:"result"`   // as strace prints it: the value, -1 ERRNO (text), or CONTINUE
	Errno    string `json:"errno,omitempty"`
	Continue bool   `json:"continue,omitempty"` // the kernel ran the call itself
	NS       int64  `json:"latency_ns"`
}

// Restart is a restart request: replace Component with a new incarnation,
// run from Binary when it is not "".
type Restart struct {
	Component string `msgpack:"component"`
	Binary    string `msgpack:"binary,omitempty"`
}

// Reply is what the broker answers a client.
type Reply struct {
	Op     string `msgpack:"op"`
	Status int    `msgpack:"status,omitempty"`
	Text   string `msgpack:"text,omitempty"`
}

// ToInit is what the broker tells init.
type ToInit struct {
	Op      string          `msgpack:"op"`
	ID      uint64          `msgpack:"id,omitempty"`      // the spawn (OpSpawn, OpSignal) or the request (OpStop, OpDial)
	Profile *routes.Profile `msgpack:"profile,omitempty"` // OpProfile: what the instance should run natively
	// Tasks (OpProfile) is the RLIMIT_NPROC bound of the guests; 0 where
	// a pids cgroup bounds them.
	Tasks   int      `msgpack:"tasks,omitempty"`
	Command *Command `msgpack:"command,omitempty"` // OpSpawn
	Sig     int      `msgpack:"sig,omitempty"`     // OpSignal
	Seconds float64  `msgpack:"seconds,omitempty"` // OpStop
	Port    int      `msgpack:"port,omitempty"`    // OpDial
}

// FromInit is what init tells the broker.
type FromInit struct {
	Op string `msgpack:"op"`
	ID uint64 `msgpack:"id,omitempty"`
	// Status: OpExit, the command's exit status; OpError, lx's.
	Status int    `msgpack:"status,omitempty"`
	Text   string `msgpack:"text,omitempty"` // OpError, OpHolder: what failed
	// Profile (OpReady) is what the filter init installed runs natively;
	// Execs says how it runs execve: "native", or "trapped: " and why.
	Profile *routes.Profile `msgpack:"profile,omitempty"`
	Execs   string          `msgpack:"execs,omitempty"`
	Holder  int             `msgpack:"holder,omitempty"` // OpHolder: the holder's pid in the instance
}

// ToKeeper is an order of the broker to the keeper.
type ToKeeper struct {
	Op     string   `msgpack:"op"`
	Root   string   `msgpack:"root,omitempty"`   // OpRoot: the distro's root directory; "" the host root
	Hide   []Hidden `msgpack:"hide,omitempty"`   // OpRoot, OpHide
	Memory int64    `msgpack:"memory,omitempty"` // OpRoot: the memory bound the tmpfs sizes follow
	Mount  *Mount   `msgpack:"mount,omitempty"`  // OpBind
}

// FromKeeper is the keeper's answer to an order.
type FromKeeper struct {
	Op      string `msgpack:"op"`
	InitPid int    `msgpack:"init,omitempty"`   // OpReady: init's host pid
	Status  int    `msgpack:"status,omitempty"` // OpError: lx's exit status
	Text    string `msgpack:"text,omitempty"`   // OpError
}

// Mount is one `lx run --mount HOSTDIR:GUESTDIR[:ro]`, or the run's
// working directory. In a run request each mount comes with the client's
// O_PATH fd of its host directory, after the stdio fds, in order: what the
// client opened, not what the path names later, is what the instance gets.
type Mount struct {
	Host     string `msgpack:"host" json:"host"` // absolute, symlinks resolved on the host
	Guest    string `msgpack:"guest" json:"guest"`
	ReadOnly bool   `msgpack:"ro,omitempty" json:"ro,omitempty"`
	Cwd      bool   `msgpack:"cwd,omitempty" json:"-"` // the run's working directory, bound at its own path
	Dev      uint64 `msgpack:"dev,omitempty" json:"-"` // identity of the host directory the client opened
	Ino      uint64 `msgpack:"ino,omitempty" json:"-"`
}

// Same reports whether two mounts are the same order.
func (m Mount) Same(o Mount) bool {
	return m.Host == o.Host && m.Guest == o.Guest && m.ReadOnly == o.ReadOnly
}

// ExitError is a failure with the exit status lx should end with.
type ExitError struct {
	Status int
	Text   string
}

func (e *ExitError) Error() string { return e.Text }

// DefaultDistro is the instance name when no distro is named: the host root.
const DefaultDistro = "default"

// Hostname is the instance's host name (its uts namespace, /etc/hostname,
// /etc/hosts).
const Hostname = "lx"
