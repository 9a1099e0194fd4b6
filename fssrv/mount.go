package fssrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
)

// The mount family runs in the kernel, in the guest's context: mount(2),
// umount2(2), pivot_root(2), open_tree(2), move_mount(2), fsopen(2),
// fsconfig(2), fsmount(2), fspick(2), mount_setattr(2).
//
// The kernel is the wall. Guests live in a user namespace nested in the
// instance's and in a mount namespace copied from the keeper's
// (lxbroker/runtime/pid1/enter.go). Linux locks every mount of such a copy
// (mount_namespaces(7), user_namespaces(7)): guest root may mount tmpfs,
// devpts and bind mounts of what it can see, and unmount what it mounted,
// but umount of a keeper's mount fails (EINVAL), its read-only, nodev,
// nosuid and noexec flags cannot be cleared (EPERM), a bind of a subtree
// that holds locked mounts must take them along (MS_REC, else EINVAL),
// pivot_root into a locked mount fails, mounts of other namespaces
// (/proc/1/root) are not bind sources (EINVAL), and proc, sysfs and
// mqueue need privilege over namespaces the guests do not own (EPERM).
// A tmpfs made in a user namespace never honours device nodes. The
// guests' mounts stay in their namespace: the keeper's are shared with
// it as a master, never as a peer.
//
// So /proc/self/mounts and mountinfo are the kernel's own and agree with
// the table. fssrv reads the names only for a tracer's line.
var (
	Mount        = inKernel(0, 1)
	Umount2      = inKernel(0)
	PivotRoot    = inKernel(0, 1)
	OpenTree     = inKernel(1)
	OpenTreeAttr = inKernel(1)
	MoveMount    = inKernel(1, 3)
	Fsopen       = inKernel()
	Fsconfig     = inKernel()
	Fsmount      = inKernel()
	Fspick       = inKernel(1)
	MountSetattr = inKernel(1)
)

// Quotactl implements Linux syscall quotactl(2): refused, as Linux refuses
// it to a process without CAP_SYS_ADMIN over the host (quotas are the
// host's).
func Quotactl(c *servers.Call) (int64, error) {
	tracePaths(c, 1)
	return 0, unix.EPERM
}
