package servers

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/abi"
	"lx/shared/idmap"
	"lx/shared/procfs"
	"lx/shared/wire"
)

// ErrContinue answers a call with SECCOMP_USER_NOTIF_FLAG_CONTINUE: the
// kernel runs it itself, in the guest's context, inside the instance's
// namespaces. Handlers return it after they validated the call.
var ErrContinue = errors.New("continue in the kernel")

// Handler serves one syscall. It returns the call's result, or an error
// wrapping a unix.Errno (the guest gets -errno), or ErrContinue. Any other
// error answers EIO and is logged.
type Handler func(c *Call) (int64, error)

// Table maps syscall numbers to handlers: the whole of a server.
type Table map[int]Handler

// Call is one trapped syscall being served.
type Call struct {
	wire.Call
	s       *Server
	decoded [6]string
	nargs   int // arguments the trace line shows (decls); -1: the raw ones
}

// Tid is the host thread id of the caller.
func (c *Call) Tid() int { return int(c.Call.Tid) }

// Typed argument accessors, named after the C types of the man pages.

func (c *Call) Int(i int) int32      { return int32(c.Args[i]) }
func (c *Call) Uint(i int) uint32    { return uint32(c.Args[i]) }
func (c *Call) Long(i int) int64     { return int64(c.Args[i]) }
func (c *Call) Pointer(i int) uint64 { return c.Args[i] }
func (c *Call) ModeT(i int) uint32   { return uint32(c.Args[i]) }
func (c *Call) Fd(i int) int32       { return int32(c.Args[i]) }

// Note records a decoded form of argument i for the trace line; it wins
// over the decoder's (decode.go).
func (c *Call) Note(i int, s string) { c.decoded[i] = s }

// Root is the O_PATH fd of the instance's root directory.
func (c *Call) Root() int { return c.s.cfg.Root }

// Proc is the fd of the instance's /proc (its proc mount's root): a guest's
// pid in the instance names a directory below it.
func (c *Call) Proc() int { return c.s.cfg.Proc }

// InitPid is the host pid of the instance's init.
func (c *Call) InitPid() int { return c.s.cfg.InitPid }

// GuestRoot is the O_PATH fd of the root of the guests' mount namespace:
// the instance root as the guests see it, with the mounts they made
// (lxbroker/runtime/pid1/enter.go). It is the holder's root, reached
// through the instance's /proc (Proc), and Root itself until the holder
// runs.
func (c *Call) GuestRoot() int {
	if c.s.guestRoot > 0 {
		return c.s.guestRoot
	}
	pid := c.HolderPid()
	if pid <= 0 {
		return c.Root()
	}
	fd, err := unix.Openat(c.Proc(), strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return c.Root()
	}
	c.s.guestRoot = fd
	return fd
}

// HolderPid is the pid in the instance of the process that holds the
// guests' namespaces (lxbroker/runtime/pid1/enter.go), as init told the
// broker, which writes it into the server's control page; 0 while it is
// not known.
func (c *Call) HolderPid() int { return c.s.cfg.Control.Holder() }

// IDs is the instance's user and group id mapping.
func (c *Call) IDs() *idmap.Maps { return &c.s.cfg.IDs }

// Recorded reports whether files may carry owners and devices recorded in
// xattrs by an unprivileged lx import.
func (c *Call) Recorded() bool { return c.s.cfg.Profile.Recorded }

// Log is the server's logger.
func (c *Call) Log() *zap.Logger { return c.s.cfg.Log }

// Valid checks that the call is still pending, so that what was read from
// guest memory was read from the caller (its pid was not reused) and a side
// effect will not happen on behalf of a task that is gone.
func (c *Call) Valid() error { return c.s.kern.Valid(c.ID) }

// Read fills buf from guest address addr, or fails with EFAULT.
func (c *Call) Read(addr uint64, buf []byte) error {
	scratch := c.s.scratch(len(buf))
	n, err := c.s.kern.ReadMem(c.Tid(), addr, scratch)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	copy(buf, scratch)
	return nil
}

