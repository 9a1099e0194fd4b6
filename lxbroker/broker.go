// Package lxbroker is lx's LXSS Manager: it owns instances (DESIGN §1, §6).
// It starts an instance (init, router, servers, rings) on the first launch,
// supervises and restarts its components, relays launches and their exit
// statuses between clients and init, and tears the instance down when its
// last client has gone.
//
// Owns: the instances, their rings, listener and control pages (so a
// restarted component re-attaches to the same ones). Waits on: init, for
// spawns. Lock order: Broker.mu, then Instance.mu, then component.mu.
package lxbroker

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/launch"
	"lx/shared/netpolicy"
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/wire"
)

// DefaultDistro is the instance name when no distro is named: the host root.
const DefaultDistro = "default"

// Broker serves the broker socket of one host user.
type Broker struct {
	dir         string
	log         *zap.Logger
	grace       time.Duration
	stopTimeout time.Duration
	ln          *net.UnixListener

	knobs      knobs
	components []launch.Component // the component table's data, in start order

	mu        sync.Mutex
	instances map[string]*Instance
	starting  map[string]chan struct{}
}

// Options configure Serve.
type Options struct {
	Grace       time.Duration // how long an instance outlives its last client
	StopTimeout time.Duration // between SIGTERM and SIGKILL to its guests
	Log         *zap.Logger
	// Components is the data of the component table
	// (servers/components): what every instance runs beside init.
	Components []launch.Component
}

// Serve runs the broker until shutdown. It returns nil at once when another
// broker of this user already runs.
func Serve(opts Options) error {
	if err := launch.Check(opts.Components); err != nil {
		return err
	}
	kn, err := readKnobs()
	if err != nil {
		return err
	}
	comps := slices.Clone(opts.Components)
	sort.SliceStable(comps, func(i, j int) bool { return comps[i].Order < comps[j].Order })
	for i := range comps {
		if kn.hangAfter != nil {
			comps[i].HangAfter = *kn.hangAfter
		}
	}
	dir, err := RuntimeDir()
	if err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "broker.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil // another broker holds it
	}
	sock := SocketPath(dir)
	os.Remove(sock)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("broker socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	os.Chmod(sock, 0o600)
	b := &Broker{dir: dir, log: opts.Log, grace: opts.Grace, stopTimeout: opts.StopTimeout, ln: ln, knobs: kn, components: comps,
		instances: map[string]*Instance{}, starting: map[string]chan struct{}{}}
	b.log.Info("broker up", zap.String("socket", sock), zap.Duration("grace", opts.Grace))
	b.reapOrphans()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			b.log.Warn("accept", zap.Error(err))
			continue
		}
		go b.handle(c)
	}
}

// peerAllowed checks that the client is this user (SO_PEERCRED) and runs
// in this user's user namespace. A guest shares the uid of its instance's
// user, but never its user namespace: a request from inside an instance
// (lx restart --binary runs the named program on the host) is refused,
// whatever socket it reached the broker through. The namespace is read
// from a pidfd of the peer (SO_PEERPIDFD, PIDFD_GET_USER_NAMESPACE), so a
// peer that exits and leaves its pid to another process proves nothing.
func peerAllowed(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	pidfd := -1
	raw.Control(func(fd uintptr) {
		if cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); cerr == nil {
			pidfd, cerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		}
	})
	if cerr != nil {
		return cerr
	}
	defer unix.Close(pidfd)
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("this broker serves uid %d only; uid %d must use its own", os.Geteuid(), cred.Uid)
	}
	same, err := sameUserNS(pidfd)
	if err != nil {
		return fmt.Errorf("cannot tell the client's user namespace: %w", err)
	}
	if !same {
		return errors.New("requests from inside an instance are refused")
	}
	return nil
}

// sameUserNS reports whether the process of pidfd is in the caller's user
// namespace.
func sameUserNS(pidfd int) (bool, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), unix.PIDFD_GET_USER_NAMESPACE, 0)
	if errno != 0 {
		return false, errno
	}
	ns := int(r)
	defer unix.Close(ns)
	var theirs, mine unix.Stat_t
	if err := unix.Fstat(ns, &theirs); err != nil {
		return false, err
	}
	if err := unix.Stat("/proc/self/ns/user", &mine); err != nil {
		return false, err
	}
	return theirs.Dev == mine.Dev && theirs.Ino == mine.Ino, nil
}

