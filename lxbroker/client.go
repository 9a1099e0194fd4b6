package lxbroker

import (
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
)

// Dial connects to this user's broker, starting one if none runs.
func Dial() (*net.UnixConn, error) {
	dir, err := RuntimeDir()
	if err != nil {
		return nil, err
	}
	addr := &net.UnixAddr{Name: SocketPath(dir), Net: "unixpacket"}
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
		filepath.Join(StateDir(dir), "broker.log"))
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
	log, err := os.OpenFile(filepath.Join(StateDir(dir), "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
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

// request dials the broker and sends m.
func request(m *Msg, fds ...int) (*net.UnixConn, error) {
	c, err := Dial()
	if err != nil {
		return nil, err
	}
	m.Version = ProtocolVersion
	if err := send(c, m, fds...); err != nil {
		c.Close()
		return nil, fmt.Errorf("talk to the broker: %w", err)
	}
	return c, nil
}

// ExitError is a failure with the exit code lx should end with.
type ExitError struct {
	Code int
	Text string
}

func (e *ExitError) Error() string { return e.Text }

// NetOptions are a run's network options: the instance's network mode
// (all, loopback, none; "" joins a running instance whatever its mode and
// starts one in mode all), whether it allows raw sockets, and the ports the
// run publishes (HOSTPORT:GUESTPORT) while it runs.
type NetOptions struct {
	Mode    string
	Raw     bool
	Publish []string
}

// Run runs argv in the distro's instance with this process's stdin, stdout,
// stderr, environment and working directory, and returns its exit status as
// RunOptions are the flags of lx run and lx shell.
type RunOptions struct {
	Distro, Cwd, User string
	Mounts            []Mount
	Net               NetOptions
	TrapPaths         bool  // start the instance with every path call trapped (native.go)
	Memory            int64 // the memory bound of the instance it starts, in bytes (0: the default)
}

// openDirs opens each mount's host directory (O_PATH): the instance gets
// the directory this process could open, whatever its path names later.
func openDirs(mounts []Mount) ([]int, error) {
	var dirs []int
	for _, m := range mounts {
		fd, err := unix.Open(m.Host, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(dirs)
			what := "--mount " + m.Host
			if m.Cwd {
				what = "working directory " + m.Host
			}
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		dirs = append(dirs, fd)
	}
	return dirs, nil
}

// ParseMount reads HOSTDIR:GUESTDIR[:ro] (GUESTDIR defaults to HOSTDIR's
// absolute path). The host directory is resolved here, on the host side.
func ParseMount(spec string) (Mount, error) {
	f := strings.Split(spec, ":")
	var m Mount
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

// a shell reports it. Signals lx receives go to the command's process group.
func Run(argv []string, o RunOptions) (int, error) {
	distro, cd, user := o.Distro, o.Cwd, o.User
	d, err := resolve(distro)
	name, root := d.Name, d.Root
	if err != nil {
		return 125, err
	}
	cwd := cd
	switch {
	case cwd != "":
	case root == "":
		if cwd, err = os.Getwd(); err != nil {
			return 125, err
		}
	default: // a distro starts in the user's home, as a login would (init knows it)
	}
	var mounts []Mount
	if root == "" {
		// Under the default distro the working directory is the host's,
		// bound at its own path.
		if cwd, err = filepath.EvalSymlinks(cwd); err != nil {
			return 125, fmt.Errorf("working directory: %w", err)
		}
		mounts = append(mounts, Mount{Host: cwd, Guest: cwd, Cwd: true})
	}
	mounts = append(append(mounts, d.Mounts...), o.Mounts...)
	if len(mounts) > MaxMounts {
		return 125, fmt.Errorf("%d mounts: a run takes at most %d", len(mounts), MaxMounts)
	}
	dirs, err := openDirs(mounts)
	if err != nil {
		return 125, err
	}
	defer closeAll(dirs)
	memory := o.Memory
	if memory == 0 {
		memory = d.Memory
	}
	msg := &Msg{Op: OpRun, Argv: argv, Env: os.Environ(), Cwd: cwd, Distro: name, Root: root, User: user, Mounts: mounts,
		Net: o.Net.Mode, NetRaw: o.Net.Raw, Publish: o.Net.Publish, TrapPaths: o.TrapPaths, Memory: memory, Hide: clientDirs()}
	fds, err := stdioFor(msg)
	if err != nil {
		return 125, err
	}
	c, err := request(msg, append(fds, dirs...)...)
	if err != nil {
		return 125, err
	}
	defer c.Close()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			send(c, &Msg{Op: OpSignal, Sig: int(s.(syscall.Signal))})
		}
	}()
	var term *terminal
	defer func() { term.finish() }()
	for {
		m, fds, err := recv(c)
		if err != nil {
			return 125, fmt.Errorf("lost the broker: %w", err)
		}
		switch {
		case m.Op == OpPty && len(fds) == 1 && term == nil:
			term = startTerminal(fds[0], msg.Tty)
			continue
		case m.Op == OpExit:
			closeAll(fds)
			return m.Code, nil
		case m.Op == OpError:
			closeAll(fds)
			return m.Code, &ExitError{Code: m.Code, Text: m.Text}
		}
		closeAll(fds)
		return 125, fmt.Errorf("unexpected answer %q from the broker", m.Op)
	}
}

// Stream sends a request and calls line for each line the broker sends back.
func Stream(m *Msg, line func(string)) error {
	c, err := request(m)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		r, fds, err := recv(c)
		closeAll(fds)
		if err != nil {
			if errors.Is(err, errEOF) {
				return nil
			}
			return err
		}
		switch r.Op {
		case OpLine:
			line(r.Text)
		case OpExit:
			return nil
		case OpError:
			return &ExitError{Code: r.Code, Text: r.Text}
		}
	}
}

// Shutdown stops every instance and the broker, if one runs.
func Shutdown() error {
	dir, err := RuntimeDir()
	if err != nil {
		return err
	}
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: SocketPath(dir), Net: "unixpacket"})
	if err != nil {
		return nil // no broker: nothing runs
	}
	defer c.Close()
	if err := send(c, &Msg{Op: OpShutdown, Version: ProtocolVersion}); err != nil {
		return err
	}
	_, fds, err := recv(c)
	closeAll(fds)
	if err != nil && !errors.Is(err, errEOF) {
		return err
	}
	return nil
}
