package lxbroker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"lx/shared/routes"
	"lx/shared/seccomp"
)

// Init is `lx init`: pid 1 of an instance, started by the broker in new
// user, pid, mount, uts, ipc and net namespaces with its control socket as
// fd 3. It builds the instance's mount table, installs the seccomp filter
// on itself (every guest inherits it through fork and exec and can never
// remove it), hands the listener to the broker, then spawns the commands
// the broker sends and reaps every process of the instance.
func Init() error {
	f := os.NewFile(3, "control")
	fc, err := net.FileConn(f)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	f.Close()
	ctl := fc.(*net.UnixConn)
	host, err := setupRoot()
	if err != nil {
		send(ctl, &Msg{Op: OpError, Text: err.Error()})
		return err
	}
	unix.Sethostname([]byte("lx"))
	prog, err := seccomp.Build(routes.All())
	if err != nil {
		return err
	}
	listener, err := seccomp.Install(prog)
	if err != nil {
		send(ctl, &Msg{Op: OpError, Text: err.Error()})
		return err
	}
	// From here on every call of this process is a guest's call.
	if err := send(ctl, &Msg{Op: OpReady}, listener); err != nil {
		return err
	}
	unix.Close(listener)
	in := &initState{ctl: ctl, host: host, bound: map[string]bool{}, children: map[int]uint64{}, wake: make(chan struct{}, 1)}
	go in.reap()
	for {
		m, fds, err := recv(ctl)
		if err != nil {
			return fmt.Errorf("control socket: %w", err) // the broker is gone: the instance ends
		}
		switch m.Op {
		case OpSpawn:
			in.spawn(m, fds)
		case OpSignal:
			closeAll(fds)
			in.signal(m.ID, m.Sig)
		default:
			closeAll(fds)
		}
	}
}

// setupRoot makes the default distro: the host root read-only, with a
// private /proc, /dev and /tmp, and pivots into it. It returns a detached,
// writable clone of the host tree from which Init later binds each run's
// working directory.
func setupRoot() (host int, err error) {
	try := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("instance root: %s: %w", what, err)
		}
		return nil
	}
	if err := try("make / private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")); err != nil {
		return -1, err
	}
	host, err = unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err := try("clone host tree", err); err != nil {
		return -1, err
	}
	root, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err := try("clone root", err); err != nil {
		return -1, err
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := try("make root read-only", unix.MountSetattr(root, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr)); err != nil {
		return -1, err
	}
	const stage = "/tmp"
	if err := try("stage", unix.Mount("tmpfs", stage, "tmpfs", 0, "mode=0700")); err != nil {
		return -1, err
	}
	r := stage + "/root"
	os.Mkdir(r, 0o755)
	if err := try("attach root", unix.MoveMount(root, "", unix.AT_FDCWD, r, unix.MOVE_MOUNT_F_EMPTY_PATH)); err != nil {
		return -1, err
	}
	unix.Close(root)
	steps := []struct {
		what string
		do   func() error
	}{
		{"/proc", func() error {
			return unix.Mount("proc", r+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
		}},
		{"/dev", func() error { return setupDev(r + "/dev") }},
		{"/tmp", func() error {
			return unix.Mount("tmpfs", r+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")
		}},
		{"pivot", func() error {
			if err := unix.Chdir(r); err != nil {
				return err
			}
			if err := unix.PivotRoot(".", "."); err != nil {
				return err
			}
			if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
				return err
			}
			return unix.Chdir("/")
		}},
	}
	for _, s := range steps {
		if err := try(s.what, s.do()); err != nil {
			return -1, err
		}
	}
	return host, nil
}

var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

func setupDev(d string) error {
	if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	for _, n := range devNodes {
		if err := os.WriteFile(d+"/"+n, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+n, d+"/"+n, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	for _, dir := range []string{"pts", "shm"} {
		if err := os.Mkdir(d+"/"+dir, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", d+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("devpts: %w", err)
	}
	if err := unix.Mount("tmpfs", d+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	for link, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, d+"/"+link); err != nil {
			return err
		}
	}
	return nil
}

type initState struct {
	ctl      *net.UnixConn
	host     int
	mu       sync.Mutex
	bound    map[string]bool
	children map[int]uint64 // pid → spawn id
	wake     chan struct{}
}

// bind makes host directory dir visible read-write at the same path. The
// mount calls go through fssrv, which continues them for init only.
func (in *initState) bind(dir string) error {
	dir = filepath.Clean(dir)
	if dir == "/" || !filepath.IsAbs(dir) {
		return nil
	}
	for _, skip := range []string{"/proc", "/dev", "/sys"} {
		if dir == skip || strings.HasPrefix(dir, skip+"/") {
			return nil
		}
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if in.bound[d] {
			return nil
		}
	}
	sub, err := unix.OpenTree(in.host, strings.TrimPrefix(dir, "/"), unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	defer unix.Close(sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	if err := unix.MoveMount(sub, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind working directory %s: %w", dir, err)
	}
	in.bound[dir] = true
	return nil
}

// lookPath finds argv0 the way a shell does, in the command's own PATH.
func lookPath(argv0 string, env []string) (string, error) {
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
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", unix.ENOENT
}

func (in *initState) spawn(m *Msg, fds []int) {
	defer closeAll(fds)
	fail := func(code int, format string, a ...any) {
		send(in.ctl, &Msg{Op: OpError, ID: m.ID, Code: code, Text: fmt.Sprintf(format, a...)})
	}
	if len(m.Argv) == 0 || len(fds) != 3 {
		fail(125, "lx: nothing to run")
		return
	}
	in.mu.Lock()
	err := in.bind(m.Cwd)
	in.mu.Unlock()
	if err != nil {
		fail(125, "lx: %v", err)
		return
	}
	path, err := lookPath(m.Argv[0], m.Env)
	if err != nil {
		fail(127, "lx: %s: command not found", m.Argv[0])
		return
	}
	attr := &syscall.ProcAttr{
		Dir:   m.Cwd,
		Env:   m.Env,
		Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	in.mu.Lock()
	pid, err := syscall.ForkExec(path, m.Argv, attr)
	if err == nil {
		in.children[pid] = m.ID
	}
	in.mu.Unlock()
	switch err {
	case nil:
		select {
		case in.wake <- struct{}{}:
		default:
		}
	case syscall.ENOENT:
		fail(127, "lx: %s: no such file or directory", m.Argv[0])
	case syscall.EACCES, syscall.ENOEXEC, syscall.EISDIR, syscall.EPERM:
		fail(126, "lx: %s: cannot execute: %v", m.Argv[0], err)
	default:
		fail(126, "lx: %s: %v", m.Argv[0], err)
	}
}

func (in *initState) signal(id uint64, sig int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for pid, cid := range in.children {
		if cid == id {
			unix.Kill(-pid, unix.Signal(sig))
		}
	}
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
		in.mu.Unlock()
		if !ok {
			continue
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		send(in.ctl, &Msg{Op: OpExit, ID: id, Code: code})
	}
}