// Write copies b to guest address addr, or fails with EFAULT.
func (c *Call) Write(addr uint64, b []byte) error {
	scratch := c.s.scratch(len(b))
	copy(scratch, b)
	return c.s.kern.WriteMem(c.Tid(), addr, scratch)
}

// WriteStruct copies a plain struct to the guest.
func WriteStruct[T any](c *Call, addr uint64, v *T) error { return c.Write(addr, bytesOf(v)) }

// ReadStruct fills a plain struct from the guest.
func ReadStruct[T any](c *Call, addr uint64, v *T) error { return c.Read(addr, bytesOf(v)) }

// String reads the NUL-terminated string at argument i, at most max bytes
// including the NUL: EFAULT for an unmapped byte before the NUL, tooLong
// when there is no NUL within max.
func (c *Call) String(i, max int, tooLong unix.Errno) (string, error) {
	addr := c.Pointer(i)
	var out []byte
	buf := c.s.scratch(pageSize)
	for len(out) < max {
		n := pageSize - int(addr%pageSize)
		if n > max-len(out) {
			n = max - len(out)
		}
		got, err := c.s.kern.ReadMem(c.Tid(), addr, buf[:n])
		if err != nil {
			return "", err
		}
		if j := bytes.IndexByte(buf[:got], 0); j >= 0 {
			out = append(out, buf[:j]...)
			s := string(out)
			if c.Tracing() {
				if len(s) > MaxTraceString {
					c.decoded[i] = Quote(s[:MaxTraceString]) + "..."
				} else {
					c.decoded[i] = Quote(s)
				}
			}
			return s, nil
		}
		if got < n {
			return "", unix.EFAULT
		}
		out = append(out, buf[:got]...)
		addr += uint64(got)
	}
	return "", tooLong
}

// Path reads the path at argument i (PATH_MAX, ENAMETOOLONG beyond).
func (c *Call) Path(i int) (string, error) { return c.String(i, unix.PathMax, unix.ENAMETOOLONG) }

// Effect tells the server that this call's handler is about to change
// something a second run would find changed (an fd installed, a socket
// bound, a file made). If the server dies before it answers, the next
// incarnation answers EIO instead of running the handler again.
func (c *Call) Effect() { c.s.cfg.Control.Effect(c.s.cfg.Ring.Tail(), 0, 0) }

// Done records, once a call's side effects are complete, the value the
// handler will return: a server that dies before it answers leaves the
// answer for the next incarnation to send.
func (c *Call) Done(val int64) { c.s.cfg.Control.Answer(c.s.cfg.Ring.Tail(), val) }

// InstallFD installs the server's fd into the caller with ADDFD and closes
// the server's copy. It returns the guest's fd number, which must be the
// call's result. A server killed before it answers leaves the next
// incarnation what it needs: the answer (Done), or the file's identity, by
// which it finds the fd in the guest if the install happened, and else
// runs the call again. (ADDFD with SECCOMP_ADDFD_FLAG_SEND would make the
// install and the answer one step, but on this kernel the guest then
// sometimes gets 0 instead of its fd: measured with curl in a loop, 3
// socket() calls in 400.)
func (c *Call) InstallFD(fd int, cloexec bool) (int64, error) {
	defer unix.Close(fd)
	a := abi.SeccompNotifAddfd{ID: c.ID, Srcfd: uint32(fd)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("addfd: %w", err)
	}
	c.s.cfg.Control.Effect(c.s.cfg.Ring.Tail(), st.Dev, st.Ino)
	n, err := c.s.kern.AddFD(a)
	if err != nil {
		if err == unix.ENOENT {
			return 0, fmt.Errorf("addfd: caller gone: %w", unix.EINTR)
		}
		return 0, fmt.Errorf("addfd: %w", err)
	}
	c.Done(int64(n))
	return int64(n), nil
}

