package lxbroker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/control"
	"lx/shared/idmap"
	"lx/shared/launch"
	"lx/shared/netpolicy"
	"lx/shared/procfs"
	"lx/shared/ring"
	"lx/shared/routes"
)

// Ring geometry: a call frame is under 100 bytes.
const (
	callSlots     = 256
	callSlotSize  = 128
	traceSlots    = 1024
	traceSlotSize = 512
)

// component is one supervised process of an instance: a server or the
// router, as its row of the component table says.
type component struct {
	name     string
	spec     *launch.Component
	files    map[string]*os.File // its fds by name (launch.Config.Fds)
	ctlFile  *os.File
	ctl      *control.Control
	trace    *os.File // servers only
	tracing  sync.Mutex
	mu       sync.Mutex
	cmd      *exec.Cmd
	started  time.Time
	restarts int
	hangs    int
	cause    string // why the last incarnation ended
	killed   string // why the broker is killing the current one, if it is
	exited   bool   // the current incarnation has exited (keep saw it)
	binary   string // the lx binary it runs; "" for the broker's own
}

// Instance is one running instance: init, the router and the four servers.
type Instance struct {
	name    string
	root    string   // the distro's root directory; "" for the host root
	rootDir *os.File // O_PATH fd of the instance root, as its servers see it
	proc    *os.File // the root of the instance's proc mount, made by init (servers.Config.Proc)
	b       *Broker
	log     *zap.Logger
	dir     string
	keeper  *exec.Cmd     // lx keeper: parent of init, outside the pid namespace
	kctl    *net.UnixConn // to the keeper
	kmu     sync.Mutex    // one order to the keeper at a time
	initPid int
	cgroup  string   // the instance's pids cgroup directory, if it has one (cgroup.go)
	cgroups []string // all its cgroup directories (pids, memory)
	memcg   bool     // a memory cgroup bounds it
	// trapPaths: every path call goes to fssrv, none runs natively (native.go)
	trapPaths bool
	// profile: what the instance's filter runs natively, as init made it
	profile routes.Profile
	// execs: how the filter runs execve, as init reported it: "native",
	// or "trapped: " and why (binfmt.go)
	execs string
	// the holder of the guests' namespaces (pid in the instance)
	holderPid int
	ids       idmap.Range    // the host ids of its guests (shared/idmap)
	hideMu    sync.Mutex     // guards hide
	hide      []proto.Hidden // lx's own directories, which it never shows (hostmounts.go)
	memory    int64          // its memory bound in bytes (memory.go)
	ctl       *net.UnixConn  // to init
	comps     []*component
	files     []*os.File // rings, listener, root: kept so restarts re-attach
	done      chan struct{}
	stop      chan struct{}
	once      sync.Once
	nextID    uint64
	// supervised is set once supervise runs; done closes when it ends.
	supervised bool

	netMu sync.Mutex                       // guards net, the policy file and fwd
	net   netpolicy.Policy                 // the network policy netsrv reads (see net.go)
	fwd   map[netpolicy.Publish]*forwarder // published ports of a loopback instance (forward.go)

	mu      sync.Mutex
	clients int
	grace   *time.Timer
	waiters map[uint64]chan reply
}

func (b *Broker) startInstance(name, root string, pol netpolicy.Policy, trapPaths bool, memory int64) (*Instance, error) {
	in := &Instance{name: name, root: root, b: b, log: b.log.With(zap.String("instance", name)), net: pol, trapPaths: trapPaths,
		memory: memoryBound(memory),
		dir:    filepath.Join(b.dir, "instances", name), done: make(chan struct{}), stop: make(chan struct{}),
		waiters: map[uint64]chan reply{}}
	if err := os.MkdirAll(in.dir, 0o700); err != nil {
		return nil, err
	}
	if err := netpolicy.Save(in.policyPath(), &in.net); err != nil {
		return nil, fmt.Errorf("network policy: %w", err)
	}
	if err := in.start(); err != nil {
		in.teardown()
		return nil, err
	}
	return in, nil
}

// logRotate is the size past which a component's log is moved to
// NAME.log.1 (replacing the one before) when the component starts again: a
// component stops writing its log at that size (cmd/lx/logging.go), so each
// takes at most twice that.
const logRotate = 64 << 20