func (b *Broker) handle(c *net.UnixConn) {
	defer c.Close()
	if err := peerAllowed(c); err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	m, fds, err := recv(c)
	if err != nil {
		return
	}
	if m.Version != ProtocolVersion {
		closeAll(fds)
		send(c, &Msg{Op: OpError, Code: 125, Text: fmt.Sprintf(
			"lx: the running broker speaks protocol %d, this lx %d; run `lx shutdown` and try again", ProtocolVersion, m.Version)})
		return
	}
	switch m.Op {
	case OpRun:
		b.run(c, m, fds)
	case OpTrace:
		closeAll(fds)
		b.trace(c, m)
	case OpStatus:
		closeAll(fds)
		b.status(c)
	case OpTerminate:
		closeAll(fds)
		b.terminate(c, m)
	case OpRestart:
		closeAll(fds)
		b.restart(c, m)
	case OpPs:
		closeAll(fds)
		b.ps(c, m)
	case OpShutdown:
		closeAll(fds)
		b.shutdown()
		send(c, &Msg{Op: OpExit})
		b.ln.Close()
	default:
		closeAll(fds)
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: unknown request " + m.Op})
	}
}

// instance returns the running instance for name, starting it if needed.
// The caller is counted as a client; it must call dropClient.
func (b *Broker) instance(name, root string, pol netpolicy.Policy, trapPaths bool, memory int64) (*Instance, error) {
	for {
		b.mu.Lock()
		if in := b.instances[name]; in != nil && in.addClient() {
			b.mu.Unlock()
			return in, nil
		}
		if wait := b.starting[name]; wait != nil {
			b.mu.Unlock()
			<-wait
			continue
		}
		wait := make(chan struct{})
		b.starting[name] = wait
		b.mu.Unlock()
		in, err := b.startInstance(name, root, pol, trapPaths, memory)
		b.mu.Lock()
		delete(b.starting, name)
		if err == nil {
			b.instances[name] = in
			if !in.addClient() {
				err = fmt.Errorf("instance %s ended while starting", name)
			}
		}
		b.mu.Unlock()
		close(wait)
		if err != nil {
			b.log.Error("instance start", zap.String("instance", name), zap.Error(err))
		}
		return in, err
	}
}

func (b *Broker) forget(in *Instance) {
	b.mu.Lock()
	if b.instances[in.name] == in {
		delete(b.instances, in.name)
	}
	b.mu.Unlock()
}

func distro(m *Msg) string {
	if m.Distro == "" {
		return DefaultDistro
	}
	return m.Distro
}

func (b *Broker) run(c *net.UnixConn, m *Msg, fds []int) {
	// fds is set to nil once they are closed: the deferred close must see
	// that, or it closes whatever took their numbers since (another
	// client's connection).
	defer func() { closeAll(fds) }()
	// The packet carries the stdio fds that are not the host's /dev/null
	// (Msg.Null), then one O_PATH fd per host directory to mount.
	nStdio := 3 - bits.OnesCount(uint(m.Null&7))
	if len(fds) != nStdio+len(m.Mounts) || m.Tty&^m.Null != 0 {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: run needs stdin, stdout, stderr and one directory per mount"})
		return
	}
	if err := checkStdio(fds[:nStdio]); err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	want, pubs, err := netPolicy(m)
	if err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	in, err := b.instance(distro(m), m.Root, want, m.TrapPaths, m.Memory)
	if err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	defer in.dropClient()
	if err := in.joinPaths(m); err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	if err := in.joinMemory(m); err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	if err := in.joinNet(m, want, pubs); err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	defer in.unpublish(pubs)
	id, done, err := in.Spawn(m, fds[:nStdio], fds[nStdio:])
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) {
			ee = &ExitError{Code: 125, Text: "lx: " + err.Error()}
		}
		send(c, &Msg{Op: OpError, Code: ee.Code, Text: ee.Text})
		return
	}
	closeAll(fds)
	fds = nil
	// The client may send signals; when it goes away its command is killed.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			sm, sfds, err := recv(c)
			closeAll(sfds)
			if err != nil {
				return
			}
			if sm.Op == OpSignal {
				in.Signal(id, sm.Sig)
			}
		}
	}()
	for {
		select {
		case r := <-done:
			send(c, r.m, r.fds...)
			closeAll(r.fds)
			if r.m.Op != OpPty {
				return
			}
		case <-gone:
			in.Signal(id, int(unix.SIGKILL))
			return
		}
	}
}

