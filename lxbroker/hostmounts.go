package lxbroker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
)

// What of the host an instance is given, checked and built on the broker's
// side: the distro's root, each run's working directory and --mount
// directories, and never lx's own directories.
//
// Host root's instances run as ids no host user has (shared/idmap/subids.go), so the
// keeper, which runs as the instance's root, may open none of root's
// directories. The broker, which runs as root, makes those trees itself
// from what the client opened (open_tree of the client's fd: the directory
// the client could open, not whatever the path names a moment later) and
// hands them to the keeper over its socket:
//
//   - an imported distro's root, id-mapped (MOUNT_ATTR_IDMAP with the
//     instance's user namespace): its files keep their owners on disk, and
//     guest uid k acts on a file of uid k;
//   - a bound host directory, plainly: on it guests are the instance's host
//     ids, so guest root may do there what that unprivileged id may (files
//     it makes belong to it), never what root may.
//
// An unprivileged user's keeper opens them itself: its ids are the user's.

// hideMore covers, in the instance, lx directories of a client that it
// does not cover yet: paths the client sent, identified here.
func (in *Instance) hideMore(paths []proto.Hidden) error {
	in.hideMu.Lock()
	defer in.hideMu.Unlock()
	var dirs []string
	for _, p := range paths {
		dirs = append(dirs, p.Path)
	}
	// Directories removed since are forgotten (their covers stay: they
	// cover nothing the host still has there).
	kept := in.hide[:0]
	for _, k := range in.hide {
		if k.Current() {
			kept = append(kept, k)
		}
	}
	in.hide = kept
	var fresh []proto.Hidden
	for _, h := range proto.Identify(dirs) {
		known := false
		for _, k := range in.hide {
			known = known || (k.Dev == h.Dev && k.Ino == h.Ino)
		}
		if !known {
			fresh = append(fresh, h)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	in.hide = append(in.hide, fresh...)
	return in.order(&proto.ToKeeper{Op: proto.OpHide, Hide: fresh})
}

// hidden returns a copy of the directories the instance covers.
func (in *Instance) hidden() []proto.Hidden {
	in.hideMu.Lock()
	defer in.hideMu.Unlock()
	return append([]proto.Hidden(nil), in.hide...)
}

// checkBind refuses a bind that would give a guest one of lx's own
// directories, or a host daemon's sockets through the run's working
// directory. dir is the client's O_PATH fd of the host directory.
//
// The instance's /tmp and /run are its own, so that the host's sockets
// there (the terminal multiplexer's, the X server's, ssh-agent's, the
// journal's, every daemon's) are not the guests'. A working directory
// would bring them back: /tmp itself, or /run or below, is refused. A
// directory under /tmp is the user's (mktemp -d) and is bound, only it;
// so is a --mount, the user's explicit choice.
func checkBind(dir int, m proto.Mount, lx []proto.Hidden) error {
	if m.Cwd {
		switch {
		case m.Host == "/run" || strings.HasPrefix(m.Host, "/run/"):
			return fmt.Errorf("the working directory %s is under /run, where the host keeps its daemons' sockets; the instance has a /run of its own: run from another directory, or hand this one in with --mount %s:DIR", m.Host, m.Host)
		case m.Host == "/tmp":
			return fmt.Errorf("the working directory is /tmp, where the host keeps sockets (tmux's, X's, ssh-agent's); the instance has a /tmp of its own: run from a directory of yours (mktemp -d), or hand /tmp in with --mount /tmp:DIR")
		}
	}
	// Walk up from the directory itself by "..", comparing identities:
	// no path is involved that could name something else.
	cur, err := unix.Openat(dir, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	for depth := 0; depth < 4096; depth++ {
		var st unix.Stat_t
		if err := unix.Fstat(cur, &st); err != nil {
			unix.Close(cur)
			return err
		}
		for _, h := range lx {
			if st.Dev == h.Dev && st.Ino == h.Ino && h.Current() {
				unix.Close(cur)
				return fmt.Errorf("%s is inside lx's own directory %s, which no instance is shown", m.Host, h.Path)
			}
		}
		up, err := unix.Openat(cur, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			return nil // above it nothing the caller may see
		}
		var ust unix.Stat_t
		if unix.Fstat(up, &ust) == nil && ust.Dev == st.Dev && ust.Ino == st.Ino {
			unix.Close(up)
			return nil // the root
		}
		cur = up
	}
	unix.Close(cur)
	return nil
}

// dirIdentity is the device and inode of the client's directory fd, and
// its host path as the kernel names it.
func dirIdentity(fd int) (dev, ino uint64, path string, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, 0, "", unix.ENOTDIR
	}
	path, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return st.Dev, st.Ino, path, err
}

// bindTree makes the detached tree the keeper attaches for bind m from
// the client's fd dir: a recursive clone, without devices or set-user-ID,
// read-only if asked. Only host root's broker makes them (see above).
func bindTree(dir int, m proto.Mount) (int, error) {
	tree, err := unix.OpenTree(dir, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return -1, fmt.Errorf("host directory %s: %w", m.Host, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	if m.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("host directory %s: mount attributes: %w", m.Host, err)
	}
	return tree, nil
}

// distroTree makes the root tree of host root's instance of an imported
// distro: a recursive clone of root, id-mapped with the instance's user
// namespace (userns, an nsfs fd), without devices. Set-user-ID stays: it is
// the distro's own (sudo, su), and its files are root's only (closedAbove).
func distroTree(root string, userns int) (int, error) {
	if err := closedAbove(root); err != nil {
		return -1, err
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, root, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("distro root %s: %w", root, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(tree)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
			return -1, fmt.Errorf("distro root %s: its filesystem cannot be id-mapped (%v), which root's instances need: import the distro onto a local filesystem (ext4, xfs, btrfs, tmpfs)", root, err)
		}
		return -1, fmt.Errorf("distro root %s: id-map: %w", root, err)
	}
	return tree, nil
}

// closedAbove checks that some directory above root is closed to other
// users (no search permission for others): guest root of root's instance
// makes files there that are root's on disk, set-user-ID ones included,
// so no other host user may reach them. An imported distro lives in the
// data directory, which is 0700; an in-place one is where its owner put it.
func closedAbove(root string) error {
	for d := filepath.Dir(filepath.Clean(root)); ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("distro root %s: %w", root, err)
		}
		if st.Mode&0o001 == 0 {
			return nil
		}
		if d == "/" {
			return fmt.Errorf("distro root %s can be reached by every user of this host, and root's guests make files there as root (set-user-ID ones included): close a directory above it to others (chmod o-x %s)", root, filepath.Dir(filepath.Clean(root)))
		}
	}
}