// logFile opens the log of component name for appending, rotating it first
// past logRotate.
func (in *Instance) logFile(name string) *os.File {
	p := filepath.Join(in.dir, name+".log")
	if st, err := os.Stat(p); err == nil && st.Size() >= logRotate {
		os.Rename(p, p+".1")
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil
	}
	return f
}

// socketpair returns two connected SOCK_SEQPACKET ends: ours as a conn,
// the other as a file to hand to a child.
func socketpair(name string) (*net.UnixConn, *os.File, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	theirs := os.NewFile(uintptr(pair[1]), name)
	mine := os.NewFile(uintptr(pair[0]), name)
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return fc.(*net.UnixConn), theirs, nil
}

func (in *Instance) start() error {
	var keeperEnd, initEnd *os.File
	var err error
	if in.kctl, keeperEnd, err = socketpair("keeper-control"); err != nil {
		return err
	}
	if in.ctl, initEnd, err = socketpair("init-control"); err != nil {
		keeperEnd.Close()
		return err
	}
	if in.ids, err = idmap.Instance(); err != nil {
		keeperEnd.Close()
		initEnd.Close()
		return fmt.Errorf("the instance's ids: %w", err)
	}
	in.hide = proto.LxDirs()
	in.keeper = exec.Command("/proc/self/exe", "keeper")
	in.keeper.Args[0] = "lx-keeper"
	in.keeper.ExtraFiles = []*os.File{keeperEnd, initEnd}
	in.keeper.Stdout, in.keeper.Stderr = in.logFile("init"), in.logFile("init")
	in.makeCgroups()
	in.keeper.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	in.keeper.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: in.ids.UIDMap(),
		GidMappings: in.ids.GIDMap(),
		// Host root's instances map a whole range of ids: guests may set
		// their groups (su, login, daemons dropping privileges). A
		// single-id mapping must deny it (user_namespaces(7)).
		GidMappingsEnableSetgroups: in.ids.Size > 1,
		// The keeper is the instance's root: host root's own ids are not
		// mapped in it, and a process whose uid is unmapped keeps no
		// capability across exec.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: in.ids.Size == 1},
		Setsid:     true,
	}
	err = in.keeper.Start()
	keeperEnd.Close()
	initEnd.Close()
	if err != nil {
		return fmt.Errorf("start the instance: %w (are user namespaces allowed on this host?)", err)
	}
	if err := in.orderRoot(); err != nil {
		return err
	}
	want := in.wantedProfile()
	if err := proto.Send(in.ctl, &proto.ToInit{Op: proto.OpProfile, Profile: &want, Tasks: in.nprocBound()}); err != nil {
		return fmt.Errorf("the instance's profile: %w", err)
	}
	k, fds, err := proto.Recv[proto.FromKeeper](in.kctl)
	proto.CloseAll(fds)
	if err != nil || k.Op != proto.OpReady || k.InitPid <= 0 {
		if err == nil {
			err = errors.New(k.Text)
		}
		return fmt.Errorf("the instance did not start: %v (see %s)", err, filepath.Join(in.dir, "init.log"))
	}
	in.initPid = k.InitPid
	// Where the filter lets forks run natively, the pids cgroup is the
	// bound; the memory cgroup counts every guest and tmpfs page. When the
	// guests fill it, the OOM killer takes one of them, never init (which
	// would end the instance): lx-enter sets its commands back to 0.
	if err := in.joinCgroups(in.initPid); err != nil {
		return err
	}
	if in.memcg {
		os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", in.initPid), []byte("-1000"), 0)
	}
	m, fds, err := proto.Recv[proto.FromInit](in.ctl)
	if err != nil {
		return fmt.Errorf("init did not start: %w (see %s)", err, filepath.Join(in.dir, "init.log"))
	}
	if m.Op != proto.OpReady || len(fds) != 2 {
		proto.CloseAll(fds)
		return fmt.Errorf("init failed: %s", m.Text)
	}
	listener := os.NewFile(uintptr(fds[0]), "listener")
	in.proc = os.NewFile(uintptr(fds[1]), "proc")
	in.files = append(in.files, in.proc)
	in.execs = m.Execs
	if m.Profile == nil {
		proto.CloseAll(fds)
		return fmt.Errorf("init sent no profile")
	}
	in.profile = *m.Profile
	if m.Execs != "native" {
		in.log.Info("execs go to procsrv", zap.String("execs", m.Execs))
	}
	root, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", in.initPid), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("instance root: %w", err)
	}
	in.files = append(in.files, listener, root)
	in.rootDir = root
	if err := in.makeComponents(listener, root); err != nil {
		return err
	}
	for _, c := range in.comps {
		if err := in.spawn(c); err != nil {
			return err
		}
	}
	in.writeState()
	in.supervised = true
	go in.supervise()
	// init makes the guests' namespaces once procsrv serves its clone, and
	// says so before any guest runs: sigsrv must know the holder by then.
	m, fds, err = proto.Recv[proto.FromInit](in.ctl)
	proto.CloseAll(fds)
	if err != nil || m.Op != proto.OpHolder {
		return fmt.Errorf("init did not make the guests' namespaces (see %s)", filepath.Join(in.dir, "init.log"))
	}
	if m.Holder <= 0 {
		return fmt.Errorf("the guests' namespaces: %s", m.Text)
	}
	in.holderPid = m.Holder
	for _, c := range in.comps {
		c.ctl.SetHolder(m.Holder) // init's word, never a guest's
	}
	go in.readInit()
	in.log.Info("instance up", zap.Int("init", in.initPid), zap.Int("keeper", in.keeper.Process.Pid))
	return nil
}