// installed finds, among the fds of the calling task, the one open on the
// file dev/ino: the fd an interrupted InstallFD gave it.
func (c *Call) installed(dev, ino uint64) (int, bool) {
	dir := c.procPath("fd")
	d, err := os.Open(dir)
	if err != nil {
		return 0, false
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		var st unix.Stat_t
		if unix.Stat(dir+"/"+name, &st) == nil && st.Dev == dev && st.Ino == ino {
			n, err := strconv.Atoi(name)
			return n, err == nil
		}
	}
	return 0, false
}

// procPath is the name of the caller's entry sub in the host's /proc
// (Kernel.Proc): /proc/TID/sub.
func (c *Call) procPath(sub string) string { return c.s.taskPath(c.Tid(), sub) }

// taskPath is the path of entry sub of task tid in the host's /proc.
func (s *Server) taskPath(tid int, sub string) string {
	return s.proc + "/" + strconv.Itoa(tid) + "/" + sub
}

// Status reads the caller's /proc/TID/status (bounded: ids, groups,
// umask, capabilities).
func (c *Call) Status() (procfs.Status, error) {
	return procfs.ReadStatus(unix.AT_FDCWD, c.procPath("status"))
}

// HasCap reports whether the caller has capability cap in its effective
// set, in the instance's user namespace; false when its status cannot be
// read.
func (c *Call) HasCap(cap int) bool {
	st, err := c.Status()
	return err == nil && st.Has(cap)
}

// FromInit reports whether the caller is a thread of the instance's init.
func (c *Call) FromInit() bool {
	if c.InitPid() <= 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Stat(c.s.taskPath(c.InitPid(), "task/"+strconv.Itoa(c.Tid())), &st) == nil
}

// InInitNS reports whether the task of host id tid is in init's namespace
// of kind ns (a name under /proc/PID/ns).
func (c *Call) InInitNS(tid int, ns string) bool {
	var mine, inits unix.Stat_t
	return c.InitPid() > 0 &&
		unix.Stat(c.s.taskPath(tid, "ns/"+ns), &mine) == nil &&
		unix.Stat(c.s.taskPath(c.InitPid(), "ns/"+ns), &inits) == nil &&
		mine.Dev == inits.Dev && mine.Ino == inits.Ino
}

// GuestFd duplicates the caller's fd at argument i into the server (the
// same open file: what the server does to it is done to the guest's file).
// The caller closes it. EBADF for a negative or closed fd; EINTR when the
// call is no longer pending.
func (c *Call) GuestFd(i int) (int, error) {
	if c.Fd(i) < 0 {
		return -1, unix.EBADF
	}
	fd, err := c.s.kern.GuestFd(c.Tid(), c.ID, int(c.Fd(i)))
	if err != nil && err != unix.EBADF {
		return -1, fmt.Errorf("fd %d of %d: %w", c.Fd(i), c.Tid(), err)
	}
	return fd, err
}

// text renders the call strace-style for a trace line: the arguments its
// decl names, decoded (decodeArgs), else the six raw ones.
func (c *Call) text() string {
	var b bytes.Buffer
	b.WriteString(abi.SyscallName(int(c.Nr)))
	b.WriteByte('(')
	last := c.nargs - 1
	if c.nargs < 0 {
		for i := range c.Args {
			if c.Args[i] != 0 || c.decoded[i] != "" {
				last = i
			}
		}
	}
	for last >= 0 && c.decoded[last] == omit {
		last--
	}
	for i := 0; i <= last; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		switch v := int64(c.Args[i]); {
		case c.decoded[i] != "":
			b.WriteString(c.decoded[i])
		case int32(v) == unix.AT_FDCWD && (v>>32 == 0 || v>>32 == -1) && c.Nr != unix.SYS_GETCWD:
			b.WriteString("AT_FDCWD")
		case v >= -4096 && v < 1<<16:
			b.WriteString(strconv.FormatInt(v, 10))
		default:
			fmt.Fprintf(&b, "%#x", uint64(v))
		}
	}
	b.WriteByte(')')
	return b.String()
}

// Tracing reports whether a tracer wants this server's calls (one atomic
// load): handlers that only decode arguments for the trace line skip it.
func (c *Call) Tracing() bool { return c.s.cfg.Trace != nil && c.s.cfg.Control.Tracing() }
