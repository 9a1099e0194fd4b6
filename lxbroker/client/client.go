// Package client is the lx command's side of the broker socket: it starts
// the user's broker when none runs, sends a request and relays what comes
// back — a run's stdio, terminal and signals, a trace's or a status's
// lines, an exit status.
//
// Runs in: the lx command. Owns: nothing; the broker owns the instances.
// Waits on: the broker.
package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/routes"
)

// Dial connects to this user's broker, starting one if none runs.
func Dial() (*net.UnixConn, error) {
	dir, err := proto.RuntimeDir()
	if err != nil {
		return nil, err
	}
	addr := &net.UnixAddr{Name: proto.SocketPath(dir), Net: "unixpacket"}
	if c, err := net.DialUnix("unixpacket", nil, addr); err == nil {
		return c, nil
	}
	if err := startBroker(dir); err != nil {
		return nil, err
	}
	var last error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialUnix("unixpacket", nil, addr)
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, fmt.Errorf("cannot reach the broker at %s: %v (see %s)", addr.Name, last,
		filepath.Join(proto.StateDir(dir), "broker.log"))
}

// dialRunning connects to the broker only if one runs.
func dialRunning() (*net.UnixConn, error) {
	dir, err := proto.RuntimeDir()
	if err != nil {
		return nil, err
	}
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: proto.SocketPath(dir), Net: "unixpacket"})
}

func startBroker(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"broker"}
	if g := os.Getenv("LX_GRACE"); g != "" {
		args = append(args, "--grace", g)
	}
	cmd := exec.Command(self, args...)
	log, err := os.OpenFile(filepath.Join(proto.StateDir(dir), "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		cmd.Stderr = log
		defer log.Close()
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start broker: %w", err)
	}
	return cmd.Process.Release()
}

// send sends r on c.
func send(c *net.UnixConn, r *proto.Request, fds ...int) error {
	r.Version = proto.ProtocolVersion
	if err := proto.Send(c, r, fds...); err != nil {
		return fmt.Errorf("talk to the broker: %w", err)
	}
	return nil
}

// request dials the broker (starting it) and sends r.
func request(r *proto.Request, fds ...int) (*net.UnixConn, error) {
	c, err := Dial()
	if err != nil {
		return nil, err
	}
	if err := send(c, r, fds...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Target is the distro a run goes to, as the registry has it
// (lxbroker/distro): its name, root ("" the host's), the mounts and memory
// bound of its settings.
type Target struct {
	Name, Root string
	Mounts     []proto.Mount
	Memory     int64
}

// RunOptions are the flags of lx run and lx shell.
type RunOptions struct {
	Cwd, User string
	Mounts    []proto.Mount
	Net       proto.NetOptions
	TrapPaths bool  // start the instance with every path call trapped
	Memory    int64 // the memory bound of the instance it starts, in bytes (0: the distro's, else the default)
}

// Run runs argv in the target's instance with this process's stdin,
// stdout, stderr, environment and working directory, and returns its exit
// status as a shell reports it. Signals lx receives go to the command's
// foreground process group.
func Run(argv []string, d Target, o RunOptions) (int, error) {
	cwd := o.Cwd
	var err error
	switch {
	case cwd != "":
	case d.Root == "":
		if cwd, err = os.Getwd(); err != nil {
			return 125, err
		}
	default: // a distro starts in the user's home, as a login would (init knows it)
	}
	var mounts []proto.Mount
	if d.Root == "" {
		// Under the default distro the working directory is the host's,
		// bound at its own path.
		asked := cwd
		if cwd, err = filepath.EvalSymlinks(cwd); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return 125, fmt.Errorf("cannot enter directory %q: %w", asked, err)
		}
		mounts = append(mounts, proto.Mount{Host: cwd, Guest: cwd, Cwd: true})
	}
	mounts = append(append(mounts, d.Mounts...), o.Mounts...)
	if len(mounts) > proto.MaxMounts {
		return 125, fmt.Errorf("%d mounts: a run takes at most %d", len(mounts), proto.MaxMounts)
	}
	dirs, err := openDirs(mounts)
	if err != nil {
		return 125, err
	}
	defer proto.CloseAll(dirs)
	memory := o.Memory
	if memory == 0 {
		memory = d.Memory
	}
	run := &proto.Run{Command: proto.Command{Argv: argv, Env: os.Environ(), Cwd: cwd, User: o.User}, Mounts: mounts,
		Net: o.Net, Memory: memory, Hide: clientDirs()}
	fds, err := stdioFor(&run.Command)
	if err != nil {
		return 125, err
	}
	c, err := request(&proto.Request{Op: proto.OpRun, Distro: d.Name, Root: d.Root, TrapPaths: o.TrapPaths, Run: run},
		append(fds, dirs...)...)
	if err != nil {
		return 125, err
	}
	defer c.Close()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			send(c, &proto.Request{Op: proto.OpSignal, Sig: int(s.(syscall.Signal))})
		}
	}()
	var term *terminal
	defer func() { term.finish() }()
	for {
		m, fds, err := proto.Recv[proto.Reply](c)
		if err != nil {
			return 125, fmt.Errorf("lost the broker: %w", err)
		}
		switch {
		case m.Op == proto.OpPty && len(fds) == 1 && term == nil:
			term = startTerminal(fds[0], run.Command.Tty)
			continue
		case m.Op == proto.OpExit:
			proto.CloseAll(fds)
			return m.Status, nil
		case m.Op == proto.OpError:
			proto.CloseAll(fds)
			return m.Status, &proto.ExitError{Status: m.Status, Text: m.Text}
		}
		proto.CloseAll(fds)
		return 125, fmt.Errorf("unexpected answer %q from the broker", m.Op)
	}
}