func (in *Instance) spawn(c *component) error {
	c.mu.Lock()
	bin := c.binary
	c.mu.Unlock()
	if bin == "" {
		bin = "/proc/self/exe"
	}
	c.ctl.ClearExit()
	kn := in.b.knobs
	cfg := launch.Config{Name: c.name, Profile: in.profile, InitPid: in.initPid, MaxProcs: kn.maxProcs,
		Policy: in.policyPath(), Spin: kn.spin, Sandbox: kn.sandbox}
	if c.spec.Kind == launch.KindRouter {
		cfg.Spin = kn.routerSpin
	}
	extra, err := launch.Files(cfg, c.files)
	if err != nil {
		return err
	}
	defer extra[0].Close()
	cmd := exec.Command(bin, "component")
	cmd.Args[0] = "lx-" + c.name
	cmd.Env = goEnv()
	cmd.ExtraFiles = extra
	log := in.logFile(c.name)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	if log != nil {
		log.Close()
	}
	c.mu.Lock()
	c.cmd, c.started, c.exited = cmd, time.Now(), false
	c.mu.Unlock()
	return nil
}

// goEnv is the environment of a component: the Go runtime's own variables
// of the broker's (GODEBUG, GOTRACEBACK…), nothing else. What a component
// needs is in its launch config.
func goEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "GO") {
			env = append(env, e)
		}
	}
	return env
}

// makeComponents creates the rings and control pages of the component
// table's rows, in start order, and the fds each is given (launch): the
// listener and its control page to all; to a server its call ring, its
// trace ring, the instance root and its /proc; to the router every
// server's call ring and control page.
func (in *Instance) makeComponents(listener, root *os.File) error {
	var router *component
	for i := range in.b.components {
		spec := &in.b.components[i]
		c := &component{name: spec.Name, spec: spec, files: map[string]*os.File{launch.Listener: listener}}
		var err error
		if c.ctlFile, err = control.Create(c.name); err != nil {
			return err
		}
		if c.ctl, err = control.Map(int(c.ctlFile.Fd())); err != nil {
			return err
		}
		c.files[launch.Control] = c.ctlFile
		if spec.Kind == launch.KindRouter {
			router = c
		} else {
			rf, err := ring.Create(c.name, callSlots, callSlotSize)
			if err != nil {
				return err
			}
			tf, err := ring.Create("trace-"+c.name, traceSlots, traceSlotSize)
			if err != nil {
				return err
			}
			in.files = append(in.files, rf, tf)
			c.trace = tf
			c.files[launch.Ring], c.files[launch.Trace], c.files[launch.Root], c.files[launch.Proc] = rf, tf, root, in.proc
		}
		in.comps = append(in.comps, c)
	}
	for _, c := range in.comps {
		if c != router {
			router.files[launch.RingOf(c.name)] = c.files[launch.Ring]
			router.files[launch.ControlOf(c.name)] = c.ctlFile
		}
	}
	return nil
}

// reply is a message from init for one spawn, with the fds it carries.
type reply struct {
	m   *proto.FromInit
	fds []int
}

