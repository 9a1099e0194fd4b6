// Package pid1 is pid 1 of an instance (lx init): it makes the instance's
// /proc, root and filter, the guests' namespaces, and spawns and reaps the
// commands the broker sends.
//
// Runs in: lx init, inside the instance, under its own seccomp filter.
// Owns: the guests' namespaces and the instance's spawns. Waits on: the
// broker, for orders; procsrv, for the clone of the holder. Lock order:
// initState.mu only.
package pid1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/elfhdr"
	"lx/shared/guestfile"
	"lx/shared/mountfd"
	"lx/shared/procfs"
	"lx/shared/seccomp"
)

// Init is `lx init NEWROOT`: pid 1 of an instance, started by the keeper in
// new pid, uts, ipc and net namespaces with its control socket to the
// broker as fd 3. It mounts the instance's /proc, pivots into NEWROOT and
// makes the mount table shared, makes the instance's binfmt_misc for native
// execs (binfmt.go), installs the seccomp filter on itself
// (every guest inherits it through fork and exec and can never remove it),
// hands the listener to the broker, makes the guests' user and mount
// namespaces (enter.go: nested in its own, with a locked copy of the
// keeper's table), then spawns the commands the broker sends in them
// (through lx-enter, as its own children) and reaps every process of the
// instance. Guests cannot ptrace or signal it: it is in the user namespace
// above theirs, and their pid namespace's init.
func Init() error {
	f := os.NewFile(3, "control")
	fc, err := net.FileConn(f)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	f.Close()
	ctl := fc.(*net.UnixConn)
	if len(os.Args) < 3 {
		return fmt.Errorf("usage: lx init NEWROOT (internal)")
	}
	procfd, err := enterRoot(os.Args[2])
	if err != nil {
		fail(ctl, err)
		return err
	}
	unix.Sethostname([]byte(proto.Hostname))
	if err := loopbackUp(); err != nil {
		fmt.Fprintln(os.Stderr, "lx init: loopback interface:", err)
	}
	enter, err := loadEnter()
	if err != nil {
		fail(ctl, err)
		return err
	}
	// The broker's first word: the profile the filter is made from, and
	// the bound of the instance's tasks where no pids cgroup holds them.
	want, fds, err := proto.Recv[proto.ToInit](ctl)
	proto.CloseAll(fds)
	if err != nil || want.Op != proto.OpProfile || want.Profile == nil {
		return fmt.Errorf("lx init: no profile from the broker (%v)", err)
	}
	profile := *want.Profile
	if want.Tasks > 0 {
		if err := boundTasks(want.Tasks); err != nil {
			fail(ctl, fmt.Errorf("bound the instance's tasks: %w", err))
			return err
		}
	}
	// Native execs (binfmt.go): the mount fd stays open for init's life.
	execs := "trapped: lx run --trap-paths"
	if profile.NativeExecs && !profile.TrapPaths {
		if _, err := refuse32(enter); err != nil {
			execs = "trapped: " + err.Error()
			profile.NativeExecs = false
			fmt.Fprintln(os.Stderr, "lx init: execs stay trapped:", err)
		} else {
			execs = "native"
		}
	} else {
		profile.NativeExecs = false
	}
	prog, err := seccomp.Build(profile.Routes())
	if err != nil {
		fail(ctl, err)
		return err
	}
	listener, err := seccomp.Install(prog)
	if err != nil {
		fail(ctl, err)
		return err
	}
	// From here on every call of this process is a guest's call. The
	// broker and the servers reach the instance's /proc through procfd,
	// the root of the proc mount made here, never by a path below the
	// instance root (whose /proc a guest of another instance could have
	// swapped for a symlink while this one was down).
	if err := proto.Send(ctl, &proto.FromInit{Op: proto.OpReady, Execs: execs, Profile: &profile}, listener, procfd); err != nil {
		return err
	}
	unix.Close(listener)
	unix.Close(procfd)
	// init holds nothing of the host that a guest could take with
	// pidfd_getfd: its stdio becomes the instance's read-only /dev/null
	// bind, and its log goes to the broker from now on.
	// Any other device fd inherited from its start (the Go runtime's own
	// are epoll, eventfd, pipes and sockets) is replaced the same way.
	if null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		for fd := 0; fd <= 2; fd++ {
			unix.Dup2(null, fd)
		}
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			for _, e := range ents {
				fd, err := strconv.Atoi(e.Name())
				var st unix.Stat_t
				if err == nil && fd > 2 && fd != null && unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR {
					unix.Dup3(null, fd, unix.O_CLOEXEC)
				}
			}
		}
		unix.Close(null)
	}
	ignoreSignals()
	in := &initState{ctl: ctl, children: map[int]uint64{}, ptys: map[int]int{}, wake: make(chan struct{}, 1)}
	// The guests' namespaces (enter.go). The holder's clone waits for
	// procsrv, which the broker starts once it has the listener.
	if in.ns, err = makeGuestNamespaces(enter); err != nil {
		proto.Send(ctl, &proto.FromInit{Op: proto.OpHolder, Text: err.Error()})
		return err
	}
	in.holderPid = in.ns.holder
	proto.Send(ctl, &proto.FromInit{Op: proto.OpHolder, Holder: in.holderPid})
	go in.reap()
	for {
		m, fds, err := proto.Recv[proto.ToInit](ctl)
		if err != nil {
			// The broker is gone. The guests go on and init goes on
			// reaping; the next broker tears this instance down.
			select {}
		}
		switch {
		case m.Op == proto.OpSpawn && m.Command != nil:
			in.spawn(m.ID, m.Command, fds)
		case m.Op == proto.OpSignal:
			proto.CloseAll(fds)
			in.signal(m.ID, m.Sig)
		case m.Op == proto.OpStop:
			proto.CloseAll(fds)
			go in.stop(m.ID, m.Seconds)
		case m.Op == proto.OpDial:
			proto.CloseAll(fds)
			if fd, err := dialLoopback(m.Port); err != nil {
				proto.Send(ctl, &proto.FromInit{Op: proto.OpError, ID: m.ID, Text: err.Error()})
			} else {
				proto.Send(ctl, &proto.FromInit{Op: proto.OpDial, ID: m.ID}, fd)
				unix.Close(fd)
			}
		default:
			proto.CloseAll(fds)
		}
	}
}