// openDirs opens each mount's host directory (O_PATH): the instance gets
// the directory this process could open, whatever its path names later.
func openDirs(mounts []proto.Mount) ([]int, error) {
	var dirs []int
	for _, m := range mounts {
		fd, err := unix.Open(m.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			proto.CloseAll(dirs)
			if m.Cwd {
				return nil, fmt.Errorf("cannot enter directory %q: %w", m.Host, err)
			}
			return nil, fmt.Errorf("--mount %s: %w", m.Host, err)
		}
		dirs = append(dirs, fd)
	}
	return dirs, nil
}

// stdioFor sets cmd's Null and Tty bits for this process's stdio and
// returns the fds to hand in (proto.ClassifyStdio).
func stdioFor(cmd *proto.Command) ([]int, error) {
	var fds []int
	for fd, name := range []string{"stdin", "stdout", "stderr"} {
		kind, err := proto.ClassifyStdio(fd, name)
		if err != nil {
			return nil, err
		}
		switch kind {
		case proto.StdioPass:
			fds = append(fds, fd)
		case proto.StdioNull:
			cmd.Null |= 1 << fd
		case proto.StdioTty:
			cmd.Null |= 1 << fd
			if cmd.Tty == 0 {
				cmd.Rows, cmd.Cols = winsize(fd)
			}
			cmd.Tty |= 1 << fd
		}
	}
	return fds, nil
}

// clientDirs are the lx directories of this process's environment, for a
// run request (proto.Run.Hide).
func clientDirs() []proto.Hidden {
	var out []proto.Hidden
	if data, err := proto.DataDir(); err == nil {
		out = append(out, proto.Hidden{Path: data})
	}
	if rt, err := proto.RuntimeDir(); err == nil {
		out = append(out, proto.Hidden{Path: proto.StateDir(rt)})
	}
	return out
}

// ParseMount reads HOSTDIR:GUESTDIR[:ro] (GUESTDIR defaults to HOSTDIR's
// absolute path). The host directory is resolved here, on the host side.
func ParseMount(spec string) (proto.Mount, error) {
	f := strings.Split(spec, ":")
	var m proto.Mount
	switch {
	case len(f) == 3 && (f[2] == "ro" || f[2] == "rw"):
		m.ReadOnly = f[2] == "ro"
	case len(f) == 1 || len(f) == 2:
	default:
		return m, fmt.Errorf("--mount %s: want HOSTDIR:GUESTDIR[:ro]", spec)
	}
	host, err := filepath.Abs(f[0])
	if err == nil {
		host, err = filepath.EvalSymlinks(host)
	}
	if err != nil {
		return m, fmt.Errorf("--mount %s: %w", spec, err)
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		return m, fmt.Errorf("--mount %s: %s is not a directory", spec, f[0])
	}
	m.Host, m.Guest = host, host
	if len(f) > 1 && f[1] != "" {
		m.Guest = f[1]
	}
	if !filepath.IsAbs(m.Guest) {
		return m, fmt.Errorf("--mount %s: the instance path %s is not absolute", spec, m.Guest)
	}
	m.Guest = filepath.Clean(m.Guest)
	return m, nil
}

// Stream sends a request (starting the broker) and calls line for each
// line the broker sends back.
func Stream(r *proto.Request, line func(string)) error {
	c, err := request(r)
	if err != nil {
		return err
	}
	defer c.Close()
	return lines(c, line)
}

// lines reads replies until the end, calling line for each OpLine.
func lines(c *net.UnixConn, line func(string)) error {
	for {
		r, fds, err := proto.Recv[proto.Reply](c)
		proto.CloseAll(fds)
		if err != nil {
			if errors.Is(err, proto.ErrClosed) {
				return nil
			}
			return err
		}
		switch r.Op {
		case proto.OpLine:
			line(r.Text)
		case proto.OpExit:
			return nil
		case proto.OpError:
			return &proto.ExitError{Status: r.Status, Text: r.Text}
		}
	}
}

// ifRunning sends r to the broker if one runs, and reads the answer's
// lines; without a broker it does nothing.
func ifRunning(r *proto.Request, line func(string)) error {
	c, err := dialRunning()
	if err != nil {
		return nil // no broker: nothing runs
	}
	defer c.Close()
	if err := send(c, r); err != nil {
		return err
	}
	return lines(c, line)
}

// Shutdown stops every instance and the broker, if one runs.
func Shutdown() error {
	return ifRunning(&proto.Request{Op: proto.OpShutdown}, func(string) {})
}

// Terminate stops the instance of a distro, if it runs.
func Terminate(name string) error {
	return ifRunning(&proto.Request{Op: proto.OpTerminate, Distro: name}, func(string) {})
}

// Status is the broker's status, the zero Status when no broker runs.
func Status() (proto.Status, error) {
	var st proto.Status
	err := ifRunning(&proto.Request{Op: proto.OpStatus}, func(line string) { json.Unmarshal([]byte(line), &st) })
	return st, err
}

// Running returns the names of the running instances (none without a broker).
func Running() map[string]bool {
	out := map[string]bool{}
	st, _ := Status()
	for _, in := range st.Instances {
		out[in.Name] = true
	}
	return out
}

// Profile is the profile of distro name's instance: the running
// instance's, else the one an instance started now would be asked for
// (running reports which).
func Profile(name, root string, trapPaths bool) (p routes.Profile, running bool) {
	st, _ := Status()
	for _, in := range st.Instances {
		if in.Name == name {
			return in.Profile, true
		}
	}
	return proto.WantedProfile(root, trapPaths), false
}
