package lxbroker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Keeper is `lx keeper`: the instance's mount keeper. The broker starts it
// in the instance's new user and mount namespaces, but in the host's pid
// namespace, so that no guest can see it, signal it, ptrace it or reach its
// fds through /proc. It builds the instance root, keeps a detached writable
// clone of the host tree, starts init in new pid, uts, ipc and net
// namespaces, and binds each run's working directory on the broker's order.
// It exits when init exits. fd 3: its socket to the broker; fd 4: init's.
//
// The host tree never enters the instance: only the directory a run names
// is cloned from it and attached (open_tree from an anonymous mount
// namespace made in the caller's own namespace, Linux 6.15).
//
// The keeper's mount namespace is not the guests': they live in a copy of
// it made by init in a nested user namespace (enter.go), where the kernel
// locks every mount the keeper made, so guest root can add and remove its
// own mounts but not unmount or remount these. The table is shared (init
// makes it so after its pivot), so what attach mounts later propagates to
// the guests' copy, locked there too; their mounts never come back here.
func Keeper() error {
	f := os.NewFile(3, "broker")
	fc, err := net.FileConn(f)
	if err != nil {
		return fmt.Errorf("broker socket: %w", err)
	}
	f.Close()
	ctl := fc.(*net.UnixConn)
	fail := func(err error) error {
		send(ctl, &Msg{Op: OpError, Text: err.Error()})
		return err
	}
	distroRoot := ""
	if len(os.Args) > 2 {
		distroRoot = os.Args[2]
	}
	host, newRoot, err := setupRoot(distroRoot)
	if err != nil {
		return fail(err)
	}
	// init dies with the thread that started it (Pdeathsig): keep that
	// thread for the keeper's whole life.
	runtime.LockOSThread()
	initCmd := exec.Command("/proc/self/exe", "init", newRoot)
	initCmd.Args[0] = "lx-init"
	initCmd.ExtraFiles = []*os.File{os.NewFile(4, "init-control")}
	initCmd.Stdout, initCmd.Stderr = os.Stderr, os.Stderr
	initCmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, nativeEnvOf(os.Getenv)...)
	initCmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET,
		Pdeathsig:  unix.SIGKILL,
	}
	if err := initCmd.Start(); err != nil {
		return fail(fmt.Errorf("start init: %w", err))
	}
	initCmd.ExtraFiles[0].Close()
	if err := send(ctl, &Msg{Op: OpReady, Code: initCmd.Process.Pid}); err != nil {
		return err
	}
	ended := make(chan error, 1)
	go func() { ended <- initCmd.Wait() }()
	orders := make(chan *Msg)
	go func() {
		for {
			m, fds, err := recv(ctl)
			closeAll(fds)
			if err != nil {
				close(orders)
				return
			}
			orders <- m
		}
	}()
	bound := map[string]*binding{}
	for {
		select {
		case err := <-ended:
			return fmt.Errorf("init ended: %v", err)
		case m, ok := <-orders:
			if !ok {
				// The broker is gone. The guests go on; the next broker
				// tears this instance down (see orphans.go).
				orders = nil
				continue
			}
			reply := &Msg{Op: OpExit, ID: m.ID}
			if m.Op == OpBind {
				mnt, cwd := Mount{Host: m.Cwd, Guest: m.Cwd}, true
				if len(m.Mounts) == 1 {
					mnt, cwd = m.Mounts[0], false
				}
				if err := attach(host, bound, mnt, cwd); err != nil {
					reply = &Msg{Op: OpError, ID: m.ID, Code: 125, Text: "lx: " + err.Error()}
				}
			}
			send(ctl, reply)
		}
	}
}

