package lxbroker

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

// stdioKind is what kind of stdio stream an fd is.
type stdioKind int

const (
	stdioPass stdioKind = iota // handed in as it is
	stdioNull                  // the host's /dev/null
	stdioTty                   // a terminal
)

// classifyStdio says how stdio stream fd (0, 1, 2) may reach a guest.
func classifyStdio(fd int) (stdioKind, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == unix.EBADF {
		return stdioNull, nil // closed: the guest reads nothing, writes nowhere
	} else if err != nil {
		return 0, fmt.Errorf("%s: %w", stdioName(fd), err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_PATH != 0 {
		return 0, fmt.Errorf("%s is an O_PATH descriptor; lx hands a guest only files, pipes, sockets and terminals", stdioName(fd))
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO:
		if fs := kernelFS(fd); fs != "" {
			return 0, fmt.Errorf("%s is a file of %s; lx hands a guest only files, pipes, sockets and terminals", stdioName(fd), fs)
		}
		return stdioPass, nil
	case unix.S_IFSOCK:
		if err := connectedSocket(fd); err != nil {
			return 0, fmt.Errorf("%s: %w", stdioName(fd), err)
		}
		return stdioPass, nil
	case unix.S_IFCHR:
		if st.Rdev == unix.Mkdev(1, 3) {
			return stdioNull, nil
		}
		if isTerminal(fd) {
			return stdioTty, nil
		}
		return 0, fmt.Errorf("%s is a device; lx hands a guest only files, pipes, sockets and terminals", stdioName(fd))
	case unix.S_IFDIR:
		return 0, fmt.Errorf("%s is a directory; lx hands a guest only files, pipes, sockets and terminals", stdioName(fd))
	}
	return 0, fmt.Errorf("%s is neither a file, a pipe, a socket nor a terminal; lx hands a guest only those", stdioName(fd))
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

func stdioName(fd int) string {
	return [...]string{"stdin", "stdout", "stderr"}[fd]
}

// stdioFor sets msg's Null and Tty bits for this process's stdio and
// returns the fds to hand in.
func stdioFor(msg *Msg) ([]int, error) {
	var fds []int
	for fd := 0; fd <= 2; fd++ {
		kind, err := classifyStdio(fd)
		if err != nil {
			return nil, err
		}
		switch kind {
		case stdioPass:
			fds = append(fds, fd)
		case stdioNull:
			msg.Null |= 1 << fd
		case stdioTty:
			msg.Null |= 1 << fd
			if msg.Tty == 0 {
				msg.Rows, msg.Cols = winsize(fd)
			}
			msg.Tty |= 1 << fd
		}
	}
	return fds, nil
}

// checkStdio is the broker's check of the stdio fds a client sent (a
// client is the user's, but an old or a broken one may send what no guest
// should get): the kinds stdioFor hands in, terminals excluded.
func checkStdio(fds []int) error {
	for _, fd := range fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG, unix.S_IFIFO:
			if fs := kernelFS(fd); fs != "" {
				return fmt.Errorf("a stdio stream on %s", fs)
			}
		case unix.S_IFSOCK:
			if err := connectedSocket(fd); err != nil {
				return err
			}
		default:
			return fmt.Errorf("a stdio stream of mode %#o; lx hands a guest only files, pipes and sockets (a pty of the instance stands for a terminal)", st.Mode&unix.S_IFMT)
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_PATH != 0 {
			return fmt.Errorf("an O_PATH stdio stream")
		}
	}
	return nil
}