// fail tells the broker why init could not start.
func fail(ctl *net.UnixConn, err error) {
	proto.Send(ctl, &proto.FromInit{Op: proto.OpError, Status: 125, Text: err.Error()})
}

// enterRoot mounts /proc for the instance's pid namespace and /sys for its
// network namespace in r, masks what of them is the host's (masks.go), and
// makes r the root. It returns the fd of the proc mount's root.
func enterRoot(r string) (int, error) {
	root, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("instance root: %w", err)
	}
	defer unix.Close(root)
	proc, err := mountfd.MountOn(root, "proc", false, "proc", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("instance root: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(proc, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return -1, fmt.Errorf("instance root: /proc is not a proc mount")
	}
	// A minimal /sys: the instance's own sysfs (its network namespace's
	// devices), read-only. Without it the directory stays as it is.
	sys, err := mountfd.MountOn(root, "sys", false, "sysfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lx-init: no /sys in the instance:", err)
		sys = -1
	}
	if err := maskKernelFiles(root, proc, sys); err != nil {
		return -1, fmt.Errorf("instance root: %w", err)
	}
	if sys >= 0 {
		unix.Close(sys)
	}
	if err := unix.Fchdir(root); err != nil {
		return -1, err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return -1, fmt.Errorf("instance root: pivot: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return -1, fmt.Errorf("instance root: detach the old root: %w", err)
	}
	// Shared, so that the guests' copy of this table (enter.go) receives
	// the mounts the keeper adds later.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return -1, fmt.Errorf("instance root: make it shared: %w", err)
	}
	return proc, unix.Chdir("/")
}

