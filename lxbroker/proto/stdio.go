package proto

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// A run's stdin, stdout and stderr are channels from the host into the
// instance, and only these kinds reach a guest:
//
//   - regular files, pipes and FIFOs, and connected sockets, handed in as
//     they are (the fd is the host's open file: what the guest may do with
//     it is what its open mode allows);
//   - the host's /dev/null: the instance's own stands for it (through the
//     host's node a guest could change the node);
//   - a terminal: a new pty of the instance stands for it, and the client
//     copies between the two (terminal.go). Given the host terminal itself,
//     a guest could read the user's keystrokes after lx run ends, print a
//     prompt into the user's shell, change the line discipline or take the
//     terminal exclusively (TIOCEXCL), so that sudo or ssh can no longer
//     open it.
//
// Anything else (a directory, from which fchdir climbs to the host's /; a
// device; an O_PATH or anonymous fd) is refused with a one-line error, and
// so is a "regular file" of a kernel filesystem: /proc's (a /proc/PID/mem
// of the lx client, which host root runs, is its memory), a pidfd, a
// namespace fd, a cgroup's or sysfs's file.

// StdioKind is what kind of stdio stream an fd is.
type StdioKind int

const (
	StdioPass StdioKind = iota // handed in as it is
	StdioNull                  // the host's /dev/null, or closed
	StdioTty                   // a terminal
)

// ClassifyStdio says how stdio stream fd, called name in errors, may reach
// a guest. The client classifies its own fds 0, 1 and 2 with it; the
// broker checks with it what a client sent (an old or broken client may
// send what no guest should get), where only StdioPass may arrive.
func ClassifyStdio(fd int, name string) (StdioKind, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == unix.EBADF {
		return StdioNull, nil // closed: the guest reads nothing, writes nowhere
	} else if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_PATH != 0 {
		return 0, fmt.Errorf("%s is an O_PATH descriptor; lx hands a guest only files, pipes, sockets and terminals", name)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO:
		if fs := kernelFS(fd); fs != "" {
			return 0, fmt.Errorf("%s is a file of %s; lx hands a guest only files, pipes, sockets and terminals", name, fs)
		}
		return StdioPass, nil
	case unix.S_IFSOCK:
		if err := connectedSocket(fd); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return StdioPass, nil
	case unix.S_IFCHR:
		if st.Rdev == unix.Mkdev(1, 3) {
			return StdioNull, nil
		}
		if IsTerminal(fd) {
			return StdioTty, nil
		}
		return 0, fmt.Errorf("%s is a device; lx hands a guest only files, pipes, sockets and terminals", name)
	case unix.S_IFDIR:
		return 0, fmt.Errorf("%s is a directory; lx hands a guest only files, pipes, sockets and terminals", name)
	}
	return 0, fmt.Errorf("%s is neither a file, a pipe, a socket nor a terminal; lx hands a guest only those", name)
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// connectedSocket refuses a socket that is listening, not connected, or a
// datagram socket (which connects again to any address): a guest given
// one could accept the host's connections, or reach what the instance's
// network mode keeps it from, from the host's network namespace.
func connectedSocket(fd int) error {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || (typ != unix.SOCK_STREAM && typ != unix.SOCK_SEQPACKET) {
		return fmt.Errorf("a datagram socket; lx hands a guest only connected stream sockets")
	}
	if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && acc != 0 {
		return fmt.Errorf("a listening socket; lx hands a guest only connected ones")
	}
	if _, err := unix.Getpeername(fd); err != nil {
		return fmt.Errorf("an unconnected socket; lx hands a guest only connected ones")
	}
	return nil
}

// kernelFSes are the filesystems whose files are kernel objects, not data.
var kernelFSes = map[int64]string{
	unix.PROC_SUPER_MAGIC: "/proc", unix.SYSFS_MAGIC: "sysfs", unix.PID_FS_MAGIC: "pidfs (a pidfd)",
	unix.NSFS_MAGIC: "nsfs (a namespace)", unix.ANON_INODE_FS_MAGIC: "anon_inodefs", unix.CGROUP_SUPER_MAGIC: "cgroupfs",
	unix.CGROUP2_SUPER_MAGIC: "cgroup2", unix.DEBUGFS_MAGIC: "debugfs", unix.TRACEFS_MAGIC: "tracefs",
	unix.SECURITYFS_MAGIC: "securityfs", unix.BPF_FS_MAGIC: "bpffs", unix.EFIVARFS_MAGIC: "efivarfs",
	unix.PSTOREFS_MAGIC: "pstore", unix.SELINUX_MAGIC: "selinuxfs", unix.BINFMTFS_MAGIC: "binfmt_misc",
	0x65735543: "fusectl", 0x62656570: "configfs", 0x19800202: "mqueue",
}

// kernelFS names the kernel filesystem fd's file is on, or "".
func kernelFS(fd int) string {
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) != nil {
		return "an unknown filesystem"
	}
	return kernelFSes[int64(fs.Type)]
}
