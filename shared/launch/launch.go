// Package launch is what the broker knows of the components of an
// instance (the servers and the router) and how it starts one: a row of the
// component table each (Component), and the one value a component is
// started with (Config): its name, its fds by name, the instance's
// profile and init, and the limits and knobs the broker chose. The broker
// writes it into a sealed memfd that the component gets as fd 3 (Fd); the
// fds it names follow from fd 4. Nothing reaches a component through its
// environment or its arguments. What changes while the component runs (the
// holder of the guests' namespaces, tracing, an exit request) is in its
// control page (shared/control).
//
// Runs in: the broker (Files) and every component (Read). Owns: the launch
// config's format and the component table's data. Waits on: nobody.
package launch

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

// Component is the data of one row of the component table
// (servers/components has the whole row, with the handler table and the
// sandbox): how the broker starts one component of every instance and
// keeps it alive (DESIGN §7).
type Component struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // KindServer or KindRouter
	// Order is the start order: all start before the first guest runs.
	Order int `json:"order"`
	// Restart is the policy, RestartAlways: the component is restarted
	// whenever it exits or hangs, until the instance ends.
	Restart string `json:"restart"`
	// Backoff is the delay before a restart. It doubles, up to MaxBackoff,
	// each time an incarnation dies within a second of starting (a crash
	// loop), and starts over when one lived longer. A restart asked for
	// with lx restart waits for nothing.
	Backoff    time.Duration `json:"backoff_ns"`
	MaxBackoff time.Duration `json:"max_backoff_ns"`
	// Heartbeat is the longest a healthy component goes without bumping
	// the heartbeat counter of its control page; HangAfter without a
	// bump, it is killed (SIGKILL) as hung and restarted (LX_HANG_AFTER in
	// the broker's environment; 0 turns it off).
	Heartbeat time.Duration `json:"heartbeat_ns"`
	HangAfter time.Duration `json:"hang_after_ns"`
	// State says what survives a restart, and where it is kept: beside
	// the control page (the state region the broker holds for each
	// component) and the component's rings.
	State string `json:"state"`
}

// Kinds and restart policies of Component.
const (
	KindServer    = "server" // serves one routes.Kind from its ring
	KindRouter    = "router" // reads the listener, feeds the servers' rings
	RestartAlways = "always"
)

// Check refuses a table the broker cannot run: a name twice, no router or
// more than one, an unknown kind or policy, or servers other than one for
// each server kind of the route table (routes.ServerKinds).
func Check(table []Component) error {
	seen := map[string]bool{}
	routers, servers := 0, 0
	for _, c := range table {
		switch {
		case c.Name == "" || seen[c.Name]:
			return fmt.Errorf("component table: name %q is empty or twice", c.Name)
		case c.Kind != KindServer && c.Kind != KindRouter:
			return fmt.Errorf("component %s: unknown kind %q", c.Name, c.Kind)
		case c.Restart != RestartAlways:
			return fmt.Errorf("component %s: unknown restart policy %q", c.Name, c.Restart)
		}
		seen[c.Name] = true
		if c.Kind == KindRouter {
			routers++
		} else {
			servers++
		}
	}
	if routers != 1 {
		return fmt.Errorf("component table: %d routers, want 1", routers)
	}
	kinds := routes.ServerKinds()
	for _, k := range kinds {
		if !seen[k.Server()] {
			return fmt.Errorf("component table: no server for the %s routes", k.Server())
		}
	}
	if servers != len(kinds) {
		return fmt.Errorf("component table: %d servers for %d server kinds", servers, len(kinds))
	}
	return nil
}

// Fd is the fd of the config in a component.
const Fd = 3

// Names of the fds a component gets (Config.Fds).
const (
	Listener = "listener" // the instance's seccomp listener (every component)
	Control  = "control"  // the component's control page (every component)
	Ring     = "ring"     // a server: the router → server call ring
	Trace    = "trace"    // a server: its trace ring (lossy)
	Root     = "root"     // a server: O_PATH fd of the instance root
	Proc     = "proc"     // a server: the root of the instance's proc mount
)

// RingOf and ControlOf name the router's fds of server s's call ring and
// control page.
func RingOf(s string) string    { return Ring + "/" + s }
func ControlOf(s string) string { return Control + "/" + s }

// Config is a component's launch config.
type Config struct {
	Name string `json:"name"` // the component: procsrv, fssrv, netsrv, sigsrv or router
	// Fds maps a name above to the fd number the component has it at.
	Fds     map[string]int `json:"fds"`
	Profile routes.Profile `json:"profile"`  // what the instance runs natively
	InitPid int            `json:"init_pid"` // host pid of the instance's init
	// MaxProcs bounds the instance's processes where procsrv counts forks
	// (LX_MAX_PROCS in the broker's environment).
	MaxProcs int `json:"max_procs"`
	// Policy is the file of the instance's network policy (netsrv).
	Policy string `json:"policy,omitempty"`
	// Spin is how long the component polls before it sleeps (LX_SPIN for
	// servers, LX_ROUTER_SPIN for the router).
	Spin time.Duration `json:"spin_ns"`
	// Sandbox is the mode of the component's own syscall filter: "on"
	// (calls off its list trap), "log" or "off" (LX_SANDBOX).
	Sandbox string `json:"sandbox"`
}

// maxConfig bounds what Read reads.
const maxConfig = 1 << 20

// Fd returns the fd the config names name, or an error naming it.
func (c *Config) Fd(name string) (int, error) {
	fd, ok := c.Fds[name]
	if !ok || fd <= Fd {
		return -1, fmt.Errorf("launch config of %s: no fd %q", c.Name, name)
	}
	return fd, nil
}

// Files writes c into a sealed memfd and returns the files to hand the
// component from fd 3 on (exec.Cmd.ExtraFiles): the config, then files in
// the order of their names, which c.Fds records. The caller closes the
// first; the others stay its own.
func Files(c Config, files map[string]*os.File) ([]*os.File, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	c.Fds = map[string]int{}
	extra := []*os.File{nil}
	for i, n := range names {
		if files[n] == nil {
			return nil, fmt.Errorf("launch config of %s: fd %q is missing", c.Name, n)
		}
		c.Fds[n] = Fd + 1 + i
		extra = append(extra, files[n])
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("lx-launch-"+c.Name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("launch config of %s: %w", c.Name, err)
	}
	f := os.NewFile(uintptr(fd), "launch-"+c.Name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		f.Close()
		return nil, fmt.Errorf("launch config of %s: seal: %w", c.Name, err)
	}
	extra[0] = f
	return extra, nil
}

// Read reads the config at fd 3 and closes it.
func Read() (*Config, error) { return ReadFrom(os.NewFile(Fd, "launch")) }

// ReadFrom reads a config from f and closes f.
func ReadFrom(f *os.File) (*Config, error) {
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("launch config: %w", err)
	}
	if len(b) > maxConfig {
		return nil, fmt.Errorf("launch config: over %d bytes", maxConfig)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("launch config: %w", err)
	}
	return &c, nil
}
