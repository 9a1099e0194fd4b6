// Package fssrv is the instance's file server: every syscall that names a
// path (DESIGN §4) is resolved here, inside the instance root, and either
// answered (stat, readlink, mkdir…), answered with a new fd installed into
// the guest (open), or validated and handed back to the kernel (chdir, and
// the names only the guest's own context can resolve; see servers.Fallback).
//
// Owns: nothing that must survive it. Every answer is computed from the
// instance root fd, the guest's /proc entries and its memory, so a restarted
// fssrv serves the next call as the old one would have.
// Waits on: nobody. Lock order: none; one loop goroutine.
//
// Permission checks are made with fssrv's credentials, which are those of
// guest root (the invoking host user); checks as the calling guest's own
// uid, gids and capabilities come with the fssrv issue.
package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// Table is fssrv's handler table. Its keys must be exactly the FS routes.
func Table() servers.Table {
	return servers.Table{
		unix.SYS_OPEN:              Open,
		unix.SYS_OPENAT:            Openat,
		unix.SYS_OPENAT2:           Openat2,
		unix.SYS_CREAT:             Creat,
		unix.SYS_STAT:              Stat,
		unix.SYS_LSTAT:             Lstat,
		unix.SYS_NEWFSTATAT:        Newfstatat,
		unix.SYS_STATX:             Statx,
		unix.SYS_STATFS:            Statfs,
		unix.SYS_ACCESS:            Access,
		unix.SYS_FACCESSAT:         Faccessat,
		unix.SYS_FACCESSAT2:        Faccessat2,
		unix.SYS_READLINK:          Readlink,
		unix.SYS_READLINKAT:        Readlinkat,
		unix.SYS_GETCWD:            Getcwd,
		unix.SYS_CHDIR:             Chdir,
		unix.SYS_CHROOT:            Chroot,
		unix.SYS_MKDIR:             Mkdir,
		unix.SYS_MKDIRAT:           Mkdirat,
		unix.SYS_MKNOD:             Mknod,
		unix.SYS_MKNODAT:           Mknodat,
		unix.SYS_UNLINK:            Unlink,
		unix.SYS_UNLINKAT:          Unlinkat,
		unix.SYS_RMDIR:             Rmdir,
		unix.SYS_RENAME:            Rename,
		unix.SYS_RENAMEAT:          Renameat,
		unix.SYS_RENAMEAT2:         Renameat2,
		unix.SYS_LINK:              Link,
		unix.SYS_LINKAT:            Linkat,
		unix.SYS_SYMLINK:           Symlink,
		unix.SYS_SYMLINKAT:         Symlinkat,
		unix.SYS_CHMOD:             Chmod,
		unix.SYS_FCHMODAT:          Fchmodat,
		unix.SYS_FCHMODAT2:         Fchmodat2,
		unix.SYS_CHOWN:             Chown,
		unix.SYS_LCHOWN:            Lchown,
		unix.SYS_FCHOWNAT:          Fchownat,
		unix.SYS_UTIME:             Utime,
		unix.SYS_UTIMES:            Utimes,
		unix.SYS_FUTIMESAT:         Futimesat,
		unix.SYS_UTIMENSAT:         Utimensat,
		unix.SYS_TRUNCATE:          Truncate,
		unix.SYS_SETXATTR:          Setxattr,
		unix.SYS_LSETXATTR:         Lsetxattr,
		unix.SYS_GETXATTR:          Getxattr,
		unix.SYS_LGETXATTR:         Lgetxattr,
		unix.SYS_LISTXATTR:         Listxattr,
		unix.SYS_LLISTXATTR:        Llistxattr,
		unix.SYS_REMOVEXATTR:       Removexattr,
		unix.SYS_LREMOVEXATTR:      Lremovexattr,
		unix.SYS_SETXATTRAT:        InKernel,
		unix.SYS_GETXATTRAT:        InKernel,
		unix.SYS_LISTXATTRAT:       InKernel,
		unix.SYS_REMOVEXATTRAT:     InKernel,
		unix.SYS_FILE_GETATTR:      InKernel,
		unix.SYS_FILE_SETATTR:      InKernel,
		unix.SYS_INOTIFY_ADD_WATCH: InKernel,
		unix.SYS_FANOTIFY_MARK:     InKernel,
		unix.SYS_NAME_TO_HANDLE_AT: InKernel,
		unix.SYS_MOUNT:             MountDenied,
		unix.SYS_UMOUNT2:           MountDenied,
		unix.SYS_PIVOT_ROOT:        MountDenied,
		unix.SYS_OPEN_TREE:         MountDenied,
		unix.SYS_OPEN_TREE_ATTR:    MountDenied,
		unix.SYS_MOVE_MOUNT:        MountDenied,
		unix.SYS_FSOPEN:            MountDenied,
		unix.SYS_FSCONFIG:          MountDenied,
		unix.SYS_FSMOUNT:           MountDenied,
		unix.SYS_FSPICK:            MountDenied,
		unix.SYS_MOUNT_SETATTR:     MountDenied,
		unix.SYS_QUOTACTL:          MountDenied,
	}
}

// at is Call.At for the calls without AT_EMPTY_PATH: an empty path is ENOENT.
func at(c *servers.Call, d, i int) (string, error) {
	abs, err := c.At(d, i)
	if err == nil && abs == "" {
		err = unix.ENOENT
	}
	return abs, err
}

// InKernel serves calls whose names the kernel resolves for the guest, in
// the instance's mount namespace: the path is checked for EFAULT and
// ENAMETOOLONG here, then the call continues. inotify_add_watch must watch
// the guest's own inotify fd; the *xattrat and file_*attr calls are newer
// than anything lx emulates for them.
func InKernel(c *servers.Call) (int64, error) {
	i := 1
	if c.Nr == unix.SYS_FANOTIFY_MARK {
		i = 4
	}
	if c.Pointer(i) != 0 {
		if _, err := c.Path(i); err != nil {
			return 0, err
		}
	}
	return 0, servers.ErrContinue
}

// MountDenied answers the mount family EPERM: the instance's mount table is
// made by its keeper, outside the guests' reach, and guest mounts come with
// the fssrv issue.
func MountDenied(c *servers.Call) (int64, error) {
	return 0, unix.EPERM
}
