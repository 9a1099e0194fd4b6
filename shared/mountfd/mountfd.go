// Package mountfd makes mounts through file descriptors (the new mount
// API). The trees lx mounts on belong to guests (an imported distro's root,
// a bound host directory), so no mount point is named by a path the kernel
// would resolve by itself: each is opened below a directory fd with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), which refuses a symlink
// anywhere on the way, and the mount is attached to that fd.
//
// Runs in: the keeper and init. Owns: nothing. Waits on: nobody.
package mountfd

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Beneath resolves name below dir without following any symlink or
// leaving dir: the O_PATH fd of a directory to mount on.
func Beneath(dir int, name string) (int, error) {
	return unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// MountPoint opens the directory name below root to mount on, making it
// first if it is missing and mkdir is set. A symlink or a file there is an
// error: mounting through it would mount where its target points.
func MountPoint(root int, name string, mkdir bool) (int, error) {
	fd, err := Beneath(root, name)
	if errors.Is(err, unix.ENOENT) && mkdir {
		if err := unix.Mkdirat(root, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("/%s: %w", name, err)
		}
		fd, err = Beneath(root, name)
	}
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("/%s is not a directory (a symlink or a file): lx mounts the instance's own there", name)
	case err != nil:
		return -1, fmt.Errorf("/%s: %w", name, err)
	}
	return fd, nil
}

// New makes a new detached mount of a filesystem of type fstype with
// the options opts (key, value pairs; a "" value sets a flag) and the
// mount attributes attrs (unix.MOUNT_ATTR_*).
func New(fstype string, attrs int, opts ...string) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fs)
	for i := 0; i+1 < len(opts); i += 2 {
		if opts[i+1] == "" {
			err = unix.FsconfigSetFlag(fs, opts[i])
		} else {
			err = unix.FsconfigSetString(fs, opts[i], opts[i+1])
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %s=%s: %w", fstype, opts[i], opts[i+1], err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("create %s: %w", fstype, err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mnt, nil
}

// Attach mounts the detached mount mnt on the directory fd at.
func Attach(mnt, at int) error {
	return unix.MoveMount(mnt, "", at, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
}

// MountOn makes a new fstype mount and attaches it on directory name below
// root (made if missing and mkdir is set). It returns the mount's fd,
// which names its root from then on.
func MountOn(root int, name string, mkdir bool, fstype string, attrs int, opts ...string) (int, error) {
	at, err := MountPoint(root, name, mkdir)
	if err != nil {
		return -1, err
	}
	defer unix.Close(at)
	mnt, err := New(fstype, attrs, opts...)
	if err != nil {
		return -1, fmt.Errorf("/%s: %w", name, err)
	}
	if err := Attach(mnt, at); err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("/%s: Attach %s: %w", name, fstype, err)
	}
	return mnt, nil
}

// Mount attributes of the read-only binds BindOver makes: of device nodes
// (/dev, the /dev/null over masked files), which must open as devices, and
// of everything else.
const (
	RODevice = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC
	ROFile   = RODevice | unix.MOUNT_ATTR_NODEV
)

// BindOver binds the host file or directory src (an fd) over the entry
// name of directory dir with the mount attributes attrs (RODevice,
// ROFile), resolved as MountPoint does but for any file type (a /dev
// node, an /etc file).
func BindOver(src, dir int, name string, attrs uint64) error {
	tree, err := unix.OpenTree(src, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("clone %s: %w", name, err)
	}
	defer unix.Close(tree)
	ro := unix.MountAttr{Attr_set: attrs}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &ro); err != nil {
		return fmt.Errorf("%s read-only: %w", name, err)
	}
	at, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer unix.Close(at)
	if err := Attach(tree, at); err != nil {
		return fmt.Errorf("bind %s: %w", name, err)
	}
	return nil
}

// SizeOpt is a tmpfs size option in bytes, at least 64 KiB.
func SizeOpt(bytes int64) string {
	return strconv.FormatInt(max(bytes, 64<<10), 10)
}
