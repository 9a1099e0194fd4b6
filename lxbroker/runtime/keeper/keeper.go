// Package keeper is the instance's mount keeper (lx keeper).
//
// Runs in: lx keeper, in the instance's user and mount namespaces, in the
// host's pid namespace. Owns: the instance's mount table (the guests' is a
// locked copy of it). Waits on: the broker, for orders; init, whose end is
// its own. Lock order: none (one goroutine acts on orders).
package keeper

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

	"lx/lxbroker/proto"
	"lx/shared/mountfd"
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
// makes it so after its pivot), so what it attaches later propagates to
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
		proto.Send(ctl, &proto.FromKeeper{Op: proto.OpError, Status: 125, Text: err.Error()})
		return err
	}
	// The broker's first order says what the root is: for host root's
	// instances it sends the root tree itself, made and id-mapped on the
	// host side (a distro's files are root's to open, not the instance's
	// ids').
	m, fds, err := proto.Recv[proto.ToKeeper](ctl)
	if err != nil || m.Op != proto.OpRoot || len(fds) > 1 {
		proto.CloseAll(fds)
		return fail(fmt.Errorf("lx keeper: no root order from the broker (%v)", err))
	}
	tree := -1
	if len(fds) == 1 {
		tree = fds[0]
	}
	k := &keeper{hide: m.Hide, bound: map[string]*binding{}}
	newRoot, err := k.setupRoot(m, tree)
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
	initCmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	initCmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET,
		Pdeathsig:  unix.SIGKILL,
	}
	if err := initCmd.Start(); err != nil {
		return fail(fmt.Errorf("start init: %w", err))
	}
	initCmd.ExtraFiles[0].Close()
	if err := proto.Send(ctl, &proto.FromKeeper{Op: proto.OpReady, InitPid: initCmd.Process.Pid}); err != nil {
		return err
	}
	ended := make(chan error, 1)
	go func() { ended <- initCmd.Wait() }()
	type order struct {
		m   *proto.ToKeeper
		fds []int
	}
	orders := make(chan order)
	go func() {
		for {
			m, fds, err := proto.Recv[proto.ToKeeper](ctl)
			if err != nil {
				close(orders)
				return
			}
			orders <- order{m, fds}
		}
	}()
	for {
		select {
		case err := <-ended:
			return fmt.Errorf("init ended: %v", err)
		case o, ok := <-orders:
			if !ok {
				// The broker is gone. The guests go on; the next broker
				// tears this instance down (see orphans.go).
				orders = nil
				continue
			}
			reply := &proto.FromKeeper{Op: proto.OpExit}
			if o.m.Op == proto.OpHide {
				k.hideMore(o.m.Hide)
			}
			if o.m.Op == proto.OpBind && o.m.Mount != nil {
				tree := -1
				if len(o.fds) == 1 {
					tree, o.fds = o.fds[0], nil
				}
				if err := k.bind(*o.m.Mount, tree); err != nil {
					reply = &proto.FromKeeper{Op: proto.OpError, Status: 125, Text: "lx: " + err.Error()}
				}
			}
			proto.CloseAll(o.fds)
			proto.Send(ctl, reply)
		}
	}
}

// keeper is the keeper's state: the host tree it binds from, what it bound,
// and lx's own directories, which no guest may see.
type keeper struct {
	host    int // detached clone of the host tree (unprivileged binds)
	bound   map[string]*binding
	hide    []proto.Hidden
	rootSrc string // the host directory the instance root shows
}

// Tmpfs sizes, as fractions of the instance's memory bound (proto.ToKeeper.Memory):
// together they are at most 9/16 of it, so what the guests keep in the
// instance's own tmpfs leaves them memory to run in. The staging tmpfs
// and /dev hold a few small files.
const (
	tmpShare   = 4  // /tmp: 1/4
	shmShare   = 4  // /dev/shm: 1/4
	runShare   = 16 // /run: 1/16
	smallTmpfs = 1 << 20
)