type initState struct {
	ctl      *net.UnixConn
	mu       sync.Mutex
	children map[int]uint64 // pid → spawn id
	ptys     map[int]int    // pid → init's copy of its pty master (runs on a terminal)
	wake     chan struct{}

	ns        *guestNS // the guests' namespaces (enter.go)
	holderPid int
}

type user struct {
	name     string
	uid, gid uint32
	home     string
	groups   []uint32
}

// lookupUser finds name (or a numeric uid) in the instance's /etc/passwd,
// and its supplementary groups in /etc/group, as seen under view (see
// guestView). "" is root.
func lookupUser(view, name string) (user, error) {
	if name == "" {
		name = "root"
	}
	root := user{name: "root", home: "/root"}
	data, err := readGuest(view, "/etc/passwd")
	if err != nil {
		if name == "root" {
			return root, nil
		}
		return user{}, fmt.Errorf("no /etc/passwd in the instance to find %s in", name)
	}
	for _, e := range guestfile.ParsePasswd(data) {
		if e.Name != name && strconv.FormatUint(uint64(e.UID), 10) != name {
			continue
		}
		u := user{name: e.Name, uid: e.UID, gid: e.GID, home: e.Home}
		if g, err := readGuest(view, "/etc/group"); err == nil {
			for _, gl := range strings.Split(string(g), "\n") {
				gf := strings.Split(gl, ":")
				if len(gf) < 4 {
					continue
				}
				for _, member := range strings.Split(gf[3], ",") {
					if member == u.name {
						if id, err := strconv.ParseUint(gf[2], 10, 32); err == nil {
							u.groups = append(u.groups, uint32(id))
						}
					}
				}
			}
		}
		return u, nil
	}
	if name == "root" {
		return root, nil
	}
	return user{}, fmt.Errorf("no user %s in the instance's /etc/passwd", name)
}

// setEnv replaces or adds KEY=VALUE entries.
func setEnv(env []string, kv ...string) []string {
	out := make([]string, 0, len(env)+len(kv))
	for _, e := range env {
		keep := true
		for _, n := range kv {
			if strings.HasPrefix(e, n[:strings.IndexByte(n, '=')+1]) {
				keep = false
			}
		}
		if keep {
			out = append(out, e)
		}
	}
	return append(out, kv...)
}

// openPty opens a new pty of the instance's devpts and sizes it.
func openPty(rows, cols int) (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, -1, err
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		unix.Close(master)
		return -1, -1, errno
	}
	slave = int(r)
	if rows > 0 && cols > 0 {
		unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
	}
	return master, slave, nil
}