// trace switches tracing on in the named servers and streams their events
// to the client until it goes away or the requested time has passed.
func (b *Broker) trace(c *net.UnixConn, m *Msg) {
	in, err := b.instance(distro(m), m.Root, netpolicy.Policy{Mode: netpolicy.All}, m.TrapPaths, 0)
	if err != nil {
		send(c, &Msg{Op: OpError, Code: 125, Text: "lx: " + err.Error()})
		return
	}
	defer in.dropClient()
	type tap struct {
		c *component
		r *ring.Ring
	}
	var taps []tap
	defer func() {
		for _, t := range taps {
			t.c.ctl.SetTracing(false)
			t.r.Close()
			t.c.tracing.Unlock()
		}
	}()
	for _, name := range m.Servers {
		var comp *component
		for _, cp := range in.comps {
			if cp.name == name && cp.trace != nil {
				comp = cp
			}
		}
		if comp == nil {
			send(c, &Msg{Op: OpError, Code: 2, Text: fmt.Sprintf("lx: no server %q (servers: %s)", name, strings.Join(in.names(launch.KindServer), ", "))})
			return
		}
		if !comp.tracing.TryLock() {
			send(c, &Msg{Op: OpError, Code: 1, Text: fmt.Sprintf("lx: %s is already being traced", name)})
			return
		}
		r, err := ring.Map(int(comp.trace.Fd()))
		if err != nil {
			comp.tracing.Unlock()
			send(c, &Msg{Op: OpError, Code: 1, Text: "lx: " + err.Error()})
			return
		}
		for r.Pending() > 0 { // stale events of an earlier trace
			r.Commit()
		}
		taps = append(taps, tap{comp, r})
		comp.ctl.SetTracing(true)
	}
	// The first line says tracing is on, with a notice when fssrv cannot see
	// every path call.
	if err := send(c, &Msg{Op: OpLine, Text: in.traceNotice(m.Servers)}); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		for {
			if _, fds, err := recv(c); err != nil {
				close(gone)
				return
			} else {
				closeAll(fds)
			}
		}
	}()
	var deadline <-chan time.Time
	if m.Seconds > 0 {
		deadline = time.After(time.Duration(m.Seconds * float64(time.Second)))
	}
	dec := wire.NewDecoder()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, t := range taps {
			for {
				frame, ok := t.r.Peek()
				if !ok {
					break
				}
				var ev wire.Trace
				if frame != nil && dec.Trace(frame, &ev) == nil {
					if send(c, &Msg{Op: OpLine, Text: ev.Format(t.c.name)}) != nil {
						return
					}
				}
				t.r.Commit()
			}
		}
		select {
		case <-gone:
			return
		case <-deadline:
			send(c, &Msg{Op: OpExit})
			return
		case <-in.done:
			send(c, &Msg{Op: OpError, Code: 1, Text: "lx: the instance ended"})
			return
		case <-tick.C:
		}
	}
}

// Status is what `lx status --json` prints.
type Status struct {
	Broker      int                `json:"broker_pid"`
	Instances   []InstanceStatus   `json:"instances"`
	Supervision []launch.Component `json:"supervision"` // the component table, in start order
}