// readInit relays init's messages to the clients waiting for them: any
// number of OpPty, then one OpExit or OpError.
func (in *Instance) readInit() {
	for {
		m, fds, err := proto.Recv[proto.FromInit](in.ctl)
		if err != nil {
			in.mu.Lock()
			for id, ch := range in.waiters {
				ch <- reply{m: &proto.FromInit{Op: proto.OpError, Status: 125, Text: "lx: the instance ended"}}
				delete(in.waiters, id)
			}
			in.mu.Unlock()
			in.terminate()
			return
		}
		in.mu.Lock()
		ch := in.waiters[m.ID]
		if m.Op != proto.OpPty {
			delete(in.waiters, m.ID)
		}
		in.mu.Unlock()
		if ch != nil {
			ch <- reply{m: m, fds: fds}
		} else {
			proto.CloseAll(fds)
		}
	}
}

// orderRoot sends the keeper its first order, what to build the instance
// root from: for host root's instance of an imported distro, the id-mapped
// tree of its root, made here (hostmounts.go).
func (in *Instance) orderRoot() error {
	order := &proto.ToKeeper{Op: proto.OpRoot, Root: in.root, Hide: in.hide, Memory: in.memory}
	if os.Geteuid() != 0 || in.root == "" {
		return proto.Send(in.kctl, order)
	}
	userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", in.keeper.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the instance's user namespace: %w", err)
	}
	defer unix.Close(userns)
	tree, err := distroTree(in.root, userns)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return proto.Send(in.kctl, order, tree)
}

// bind asks the keeper to mount the run's host directories (its working
// directory under the default distro, its --mount directories), each
// given as the client's O_PATH fd dirs[i]. Host root's broker makes the
// trees itself (hostmounts.go); an unprivileged keeper clones them from
// the host tree and checks they are the directories the client opened.
func (in *Instance) bind(mounts []proto.Mount, dirs []int) error {
	if len(dirs) != len(mounts) {
		return fmt.Errorf("%d host directories for %d mounts", len(dirs), len(mounts))
	}
	for i, m := range mounts {
		if m.Cwd && in.root != "" {
			continue // a distro shows its own tree, not the host's
		}
		dev, ino, host, err := dirIdentity(dirs[i])
		if err != nil {
			return fmt.Errorf("host directory %s: %w", m.Host, err)
		}
		m.Dev, m.Ino, m.Host = dev, ino, host
		if m.Cwd {
			m.Guest = host
			if proto.InstanceOwn(host) {
				continue // the instance's own, or the root: nothing to bind
			}
		}
		if err := checkBind(dirs[i], m, in.hidden()); err != nil {
			return &proto.ExitError{Status: 125, Text: "lx: " + err.Error()}
		}
		var fds []int
		if os.Geteuid() == 0 {
			tree, err := bindTree(dirs[i], m)
			if err != nil {
				return err
			}
			fds = append(fds, tree)
		}
		err = in.order(&proto.ToKeeper{Op: proto.OpBind, Mount: &m}, fds...)
		proto.CloseAll(fds)
		if err != nil {
			return err
		}
	}
	return nil
}

// order sends the keeper an order, with fds, and waits for its answer.
func (in *Instance) order(order *proto.ToKeeper, fds ...int) error {
	in.kmu.Lock()
	defer in.kmu.Unlock()
	if err := proto.Send(in.kctl, order, fds...); err != nil {
		return err
	}
	m, fds, err := proto.Recv[proto.FromKeeper](in.kctl)
	proto.CloseAll(fds)
	if err != nil {
		return fmt.Errorf("the instance's keeper is gone: %w", err)
	}
	if m.Op == proto.OpError {
		return &proto.ExitError{Status: m.Status, Text: m.Text}
	}
	return nil
}

// Spawn asks init to run r's command with the stdio fds stdio, once the
// keeper has mounted its host directories dirs; the returned channel gets
// init's answers: any number of OpPty, then its end.
func (in *Instance) Spawn(r *proto.Run, stdio, dirs []int) (uint64, <-chan reply, error) {
	if err := in.hideMore(r.Hide); err != nil {
		return 0, nil, err
	}
	if err := in.bind(r.Mounts, dirs); err != nil {
		return 0, nil, err
	}
	id, ch := in.await(2)
	if err := proto.Send(in.ctl, &proto.ToInit{Op: proto.OpSpawn, ID: id, Command: &r.Command}, stdio...); err != nil {
		in.forget(id)
		return 0, nil, err
	}
	return id, ch, nil
}

