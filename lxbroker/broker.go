// Package lxbroker is lx's LXSS Manager: it owns instances (DESIGN §1, §7).
// It starts an instance (keeper, init, the components of the component
// table, their rings) on the first launch, supervises and restarts its
// components, relays launches and their exit statuses between clients and
// init, and tears the instance down when its last client has gone.
//
// Runs in: lx broker, one per host user, outside every instance. Owns: the
// instances, their rings, listener and control pages (so a restarted
// component re-attaches to the same ones). Waits on: the keeper and init,
// for orders and spawns. Lock order: Broker.mu, then Instance.mu, then
// component.mu; Instance.kmu, hideMu and netMu are taken alone.
package lxbroker

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/launch"
	"lx/shared/netpolicy"
	"lx/shared/ring"
	"lx/shared/wire"
)

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
	dir, err := proto.RuntimeDir()
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
	sock := proto.SocketPath(dir)
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
	// SIGTERM and SIGINT (a service manager's stop, ^C of `lx broker`, a
	// test binary's death) stop the instances as `lx shutdown` does: a
	// broker killed outright would leave them running, unsupervised.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	go func() {
		s := <-sigs
		b.log.Info("stopping on a signal", zap.String("signal", s.String()))
		b.shutdown()
		b.ln.Close()
	}()
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

// fail answers a request with an error: lx exits with status, after
// printing text.
func fail(c *net.UnixConn, status int, text string) {
	proto.Send(c, &proto.Reply{Op: proto.OpError, Status: status, Text: text})
}

// done answers that a request is done.
func done(c *net.UnixConn) { proto.Send(c, &proto.Reply{Op: proto.OpExit}) }