// setupRoot makes the instance root under a staging tmpfs: the distro's
// root directory read-write, or for the default distro the host root
// read-only; with a private /dev and /tmp (init mounts /proc, which must
// belong to its pid namespace, and pivots into it). It returns the detached
// writable clone of the host tree and the new root's path.
func setupRoot(distroRoot string) (host int, newRoot string, err error) {
	try := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("instance root: %s: %w", what, err)
		}
		return nil
	}
	if err := try("make / private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")); err != nil {
		return -1, "", err
	}
	host, err = unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err := try("clone host tree", err); err != nil {
		return -1, "", err
	}
	src := "/"
	if distroRoot != "" {
		src = distroRoot
		for _, d := range []string{"proc", "dev", "tmp", "run", "sys", "root"} {
			os.Mkdir(filepath.Join(distroRoot, d), 0o755)
		}
	}
	root, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err := try("clone root "+src, err); err != nil {
		return -1, "", err
	}
	defer unix.Close(root)
	// No device node in the root opens as a device (a tarball may carry
	// the host disk's); the instance's own are in its /dev.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV}
	if distroRoot == "" {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := try("set the root's mount attributes", unix.MountSetattr(root, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr)); err != nil {
		return -1, "", err
	}
	const stage = "/tmp"
	if err := try("stage", unix.Mount("tmpfs", stage, "tmpfs", 0, "mode=0700")); err != nil {
		return -1, "", err
	}
	r := stage + "/root"
	os.Mkdir(r, 0o755)
	if err := try("attach root", unix.MoveMount(root, "", unix.AT_FDCWD, r, unix.MOVE_MOUNT_F_EMPTY_PATH)); err != nil {
		return -1, "", err
	}
	if err := try("/dev", setupDev(r+"/dev")); err != nil {
		return -1, "", err
	}
	if err := try("/tmp", unix.Mount("tmpfs", r+"/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777")); err != nil {
		return -1, "", err
	}
	// /run is the instance's own: under the default distro it would show
	// the host's sockets (its broker's, its daemons').
	if err := try("/run", unix.Mount("tmpfs", r+"/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755")); err != nil {
		return -1, "", err
	}
	if err := try("/etc", bindNetFiles(stage+"/etc", r)); err != nil {
		return -1, "", err
	}
	return host, r, nil
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
		// The node is the host's: a read-only bind keeps its I/O and
		// refuses chmod, chown and utimes (EROFS) from guests.
		ro := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(unix.AT_FDCWD, d+"/"+n, 0, &ro); err != nil {
			return fmt.Errorf("make /dev/%s read-only: %w", n, err)
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

// attach mounts host directory m.Host at m.Guest in the instance (the
// keeper's root is the instance root): read-only if asked, never with
// devices or set-user-ID. A run's working directory (cwd) is bound at its
// own path, read-write, unless it is the root, a kernel filesystem, or
// under a directory bound already.
func attach(host int, bound map[string]*binding, m Mount, cwd bool) error {
	guest := filepath.Clean(m.Guest)
	if !filepath.IsAbs(guest) || !filepath.IsAbs(m.Host) {
		return fmt.Errorf("mount %s:%s: both paths must be absolute", m.Host, m.Guest)
	}
	for _, skip := range []string{"/", "/proc", "/dev", "/sys"} {
		if guest == skip || (skip != "/" && strings.HasPrefix(guest, skip+"/")) {
			if cwd {
				return nil
			}
			return fmt.Errorf("mount %s: %s belongs to the instance", m.Host, guest)
		}
	}
	// A binding stays until the instance stops, unless the host directory
	// it shows was removed (and maybe made again) since: then it goes.
	for d := guest; d != "/"; d = filepath.Dir(d) {
		b := bound[d]
		if b == nil || (!cwd && d != guest) {
			continue
		}
		if b.current(host) && (cwd || b.m == m) {
			return nil
		}
		if err := b.detach(host); err != nil {
			return fmt.Errorf("replace the mount at %s: %w", d, err)
		}
		delete(bound, d)
	}
	sub, err := unix.OpenTree(host, strings.TrimPrefix(filepath.Clean(m.Host), "/"), unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("host directory %s: %w", m.Host, err)
	}
	defer unix.Close(sub)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if m.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(sub, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("host directory %s: mount attributes: %w", m.Host, err)
	}
	if err := os.MkdirAll(guest, 0o755); err != nil {
		if errors.Is(err, unix.EROFS) {
			return fmt.Errorf("%s does not exist in the instance, and its root is read-only", guest)
		}
		return fmt.Errorf("mount point %s: %w", guest, err)
	}
	// The guests own the tree the mount point is in: resolve it without
	// following anything out of the instance root (or into /proc).
	tfd, err := unix.Openat2(unix.AT_FDCWD, guest, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return fmt.Errorf("mount point %s: %w", guest, err)
	}
	defer unix.Close(tfd)
	if err := unix.MoveMount(sub, "", tfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s at %s: %w", m.Host, guest, err)
	}
	// sub now names the attached mount's root: kept, it lets the keeper
	// unmount exactly this mount later, whatever guests did to the path.
	fd, err := unix.Dup(sub)
	if err != nil {
		return err
	}
	unix.CloseOnExec(fd)
	bound[guest] = &binding{m: m, fd: fd}
	return nil
}

// binding is a host directory the keeper mounted in the instance.
type binding struct {
	m  Mount
	fd int // the mount's root
}

// current reports whether the mount still shows the host directory that
// is at m.Host now.
func (b *binding) current(host int) bool {
	var in, out unix.Stat_t
	if unix.Fstat(b.fd, &in) != nil || unix.Fstatat(host, strings.TrimPrefix(b.m.Host, "/"), &out, 0) != nil {
		return false
	}
	return in.Dev == out.Dev && in.Ino == out.Ino && in.Nlink > 0
}

// detach unmounts the binding through the keeper's own fd for it, named
// from the host's /proc (the keeper has no pid in the instance's), so no
// path a guest can change is involved.
func (b *binding) detach(host int) error {
	defer unix.Close(b.fd)
	if err := unix.Fchdir(host); err != nil {
		return err
	}
	defer unix.Chdir("/")
	return unix.Unmount("proc/self/fd/"+strconv.Itoa(b.fd), unix.MNT_DETACH)
}