// lookPath finds argv0 the way a shell does, in the command's own PATH,
// as seen under view (see guestView).
func lookPath(view, argv0 string, env []string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			path = e[5:]
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, argv0)
		if !filepath.IsAbs(p) {
			p = "/" + p // init's working directory
		}
		var st unix.Stat_t
		if unix.Stat(view+p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Access(view+p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", unix.ENOENT
}

func (in *initState) spawn(id uint64, m *proto.Command, fds []int) {
	defer proto.CloseAll(append([]int(nil), fds...))
	fail := func(code int, format string, a ...any) {
		proto.Send(in.ctl, &proto.FromInit{Op: proto.OpError, ID: id, Status: code, Text: fmt.Sprintf(format, a...)})
	}
	// The client sends no fd for a stdio stream that is the host's
	// /dev/null or a terminal (proto.Command.Null): the instance's own /dev/null
	// stands for the first, a new pty of the instance, whose master goes
	// back to the client, for the second (proto.Command.Tty).
	var stdio [3]int
	var master, slave, ctty int = -1, -1, -1
	if m.Tty != 0 {
		mfd, sfd, err := openPty(m.Rows, m.Cols)
		if err != nil {
			fail(125, "lx: pty: %v", err)
			return
		}
		defer unix.Close(sfd)
		defer unix.Close(mfd)
		master, slave = mfd, sfd
	}
	for i := range stdio {
		if m.Tty&(1<<i) != 0 {
			stdio[i] = slave
			if ctty < 0 {
				ctty = i
			}
		} else if m.Null&(1<<i) != 0 {
			null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				fail(125, "lx: /dev/null: %v", err)
				return
			}
			defer unix.Close(null)
			stdio[i] = null
		} else if len(fds) > 0 {
			stdio[i], fds = fds[0], fds[1:]
		} else {
			fail(125, "lx: missing stdio")
			return
		}
	}
	if len(m.Argv) == 0 {
		fail(125, "lx: nothing to run")
		return
	}
	view := in.guestView()
	u, err := lookupUser(view, m.User)
	if err != nil {
		fail(125, "lx: %v", err)
		return
	}
	env := m.Env
	if m.User != "" {
		env = setEnv(env, "HOME="+u.home, "USER="+u.name, "LOGNAME="+u.name)
	}
	// The working directory is entered as the user (lx-enter): --cd to a
	// directory the user may not search fails as chdir would; the home
	// is the default, "/" where it cannot be entered, as login does.
	cwd := m.Cwd
	if cwd == "" {
		m.Cwd = u.home
		cwd = "?" + u.home
	}
	path, err := lookPath(view, m.Argv[0], env)
	if err != nil {
		fail(127, "lx: %s: command not found", m.Argv[0])
		return
	}
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(stdio[0]), uintptr(stdio[1]), uintptr(stdio[2])},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	if ctty >= 0 {
		// A session of its own with the pty as controlling terminal: job
		// control, ^C and ^Z work as in a login.
		attr.Sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: ctty}
	}
	// lx-enter takes the identity in the guests' user namespace; an
	// unprivileged instance may not call setgroups (its user namespace
	// was made with setgroups "deny").
	var cred *syscall.Credential
	if m.User != "" {
		cred = &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
	}
	in.mu.Lock()
	pid, err := in.ns.enterAndExec(path, m.Argv, cwd, cred, attr)
	if err == nil {
		in.children[pid] = id
		if master >= 0 {
			// kept to find the terminal's foreground group for signals
			if dup, derr := unix.FcntlInt(uintptr(master), unix.F_DUPFD_CLOEXEC, 0); derr == nil {
				in.ptys[pid] = dup
			}
		}
	}
	in.mu.Unlock()
	if err == nil && master >= 0 {
		proto.Send(in.ctl, &proto.FromInit{Op: proto.OpPty, ID: id}, master)
	}
	var ce *cwdError
	if errors.As(err, &ce) {
		who := m.User
		if who == "" {
			who = "root"
		}
		fail(125, "lx: cannot enter directory %q as %s: %v", ce.dir, who, ce.err)
		return
	}
	switch err {
	case nil:
		select {
		case in.wake <- struct{}{}:
		default:
		}
	case syscall.EINVAL:
		if m.User != "" {
			fail(125, "lx: cannot run as %s: the instance maps only your own user id (subordinate ids are not set up)", m.User)
			return
		}
		fail(126, "lx: %s: %v", m.Argv[0], err)
	case syscall.ENOENT:
		fail(127, "lx: %s: no such file or directory", m.Argv[0])
	case syscall.ENOEXEC:
		if elf32(view, filepath.Join(m.Cwd, path)) {
			fail(126, "lx: %s: cannot execute: a 32-bit program (lx runs x86-64 programs only)", m.Argv[0])
			return
		}
		fail(126, "lx: %s: cannot execute: %v", m.Argv[0], err)
	case syscall.EACCES, syscall.EISDIR, syscall.EPERM:
		fail(126, "lx: %s: cannot execute: %v", m.Argv[0], err)
	default:
		fail(126, "lx: %s: %v", m.Argv[0], err)
	}
}