// setupRoot makes the instance root under a staging tmpfs: the tree
// (host root's instances: made by the broker, a distro's root id-mapped),
// else a clone of the distro's root directory read-write or, for the
// default distro, of the host root read-only; with a private /dev, /tmp
// and /run (init mounts /proc, which must belong to its pid namespace,
// and pivots into it). It returns the new root's path.
func (k *keeper) setupRoot(m *proto.ToKeeper, tree int) (newRoot string, err error) {
	try := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("instance root: %s: %w", what, err)
		}
		return nil
	}
	if err := try("make / private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")); err != nil {
		return "", err
	}
	k.host, err = unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
	if err := try("clone host tree", err); err != nil {
		return "", err
	}
	if tree < 0 {
		src := "/"
		if m.Root != "" {
			src = m.Root
		}
		if tree, err = unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC); err != nil {
			return "", try("clone root "+src, err)
		}
		// No device node in the root opens as a device (a tarball may
		// carry the host disk's); the instance's own are in its /dev.
		// The host root is read-only and runs nothing set-user-ID.
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV}
		if m.Root == "" {
			attr.Attr_set |= unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID
		}
		if err := try("set the root's mount attributes", unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr)); err != nil {
			return "", err
		}
	}
	defer unix.Close(tree)
	const stage = "/tmp"
	if err := try("stage", unix.Mount("tmpfs", stage, "tmpfs", 0, "mode=0700,size="+mountfd.SizeOpt(smallTmpfs))); err != nil {
		return "", err
	}
	r := stage + "/root"
	os.Mkdir(r, 0o755)
	if err := try("attach root", unix.MoveMount(tree, "", unix.AT_FDCWD, r, unix.MOVE_MOUNT_F_EMPTY_PATH)); err != nil {
		return "", err
	}
	root, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", try("open root", err)
	}
	defer unix.Close(root)
	// The mount points of the instance's own filesystems. A distro's
	// root is the guests' to change between two runs: a symlink there
	// (/dev -> /somewhere) is refused, never followed.
	writable := m.Root != ""
	for _, d := range []string{"proc", "sys", "root"} {
		fd, err := mountfd.MountPoint(root, d, writable)
		if err != nil {
			return "", try("mount point", err)
		}
		unix.Close(fd)
	}
	mem := m.Memory
	if err := try("/dev", setupDev(root, writable, mem)); err != nil {
		return "", err
	}
	// /tmp and /run are the instance's own: under the default distro they
	// would show the host's sockets (its broker's, its daemons').
	for _, t := range []struct {
		name, mode string
		share      int64
	}{{"tmp", "1777", tmpShare}, {"run", "0755", runShare}} {
		mnt, err := mountfd.MountOn(root, t.name, writable, "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV,
			"mode", t.mode, "size", mountfd.SizeOpt(mem/t.share))
		if err != nil {
			return "", try(t.name, err)
		}
		unix.Close(mnt)
	}
	if err := try("/etc", bindNetFiles(stage+"/etc", root)); err != nil {
		return "", err
	}
	k.rootSrc = rootSource(m.Root)
	k.hideIn(root, k.rootSrc)
	return r, nil
}

// rootSource is the host path the instance root shows.
func rootSource(distroRoot string) string {
	if distroRoot == "" {
		return "/"
	}
	return distroRoot
}

var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

// setupDev mounts the instance's /dev below root: a small tmpfs with the
// host's harmless character devices bound read-only, its own devpts, a
// /dev/shm sized from the memory bound mem.
func setupDev(root int, mkdir bool, mem int64) error {
	dev, err := mountfd.MountOn(root, "dev", mkdir, "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC,
		"mode", "0755", "size", mountfd.SizeOpt(smallTmpfs))
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	for _, n := range devNodes {
		fd, err := unix.Openat(dev, n, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return err
		}
		unix.Close(fd)
		// The node is the host's: a read-only bind keeps its I/O and
		// refuses chmod, chown and utimes (EROFS) from guests.
		src, err := unix.Open("/dev/"+n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("/dev/%s: %w", n, err)
		}
		err = mountfd.BindOver(src, dev, n, mountfd.RODevice)
		unix.Close(src)
		if err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	pts, err := mountfd.MountOn(dev, "pts", true, "devpts", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC,
		"newinstance", "", "ptmxmode", "0666", "mode", "0620")
	if err != nil {
		return fmt.Errorf("devpts: %w", err)
	}
	unix.Close(pts)
	shm, err := mountfd.MountOn(dev, "shm", true, "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV,
		"mode", "1777", "size", mountfd.SizeOpt(mem/shmShare))
	if err != nil {
		return err
	}
	unix.Close(shm)
	for link, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := unix.Symlinkat(target, dev, link); err != nil {
			return err
		}
	}
	return nil
}

// hideIn covers each of lx's own directories that the mount whose root is
// mnt shows (the mount shows host directory src): an empty read-only
// directory over it, which guests, who cannot unmount what the keeper
// mounts, never get past. A directory is covered only where it is, by
// identity: a path below src that leads elsewhere (a symlink) is not
// followed, and one that does not lead there is left alone.
func (k *keeper) hideIn(mnt int, src string) {
	for _, h := range k.hide {
		rel, ok := proto.Below(src, h.Path)
		if !ok {
			continue
		}
		var at int
		var err error
		if rel == "" {
			at, err = unix.Dup(mnt)
		} else {
			at, err = mountfd.Beneath(mnt, rel)
		}
		if err != nil {
			continue // not there, or not reachable without a symlink
		}
		var st unix.Stat_t
		if unix.Fstat(at, &st) == nil && st.Dev == h.Dev && st.Ino == h.Ino {
			if cover, err := mountfd.New("tmpfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC,
				"mode", "0755", "size", mountfd.SizeOpt(0)); err == nil {
				if err := mountfd.Attach(cover, at); err != nil {
					fmt.Fprintf(os.Stderr, "lx keeper: cover %s: %v\n", h.Path, err)
				}
				unix.Close(cover)
			}
		}
		unix.Close(at)
	}
}