// await registers a new request id to init; init's answers to it arrive on
// the returned channel (of n slots) until forget or the answer that ends it.
func (in *Instance) await(n int) (uint64, chan reply) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.nextID++
	ch := make(chan reply, n)
	in.waiters[in.nextID] = ch
	return in.nextID, ch
}

// forget drops request id's channel.
func (in *Instance) forget(id uint64) {
	in.mu.Lock()
	delete(in.waiters, id)
	in.mu.Unlock()
}

// Signal signals the process group of command id.
func (in *Instance) Signal(id uint64, sig int) {
	proto.Send(in.ctl, &proto.ToInit{Op: proto.OpSignal, ID: id, Sig: sig})
}

// addClient and dropClient count the instance's clients; the last one to
// leave starts the grace period after which the instance is torn down. Both,
// and the grace timer's decision, hold in.mu, so a client either attaches to
// a live instance or sees it stopping and starts a new one.
func (in *Instance) addClient() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.Alive() {
		return false
	}
	in.clients++
	if in.grace != nil {
		in.grace.Stop()
		in.grace = nil
	}
	return true
}

func (in *Instance) dropClient() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.clients--
	if in.clients > 0 {
		return
	}
	in.grace = time.AfterFunc(in.b.grace, func() {
		in.mu.Lock()
		idle := in.clients == 0 && in.Alive()
		if idle {
			in.once.Do(func() { close(in.stop) })
		}
		in.mu.Unlock()
		if idle {
			in.log.Info("last client gone; tearing down")
			in.teardown()
		}
	})
}

// terminate stops the instance without waiting.
func (in *Instance) terminate() {
	in.once.Do(func() { close(in.stop) })
	in.killInit()
}

// killInit kills pid 1 of the instance's pid namespace: every guest dies
// with it, daemons included. The keeper reaps init and exits; it is killed
// only if it has not after keeperGrace.
func (in *Instance) killInit() {
	if in.initPid > 0 {
		unix.Kill(in.initPid, unix.SIGKILL)
	}
	if k := in.keeper; k != nil && k.Process != nil {
		// After Wait, Kill is a no-op (os.ErrProcessDone): no stray signal.
		time.AfterFunc(keeperGrace, func() { k.Process.Kill() })
	}
}

const keeperGrace = 2 * time.Second

// teardown stops the instance and waits until none of its processes is left.
func (in *Instance) teardown() {
	in.stopGuests()
	in.terminate()
	if in.supervised {
		<-in.done
		return
	}
	if in.keeper != nil && in.keeper.Process != nil {
		in.keeper.Wait()
	}
	in.cleanup()
}

// stopGuests asks init to send SIGTERM to every guest and waits until they
// are gone or the broker's stop timeout has passed; terminate then kills
// init, and with it whatever is left (SIGKILL).
func (in *Instance) stopGuests() {
	if in.ctl == nil || in.b.stopTimeout <= 0 {
		return
	}
	in.mu.Lock()
	in.nextID++
	id := in.nextID
	ch := make(chan reply, 1)
	in.waiters[id] = ch
	in.mu.Unlock()
	if proto.Send(in.ctl, &proto.ToInit{Op: proto.OpStop, ID: id, Seconds: in.b.stopTimeout.Seconds()}) != nil {
		return
	}
	select {
	case <-ch:
	case <-in.done:
	case <-time.After(in.b.stopTimeout + time.Second):
	}
}

// Guests counts the instance's processes other than init and the holder.
func (in *Instance) Guests() int {
	if in.proc == nil {
		return 0
	}
	n, _ := procfs.CountPids(int(in.proc.Fd()), 1, in.holderPid)
	return n
}

func (in *Instance) cleanup() {
	in.stopForwarders()
	for _, c := range in.comps {
		c.mu.Lock()
		if c.cmd != nil && c.cmd.Process != nil {
			c.cmd.Process.Kill()
		}
		c.mu.Unlock()
	}
	for _, c := range in.comps {
		if c.ctlFile != nil {
			c.ctlFile.Close()
		}
	}
	for _, f := range in.files {
		f.Close()
	}
	in.removeState()
	in.removeCgroups()
	for _, c := range []*net.UnixConn{in.ctl, in.kctl} {
		if c != nil {
			c.Close()
		}
	}
	in.b.forget(in)
}

// Alive reports whether the instance still runs.
func (in *Instance) Alive() bool {
	select {
	case <-in.stop:
		return false
	default:
		return true
	}
}