// guestView is the prefix under which init sees the instance root as the
// guests do, with their mounts: the holder's root; "" (init's own root,
// the keeper's table) without one.
func (in *initState) guestView() string {
	if in.ns == nil {
		return ""
	}
	v := "/proc/" + strconv.Itoa(in.ns.holder) + "/root"
	if _, err := os.Stat(v + "/"); err != nil {
		return ""
	}
	return v
}

// elf32 reports whether name, in the guests' view, is a 32-bit ELF file.
func elf32(view, name string) bool {
	f, err := openGuest(view, name)
	if err != nil {
		return false
	}
	defer f.Close()
	h, err := elfhdr.Read(f)
	return err == nil && h.Class == elfhdr.Class32
}

// openGuest opens the regular file name of the guests' view (guestView;
// "" is init's own root) for reading (guestfile.Open: the files are the
// guests' to change).
func openGuest(view, name string) (*os.File, error) {
	if view == "" {
		view = "/"
	}
	root, err := unix.Open(view, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	return guestfile.Open(root, name)
}

// readGuest reads at most guestfile.MaxSize bytes of the regular file name
// of the guests' view.
func readGuest(view, name string) ([]byte, error) {
	f, err := openGuest(view, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, guestfile.MaxSize))
}

// signal sends sig, which the host sent to `lx run`, to the run's
// foreground process group: the terminal's foreground group for a run on a
// terminal (the job a shell runs in the foreground), else the process
// group of the command (a non-interactive shell and its children).
func (in *initState) signal(id uint64, sig int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for pid, cid := range in.children {
		if cid != id {
			continue
		}
		pgrp := pid
		if m, ok := in.ptys[pid]; ok {
			if fg, err := unix.IoctlGetInt(m, unix.TIOCGPGRP); err == nil && fg > 0 {
				pgrp = fg
			}
		}
		unix.Kill(-pgrp, unix.Signal(sig))
	}
}

// stop ends every guest: SIGTERM to all (kill(-1) in the instance's pid
// namespace reaches every process but init, daemons included), SIGKILL to
// those still there after the timeout. Reaping goes on in reap.
func (in *initState) stop(id uint64, seconds float64) {
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for time.Now().Before(deadline) && in.guests() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if in.guests() > 0 {
		unix.Kill(-1, unix.SIGKILL)
	}
	proto.Send(in.ctl, &proto.FromInit{Op: proto.OpExit, ID: id})
}

// guests counts the processes of the instance other than init and the
// holder, zombies waiting for reap included.
func (in *initState) guests() int {
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(proc)
	n, _ := procfs.CountPids(proc, 1, in.holderPid)
	return n
}

// ignoreSignals makes init, like pid 1 of any pid namespace, survive every
// signal a guest sends it: kill(1, SIGTERM), a tkill to one of its
// threads, the exit signal of a child clone(CLONE_PARENT) gave it, an
// F_SETOWN/F_SETSIG fd. The kernel drops only the signals init leaves at
// their default action, but the Go runtime handles all of them and exits
// on most (SIGTERM, SIGHUP, SIGUSR1, SIGQUIT…), and the instance would end
// with it. So init takes every signal and ignores it; a fault of its own
// (not sent by anyone) still crashes it. Spawned commands start with the
// default dispositions (exec resets handlers).
func ignoreSignals() {
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	go func() {
		for range sigs {
		}
	}()
}

// reap waits for every process of the instance: the commands it spawned,
// whose status goes back to the broker, and the orphans that pid 1 inherits.
func (in *initState) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.ECHILD {
			<-in.wake
			continue
		}
		if err != nil {
			continue
		}
		in.mu.Lock()
		id, ok := in.children[pid]
		delete(in.children, pid)
		if m, ok := in.ptys[pid]; ok {
			unix.Close(m)
			delete(in.ptys, pid)
		}
		in.mu.Unlock()
		if !ok {
			continue
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		proto.Send(in.ctl, &proto.FromInit{Op: proto.OpExit, ID: id, Status: code})
	}
}