// hideMore adds directories to hide and covers them in the instance root
// (the keeper's root, once init has pivoted) and in every binding.
func (k *keeper) hideMore(dirs []proto.Hidden) {
	k.hide = append(k.hide, dirs...)
	save := k.hide
	k.hide = dirs
	defer func() { k.hide = save }()
	if root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		k.hideIn(root, k.rootSrc)
		unix.Close(root)
	}
	for _, b := range k.bound {
		k.hideIn(b.fd, b.m.Host)
	}
}

// bind mounts host directory m.Host at m.Guest in the instance (the
// keeper's root is the instance root once init has pivoted): the tree the
// broker made of it, else a clone of it from the host tree, read-only if
// asked, never with devices or set-user-ID. A run's working directory
// (m.Cwd) is bound at its own path, read-write, unless it is the root or a
// kernel filesystem. A binding stays until the instance stops, unless the
// host directory it shows was replaced since (m.Dev, m.Ino name the
// directory the client opened).
func (k *keeper) bind(m proto.Mount, tree int) error {
	if tree >= 0 {
		defer unix.Close(tree)
	}
	guest := filepath.Clean(m.Guest)
	if !filepath.IsAbs(guest) || !filepath.IsAbs(m.Host) {
		return fmt.Errorf("mount %s:%s: both paths must be absolute", m.Host, m.Guest)
	}
	if proto.InstanceOwn(guest) {
		if m.Cwd {
			return nil
		}
		return fmt.Errorf("mount %s: %s belongs to the instance", m.Host, guest)
	}
	for d := guest; d != "/"; d = filepath.Dir(d) {
		b := k.bound[d]
		if b == nil || (!m.Cwd && d != guest) {
			continue
		}
		if b.reaches(strings.TrimPrefix(guest[len(d):], "/"), m) && (m.Cwd || b.m.Same(m)) {
			return nil
		}
		if err := b.detach(k.host); err != nil {
			return fmt.Errorf("replace the mount at %s: %w", d, err)
		}
		delete(k.bound, d)
	}
	sub := tree
	if sub < 0 {
		var err error
		sub, err = unix.OpenTree(k.host, strings.TrimPrefix(filepath.Clean(m.Host), "/"), unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("host directory %s: %w", m.Host, err)
		}
		defer unix.Close(sub)
		// The path was resolved here, after the client opened the
		// directory: it must still be the same one.
		var st unix.Stat_t
		if err := unix.Fstat(sub, &st); err != nil || st.Dev != m.Dev || st.Ino != m.Ino {
			return fmt.Errorf("host directory %s changed while it was being mounted", m.Host)
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
		if m.ReadOnly {
			attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
		}
		if err := unix.MountSetattr(sub, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("host directory %s: mount attributes: %w", m.Host, err)
		}
	}
	tfd, err := k.mountPointFor(guest, m)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := mountfd.Attach(sub, tfd); err != nil {
		return fmt.Errorf("mount %s at %s: %w", m.Host, guest, err)
	}
	k.hideIn(sub, m.Host)
	// sub now names the attached mount's root: kept, it lets the keeper
	// unmount exactly this mount later, whatever guests did to the path.
	fd, err := unix.FcntlInt(uintptr(sub), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	k.bound[guest] = &binding{m: m, fd: fd}
	return nil
}

// mountPointFor opens the directory guest of the instance to mount m on:
// an existing directory (lx makes none in a distro: a mount point it made
// would stay behind in the user's tree), or the working directory's. The guests own the tree it is in:
// it is resolved without following anything out of the instance root (or
// into /proc).
func (k *keeper) mountPointFor(guest string, m proto.Mount) (int, error) {
	if m.Cwd {
		// The host root's working directory, at its own path: missing
		// only where the instance has a tmpfs of its own (/tmp), which
		// goes with the instance.
		if err := os.MkdirAll(guest, 0o755); err != nil && !errors.Is(err, unix.EROFS) {
			return -1, fmt.Errorf("mount point %s: %w", guest, err)
		}
	}
	// Resolved in the keeper's root, the instance root: not in its working
	// directory, which is whatever the broker's was.
	rfd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rfd)
	tfd, err := unix.Openat2(rfd, guest, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, fmt.Errorf("--mount %s:%s: %s does not exist in the instance; make it first (lx run mkdir -p %s) or mount at a directory that exists", m.Host, m.Guest, m.Guest, m.Guest)
	case errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("--mount %s:%s: %s is not a directory in the instance", m.Host, m.Guest, m.Guest)
	case err != nil:
		return -1, fmt.Errorf("mount point %s: %w", m.Guest, err)
	}
	return tfd, nil
}

// binding is a host directory the keeper mounted in the instance.
type binding struct {
	m  proto.Mount
	fd int // the mount's root
}

// reaches reports whether the directory rel below the binding's root
// ("" the root itself) is the host directory that m names (the directory
// the client opened: m.Dev, m.Ino), not deleted: then a run there sees it
// through this binding, and the binding still shows what it showed.
func (b *binding) reaches(rel string, m proto.Mount) bool {
	fd := b.fd
	if rel != "" {
		var err error
		if fd, err = mountfd.Beneath(b.fd, rel); err != nil {
			return false
		}
		defer unix.Close(fd)
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return false
	}
	return st.Dev == m.Dev && st.Ino == m.Ino && st.Nlink > 0
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