// InstanceStatus describes one instance.
type InstanceStatus struct {
	Name       string            `json:"name"`
	Init       int               `json:"init_pid"`
	Clients    int               `json:"clients"`
	Guests     int               `json:"guests"`
	Net        string            `json:"net"`               // network mode, with " raw" when raw sockets are allowed
	Publish    []string          `json:"publish,omitempty"` // HOSTPORT:GUESTPORT published by running runs
	Paths      string            `json:"paths"`             // "native": the path calls the kernel resolves skip fssrv; "trapped": --trap-paths
	Execs      string            `json:"execs"`             // "native": execve skips procsrv (binfmt.go); else "trapped: " and why
	IDs        string            `json:"ids"`               // the host ids of its guests (ids.go)
	Profile    routes.Profile    `json:"profile"`           // what its filter runs natively
	Memory     int64             `json:"memory"`            // its memory bound in bytes
	MemoryBy   string            `json:"memory_by"`         // what enforces it: "cgroup", or "tmpfs sizes" (no memory cgroup)
	Components []ComponentStatus `json:"components"`
}

// ComponentStatus describes one server or the router.
type ComponentStatus struct {
	Name      string  `json:"name"`
	Pid       int     `json:"pid"`
	UptimeSec float64 `json:"uptime_s"`
	Restarts  int     `json:"restarts"`
	Hangs     int     `json:"hangs"` // restarts that were kills of a hung incarnation
	LastCause string  `json:"last_cause,omitempty"`
	Binary    string  `json:"binary,omitempty"` // set by lx restart --binary
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
}

func (b *Broker) status(c *net.UnixConn) {
	st := Status{Broker: os.Getpid(), Instances: []InstanceStatus{}, Supervision: b.components}
	b.mu.Lock()
	for _, in := range b.instances {
		is := InstanceStatus{Name: in.name, Init: in.initPid}
		in.mu.Lock()
		is.Clients = in.clients
		in.mu.Unlock()
		is.Guests = in.Guests()
		is.Net, is.Publish = in.netStatus()
		is.Paths = in.pathsMode()
		is.Execs = in.execs
		is.Profile = in.profile
		is.IDs, is.Memory, is.MemoryBy = in.ids.String(), in.memory, "cgroup"
		if !in.memcg {
			is.MemoryBy = "tmpfs sizes"
		}
		for _, cp := range in.comps {
			cp.mu.Lock()
			cs := ComponentStatus{Name: cp.name, UptimeSec: time.Since(cp.started).Seconds(),
				Restarts: cp.restarts, Hangs: cp.hangs, LastCause: cp.cause, Binary: cp.binary,
				Calls: cp.ctl.Calls(), Errors: cp.ctl.Errors()}
			cp.mu.Unlock()
			cs.Pid = cp.pid() // 0 between incarnations
			is.Components = append(is.Components, cs)
		}
		st.Instances = append(st.Instances, is)
	}
	b.mu.Unlock()
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].Name < st.Instances[j].Name })
	js, _ := json.Marshal(st)
	send(c, &Msg{Op: OpLine, Text: string(js)})
	send(c, &Msg{Op: OpExit})
}

// terminate stops one distro's instance now, if it runs.
func (b *Broker) terminate(c *net.UnixConn, m *Msg) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in != nil {
		in.teardown()
	}
	send(c, &Msg{Op: OpExit})
}

// restart replaces one component of a running instance (lx restart).
func (b *Broker) restart(c *net.UnixConn, m *Msg) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in == nil {
		send(c, &Msg{Op: OpError, Code: 1, Text: fmt.Sprintf("lx: no instance of %s is running", distro(m))})
		return
	}
	if len(m.Servers) != 1 {
		send(c, &Msg{Op: OpError, Code: 2, Text: "lx: restart names one component"})
		return
	}
	if err := in.Restart(m.Servers[0], m.Binary); err != nil {
		send(c, &Msg{Op: OpError, Code: 1, Text: "lx: restart " + m.Servers[0] + ": " + err.Error()})
		return
	}
	send(c, &Msg{Op: OpExit})
}

func (b *Broker) shutdown() {
	b.mu.Lock()
	var all []*Instance
	for _, in := range b.instances {
		all = append(all, in)
	}
	b.mu.Unlock()
	for _, in := range all {
		in.teardown()
	}
	b.log.Info("broker shut down")
}