func (b *Broker) handle(c *net.UnixConn) {
	defer c.Close()
	if err := peerAllowed(c); err != nil {
		fail(c, 125, "lx: "+err.Error())
		return
	}
	m, fds, err := proto.Recv[proto.Request](c)
	if err != nil {
		return
	}
	if m.Version != proto.ProtocolVersion {
		proto.CloseAll(fds)
		fail(c, 125, fmt.Sprintf("lx: the running broker speaks protocol %d, this lx %d; run `lx shutdown` and try again",
			proto.ProtocolVersion, m.Version))
		return
	}
	if m.Op == proto.OpRun {
		b.run(c, m, fds)
		return
	}
	proto.CloseAll(fds)
	switch m.Op {
	case proto.OpTrace:
		b.trace(c, m)
	case proto.OpStatus:
		b.status(c)
	case proto.OpTerminate:
		b.terminate(c, m)
	case proto.OpRestart:
		b.restart(c, m)
	case proto.OpPs:
		b.ps(c, m)
	case proto.OpShutdown:
		b.shutdown()
		done(c)
		b.ln.Close()
	default:
		fail(c, 125, "lx: unknown request "+m.Op)
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

func distro(m *proto.Request) string {
	if m.Distro == "" {
		return proto.DefaultDistro
	}
	return m.Distro
}

func (b *Broker) run(c *net.UnixConn, m *proto.Request, fds []int) {
	// fds is set to nil once they are closed: the deferred close must see
	// that, or it closes whatever took their numbers since (another
	// client's connection).
	defer func() { proto.CloseAll(fds) }()
	// The packet carries the stdio fds that are not the host's /dev/null
	// or a terminal (Command.Null), then one O_PATH fd per host directory
	// to mount.
	r := m.Run
	if r == nil {
		fail(c, 125, "lx: a run request without a command")
		return
	}
	nStdio := 3 - bits.OnesCount(uint(r.Command.Null&7))
	if len(fds) != nStdio+len(r.Mounts) || r.Command.Tty&^r.Command.Null != 0 {
		fail(c, 125, "lx: run needs stdin, stdout, stderr and one directory per mount")
		return
	}
	for _, fd := range fds[:nStdio] {
		if kind, err := proto.ClassifyStdio(fd, "a stdio stream"); err != nil || kind != proto.StdioPass {
			if err == nil {
				err = errors.New("a stdio stream that is a terminal or /dev/null was sent")
			}
			fail(c, 125, "lx: "+err.Error())
			return
		}
	}
	want, pubs, err := netPolicy(r.Net)
	if err != nil {
		fail(c, 125, "lx: "+err.Error())
		return
	}
	in, err := b.instance(distro(m), m.Root, want, m.TrapPaths, r.Memory)
	if err != nil {
		fail(c, 125, "lx: "+err.Error())
		return
	}
	defer in.dropClient()
	for _, join := range []func() error{
		func() error { return in.joinPaths(m.TrapPaths) },
		func() error { return in.joinMemory(r.Memory) },
		func() error { return in.joinNet(r.Net.Mode, want, pubs) },
	} {
		if err := join(); err != nil {
			fail(c, 125, "lx: "+err.Error())
			return
		}
	}
	defer in.unpublish(pubs)
	id, replies, err := in.Spawn(r, fds[:nStdio], fds[nStdio:])
	if err != nil {
		var ee *proto.ExitError
		if !errors.As(err, &ee) {
			ee = &proto.ExitError{Status: 125, Text: "lx: " + err.Error()}
		}
		fail(c, ee.Status, ee.Text)
		return
	}
	proto.CloseAll(fds)
	fds = nil
	// The client may send signals; when it goes away its command is killed.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			sm, sfds, err := proto.Recv[proto.Request](c)
			proto.CloseAll(sfds)
			if err != nil {
				return
			}
			if sm.Op == proto.OpSignal {
				in.Signal(id, sm.Sig)
			}
		}
	}()
	for {
		select {
		case r := <-replies:
			proto.Send(c, &proto.Reply{Op: r.m.Op, Status: r.m.Status, Text: r.m.Text}, r.fds...)
			proto.CloseAll(r.fds)
			if r.m.Op != proto.OpPty {
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
func (b *Broker) trace(c *net.UnixConn, m *proto.Request) {
	if m.Trace == nil {
		fail(c, 125, "lx: a trace request without servers")
		return
	}
	calls, err := traceCalls(m.Trace.Calls)
	if err != nil {
		fail(c, 125, "lx: "+err.Error())
		return
	}
	pids := map[int32]bool{}
	for _, p := range m.Trace.Pids {
		pids[int32(p)] = true
	}
	in, err := b.instance(distro(m), m.Root, netpolicy.Policy{Mode: netpolicy.All}, m.TrapPaths, 0)
	if err != nil {
		fail(c, 125, "lx: "+err.Error())
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
	servers := m.Trace.Servers
	if len(servers) == 0 {
		servers = in.names(launch.KindServer)
	}
	for _, name := range servers {
		var comp *component
		for _, cp := range in.comps {
			if cp.name == name && cp.trace != nil {
				comp = cp
			}
		}
		if comp == nil {
			fail(c, 125, fmt.Sprintf("lx: no server %q (servers: %s)", name, strings.Join(in.names(launch.KindServer), ", ")))
			return
		}
		if !comp.tracing.TryLock() {
			fail(c, 1, fmt.Sprintf("lx: %s is already being traced", name))
			return
		}
		r, err := ring.Map(int(comp.trace.Fd()))
		if err != nil {
			comp.tracing.Unlock()
			fail(c, 1, "lx: "+err.Error())
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
	if err := proto.Send(c, &proto.Reply{Op: proto.OpLine, Text: in.traceNotice(servers, calls)}); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		for {
			_, fds, err := proto.Recv[proto.Request](c)
			proto.CloseAll(fds)
			if err != nil {
				close(gone)
				return
			}
		}
	}()
	var deadline <-chan time.Time
	if m.Trace.Seconds > 0 {
		deadline = time.After(time.Duration(m.Trace.Seconds * float64(time.Second)))
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
				if frame != nil && dec.Trace(frame, &ev) == nil && traced(&ev, calls, pids) {
					if proto.Send(c, &proto.Reply{Op: proto.OpLine, Text: traceEvent(t.c.name, &ev)}) != nil {
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
			done(c)
			return
		case <-in.done:
			fail(c, 1, "lx: the instance ended")
			return
		case <-tick.C:
		}
	}
}

func (b *Broker) status(c *net.UnixConn) {
	st := proto.Status{Broker: os.Getpid(), Instances: []proto.InstanceStatus{}, Supervision: b.components}
	b.mu.Lock()
	for _, in := range b.instances {
		is := proto.InstanceStatus{Name: in.name, Init: in.initPid}
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
			cs := proto.ComponentStatus{Name: cp.name, UptimeSec: time.Since(cp.started).Seconds(),
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
	proto.Send(c, &proto.Reply{Op: proto.OpLine, Text: string(js)})
	done(c)
}

// terminate stops one distro's instance now, if it runs.
func (b *Broker) terminate(c *net.UnixConn, m *proto.Request) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in != nil {
		in.teardown()
	}
	done(c)
}

// restart replaces one component of a running instance (lx restart).
func (b *Broker) restart(c *net.UnixConn, m *proto.Request) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in == nil {
		fail(c, 1, fmt.Sprintf("lx: no instance of %s is running", distro(m)))
		return
	}
	if m.Restart == nil {
		fail(c, 2, "lx: restart names one component")
		return
	}
	if err := in.Restart(m.Restart.Component, m.Restart.Binary); err != nil {
		fail(c, 1, "lx: restart "+m.Restart.Component+": "+err.Error())
		return
	}
	done(c)
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
