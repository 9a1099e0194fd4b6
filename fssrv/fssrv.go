// Package fssrv is the instance's file server: the syscalls that name a
// path (DESIGN §4).
//
// Most never reach it: the kernel resolves the name in the guest's own
// context, in the guests' mount namespace and with the guest's ids and
// capabilities, and the instance's filter lets those calls run natively
// (routes.Profile). In a --trap-paths instance they come here and are
// answered CONTINUE (the router answers them itself while fssrv is not
// traced). So errnos, flags, umask, ACLs and every permission check are
// Linux's own, and no name resolves outside the instance root.
//
// fssrv serves what the kernel cannot: in an unprivileged user's distro,
// owners the user cannot give and device nodes, recorded in xattrs (format:
// package fssrv/recorded), shown by stat and set by chown and mknod (own.go,
// stat.go). Guests' mounts are continued too (mount.go): the kernel, which
// locks the keeper's mounts in the guests' copy, is the wall.
//
// Runs in: the fssrv process of each instance. Owns: nothing that must
// survive it: every answer is computed from the guests' root, their /proc
// entries and memory and the xattrs on disk, so a restarted fssrv answers
// as the old one would. Waits on: nobody.
package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/launch"
)

// kernelPaths are the calls the kernel resolves for the guest
// (continueInKernel), with the indexes of their path arguments: the route
// table's PassAlways calls (TestKernelPathsArePasses).
var kernelPaths = map[int][]int{
	unix.SYS_OPEN:              {0},
	unix.SYS_OPENAT:            {1},
	unix.SYS_OPENAT2:           {1},
	unix.SYS_CREAT:             {0},
	unix.SYS_STATFS:            {0},
	unix.SYS_ACCESS:            {0},
	unix.SYS_FACCESSAT:         {1},
	unix.SYS_FACCESSAT2:        {1},
	unix.SYS_READLINK:          {0},
	unix.SYS_READLINKAT:        {1},
	unix.SYS_GETCWD:            {},
	unix.SYS_CHDIR:             {0},
	unix.SYS_CHROOT:            {0},
	unix.SYS_MKDIR:             {0},
	unix.SYS_MKDIRAT:           {1},
	unix.SYS_UNLINK:            {0},
	unix.SYS_UNLINKAT:          {1},
	unix.SYS_RMDIR:             {0},
	unix.SYS_RENAME:            {0, 1},
	unix.SYS_RENAMEAT:          {1, 3},
	unix.SYS_RENAMEAT2:         {1, 3},
	unix.SYS_LINK:              {0, 1},
	unix.SYS_LINKAT:            {1, 3},
	unix.SYS_SYMLINK:           {0, 1},
	unix.SYS_SYMLINKAT:         {0, 2},
	unix.SYS_CHMOD:             {0},
	unix.SYS_FCHMODAT:          {1},
	unix.SYS_FCHMODAT2:         {1},
	unix.SYS_UTIME:             {0},
	unix.SYS_UTIMES:            {0},
	unix.SYS_FUTIMESAT:         {1},
	unix.SYS_UTIMENSAT:         {1},
	unix.SYS_TRUNCATE:          {0},
	unix.SYS_SETXATTR:          {0},
	unix.SYS_LSETXATTR:         {0},
	unix.SYS_GETXATTR:          {0},
	unix.SYS_LGETXATTR:         {0},
	unix.SYS_LISTXATTR:         {0},
	unix.SYS_LLISTXATTR:        {0},
	unix.SYS_REMOVEXATTR:       {0},
	unix.SYS_LREMOVEXATTR:      {0},
	unix.SYS_SETXATTRAT:        {1},
	unix.SYS_GETXATTRAT:        {1},
	unix.SYS_LISTXATTRAT:       {1},
	unix.SYS_REMOVEXATTRAT:     {1},
	unix.SYS_FILE_GETATTR:      {1},
	unix.SYS_FILE_SETATTR:      {1},
	unix.SYS_INOTIFY_ADD_WATCH: {1},
	unix.SYS_FANOTIFY_MARK:     {4},
	unix.SYS_NAME_TO_HANDLE_AT: {1},
}

// Table is fssrv's handler table. Its keys must be exactly the FS routes.
func Table(*launch.Config) servers.Table {
	t := servers.Table{
		unix.SYS_STAT:           Stat,
		unix.SYS_LSTAT:          Lstat,
		unix.SYS_NEWFSTATAT:     Newfstatat,
		unix.SYS_STATX:          Statx,
		unix.SYS_MKNOD:          Mknod,
		unix.SYS_MKNODAT:        Mknodat,
		unix.SYS_CHOWN:          Chown,
		unix.SYS_LCHOWN:         Lchown,
		unix.SYS_FCHOWNAT:       Fchownat,
		unix.SYS_MOUNT:          Mount,
		unix.SYS_UMOUNT2:        Umount2,
		unix.SYS_PIVOT_ROOT:     PivotRoot,
		unix.SYS_OPEN_TREE:      OpenTree,
		unix.SYS_OPEN_TREE_ATTR: OpenTreeAttr,
		unix.SYS_MOVE_MOUNT:     MoveMount,
		unix.SYS_FSOPEN:         Fsopen,
		unix.SYS_FSCONFIG:       Fsconfig,
		unix.SYS_FSMOUNT:        Fsmount,
		unix.SYS_FSPICK:         Fspick,
		unix.SYS_MOUNT_SETATTR:  MountSetattr,
		unix.SYS_QUOTACTL:       Quotactl,
	}
	for nr, paths := range kernelPaths {
		t[nr] = inKernel(paths...)
	}
	return t
}

// inKernel is the handler of a call the kernel resolves for the guest (see
// continueInKernel), with its path arguments at paths.
func inKernel(paths ...int) servers.Handler {
	return func(c *servers.Call) (int64, error) { return continueInKernel(c, paths...) }
}

// continueInKernel answers CONTINUE: the kernel resolves the names in the
// guest's namespaces and with its credentials (see the package doc). The
// names at the path arguments are read only for a tracer's line; a name
// that cannot be read is the kernel's to answer (EFAULT, ENAMETOOLONG), as
// on Linux.
func continueInKernel(c *servers.Call, paths ...int) (int64, error) {
	tracePaths(c, paths...)
	return 0, servers.ErrContinue
}

// tracePaths reads the names at arguments paths for the trace line, when a
// tracer is on.
func tracePaths(c *servers.Call, paths ...int) {
	if !c.Tracing() {
		return
	}
	for _, i := range paths {
		if c.Pointer(i) != 0 {
			c.Path(i)
		}
	}
}
