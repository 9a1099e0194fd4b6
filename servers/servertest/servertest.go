// Package servertest runs a server's handlers in a unit test, without a
// trapped guest: a fake servers.Kernel gives the handler a guest's memory
// (Mem), a /proc the test writes (Env.Proc, which is both the host's view
// of the caller and the instance's /proc), an instance root (Env.Root) and
// the caller's fds, and records what the server answered (Reply): the
// value, the errno, CONTINUE, the side effects it marked (Call.Effect,
// Call.Done) and the fds it installed. Run serves a table of Cases, each
// in a fresh Env, and Covered fails a test whose cases leave a handler of
// the table untested.
//
// Runs in: tests only. Owns: the temporary directories of each Env.
// Waits on: nobody.
package servertest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/abi"
	"lx/shared/control"
	"lx/shared/idmap"
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/wire"
)

// Tid is the caller's host tid in every Env (its pid in the instance too:
// the fake /proc is both views).
const Tid = 100

// Options shape an Env.
type Options struct {
	// Recorded: the instance's root carries owners and devices in
	// xattrs (routes.Profile.Recorded).
	Recorded bool
	// InitPid is the host pid of the instance's init (0: none); its
	// /proc entry is made.
	InitPid int
	// Holder is the pid of the holder of the guests' namespaces (0:
	// none yet); its /proc entry is made, its root the instance root.
	Holder int
	// IDs is the instance's id mapping; the zero value maps every id to
	// itself.
	IDs idmap.Maps
	// Trace switches tracing on: Reply.Trace is the call's trace line.
	Trace bool
}

// Env is one server, its fake guest and the answers it sent.
type Env struct {
	T    testing.TB
	Mem  *Mem
	Proc string // the fake /proc: Tid/status, Tid/cwd, Tid/fd/N, …
	Root string // the instance root
	Dir  string // scratch space of the test, outside both
	// GuestFds are the caller's fds by number: the test's fds that
	// Call.GuestFd duplicates.
	GuestFds map[int]int
	// Gone makes the caller's notification no longer valid.
	Gone bool
	// Table is the server's handler table, set before the first Call.
	Table servers.Table

	opt       Options
	s         *servers.Server
	ring      *ring.Ring
	ctl       *control.Control
	trace     *ring.Ring
	sent      []abi.SeccompNotifResp
	fds       []int
	installed []install
	nextFd    int
	id        uint64
}

// install is one fd installed into the caller.
type install struct{ guest, fd int }

// New makes an Env: the caller (Tid) exists in /proc with root and cwd
// "/", uid and gid 1000 (WriteStatus) and no capabilities.
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	e := &Env{T: t, Mem: newMem(), Proc: t.TempDir(), Root: t.TempDir(), Dir: t.TempDir(),
		GuestFds: map[int]int{}, opt: opt, nextFd: 3}
	if opt.IDs.UID == nil {
		e.opt.IDs.UID = idmap.Map{{Guest: 0, Host: 0, Count: ^uint32(0)}}
	}
	if opt.IDs.GID == nil {
		e.opt.IDs.GID = idmap.Map{{Guest: 0, Host: 0, Count: ^uint32(0)}}
	}
	e.Task(Tid)
	e.WriteStatus(Tid, 1000, 1000, 0)
	if opt.InitPid > 0 {
		e.Task(opt.InitPid)
		e.Thread(opt.InitPid, opt.InitPid)
	}
	if opt.Holder > 0 {
		e.Task(opt.Holder)
		e.Thread(opt.Holder, opt.Holder)
		os.Remove(filepath.Join(e.Proc, strconv.Itoa(opt.Holder), "root"))
		e.Symlink(filepath.Join(strconv.Itoa(opt.Holder), "root"), e.Root)
	}
	t.Cleanup(func() {
		for _, fd := range e.fds {
			unix.Close(fd)
		}
		for _, fd := range e.GuestFds {
			unix.Close(fd)
		}
	})
	return e
}

// Task makes the /proc entry of pid (root and cwd "/", an empty fd
// directory, its own thread) and returns its directory.
func (e *Env) Task(pid int) string {
	dir := filepath.Join(e.Proc, strconv.Itoa(pid))
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	e.mkdir(filepath.Join(dir, "fd"))
	e.mkdir(filepath.Join(dir, "ns"))
	e.Symlink(filepath.Join(strconv.Itoa(pid), "root"), "/")
	e.Symlink(filepath.Join(strconv.Itoa(pid), "cwd"), "/")
	e.Thread(pid, pid)
	return dir
}

// Thread makes tid a thread of pid in /proc.
func (e *Env) Thread(pid, tid int) {
	e.mkdir(filepath.Join(e.Proc, strconv.Itoa(pid), "task", strconv.Itoa(tid)))
}

// WriteStatus writes the status of pid: real, effective, saved and file
// system uid and gid, the effective capabilities, umask 022.
func (e *Env) WriteStatus(pid int, uid, gid uint32, capEff uint64, more ...string) {
	s := fmt.Sprintf("Name:\tguest\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNStgid:\t%d\nPid:\t%d\n"+
		"Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nCapEff:\t%016x\n",
		pid, pid, pid, uid, uid, uid, uid, gid, gid, gid, gid, capEff)
	for _, m := range more {
		s += m + "\n"
	}
	e.WriteFile(filepath.Join(strconv.Itoa(pid), "status"), s)
}

// WriteFile writes a file below the fake /proc.
func (e *Env) WriteFile(name, content string) {
	p := filepath.Join(e.Proc, name)
	e.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.T.Fatal(err)
	}
}

// Symlink makes name below the fake /proc a symlink to target.
func (e *Env) Symlink(name, target string) {
	p := filepath.Join(e.Proc, name)
	e.mkdir(filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		e.T.Fatal(err)
	}
}

// SetNS gives pid's namespace ns the identity of other's (both made if
// need be): the kernel's /proc/PID/ns/NAME links to one namespace.
func (e *Env) SetNS(pid, other int, ns string) {
	a := filepath.Join(e.Task(pid), "ns", ns)
	b := filepath.Join(e.Task(other), "ns", ns)
	if _, err := os.Stat(b); err != nil {
		e.WriteFile(filepath.Join(strconv.Itoa(other), "ns", ns), ns)
	}
	os.Remove(a)
	if err := os.Link(b, a); err != nil {
		e.T.Fatal(err)
	}
}

// InRoot is the host path of guest path p in the instance root.
func (e *Env) InRoot(p string) string { return filepath.Join(e.Root, p) }

// File makes a regular file at guest path p with mode and content.
func (e *Env) File(p string, mode os.FileMode, content string) {
	e.mkdir(filepath.Dir(e.InRoot(p)))
	if err := os.WriteFile(e.InRoot(p), []byte(content), mode); err != nil {
		e.T.Fatal(err)
	}
	os.Chmod(e.InRoot(p), mode) // past the umask
}

// Path is the host path of name in the test's scratch space.
func (e *Env) Path(name string) string { return filepath.Join(e.Dir, name) }

// GuestFd gives the caller fd number n, a duplicate of the test's fd.
func (e *Env) GuestFd(n, fd int) {
	d, err := unix.Dup(fd)
	if err != nil {
		e.T.Fatal(err)
	}
	e.GuestFds[n] = d
}

func (e *Env) mkdir(p string) {
	if err := os.MkdirAll(p, 0o755); err != nil {
		e.T.Fatal(err)
	}
}

func (e *Env) server() *servers.Server {
	if e.s != nil {
		return e.s
	}
	t := e.T
	t.Helper()
	rf, err := ring.Create("servertest", 16, 128)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := control.Create("servertest")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close(); cf.Close() })
	if e.ring, err = ring.Map(int(rf.Fd())); err != nil {
		t.Fatal(err)
	}
	if e.ctl, err = control.Map(int(cf.Fd())); err != nil {
		t.Fatal(err)
	}
	e.ctl.SetHolder(e.opt.Holder)
	if e.opt.Trace {
		tf, err := ring.Create("servertest-trace", 16, 1024)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tf.Close() })
		if e.trace, err = ring.Map(int(tf.Fd())); err != nil {
			t.Fatal(err)
		}
		e.ctl.SetTracing(true)
	}
	proc := e.open(e.Proc, unix.O_RDONLY|unix.O_DIRECTORY)
	root := e.open(e.Root, unix.O_PATH|unix.O_DIRECTORY)
	cfg := servers.Config{Name: "servertest", Table: e.Table, Listener: -1, Ring: e.ring, Control: e.ctl,
		Root: root, Proc: proc, IDs: e.opt.IDs, InitPid: e.opt.InitPid,
		Profile: routes.Profile{Recorded: e.opt.Recorded}, Log: zap.NewNop(), Kernel: kernel{e}}
	if e.trace != nil {
		cfg.Trace = e.trace
	}
	if e.s, err = servers.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e.s
}

func (e *Env) open(p string, flags int) int {
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		e.T.Fatal(err)
	}
	e.fds = append(e.fds, fd)
	return fd
}

// Reply is what the server answered one call, and what it recorded.
type Reply struct {
	Args     [6]uint64 // the call's arguments, for a Check to find its buffers
	Val      int64
	Errno    unix.Errno
	Continue bool
	// Effect: the handler marked a side effect begun (Call.Effect,
	// Call.InstallFD); Done: it recorded Answer as its result.
	Effect, Done bool
	Answer       int64
	// FDs are the test's copies of the files installed into the caller,
	// by the guest fd number the caller got.
	FDs map[int]int
	// Trace is the call's trace line (Options.Trace).
	Trace string
}

func (r Reply) String() string {
	switch {
	case r.Continue:
		return "CONTINUE"
	case r.Errno != 0:
		return "-" + unix.ErrnoName(r.Errno)
	}
	return strconv.FormatInt(r.Val, 10)
}

// Call serves one call of syscall nr with args as the server's loop
// would, and returns the answer.
func (e *Env) Call(nr int, args ...uint64) Reply {
	e.T.Helper()
	s := e.server()
	if len(args) > 6 {
		e.T.Fatalf("%d arguments", len(args))
	}
	e.id++
	w := wire.Call{ID: e.id, Tid: Tid, Nr: int32(nr), Arch: unix.AUDIT_ARCH_X86_64}
	copy(w.Args[:], args)
	// A frame of its own in the ring, so that what the handler records
	// (Effect, Done) is this call's.
	if err := e.ring.Push([]byte{0}); err != nil {
		e.T.Fatal(err)
	}
	tail := e.ring.Tail()
	e.sent = e.sent[:0]
	installed := len(e.installed)
	s.Handle(&w)
	e.ring.Commit()
	if len(e.sent) != 1 {
		e.T.Fatalf("%d answers sent, want 1", len(e.sent))
	}
	resp := e.sent[0]
	r := Reply{Args: w.Args, Val: resp.Val, Errno: unix.Errno(-resp.Error), Continue: resp.Flags&unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE != 0,
		Effect: e.ctl.EffectAt(tail)}
	r.Answer, r.Done = e.ctl.AnswerAt(tail)
	for _, in := range e.installed[installed:] {
		if r.FDs == nil {
			r.FDs = map[int]int{}
		}
		r.FDs[in.guest] = in.fd
	}
	if e.trace != nil {
		if frame, ok := e.trace.Peek(); ok && frame != nil {
			var tr wire.Trace
			if err := wire.NewDecoder().Trace(frame, &tr); err == nil {
				r.Trace = tr.Text
			}
			e.trace.Commit()
		}
	}
	return r
}

// kernel is the fake servers.Kernel of an Env.
type kernel struct{ e *Env }

func (k kernel) check(tid int) error {
	if tid != Tid {
		return fmt.Errorf("servertest: memory of task %d, the caller is %d: %w", tid, Tid, unix.ESRCH)
	}
	return nil
}

func (k kernel) ReadMem(tid int, addr uint64, buf []byte) (int, error) {
	if err := k.check(tid); err != nil {
		return 0, err
	}
	return k.e.Mem.read(addr, buf)
}

func (k kernel) WriteMem(tid int, addr uint64, buf []byte) error {
	if err := k.check(tid); err != nil {
		return err
	}
	return k.e.Mem.write(addr, buf)
}

func (k kernel) Proc() string { return k.e.Proc }

func (k kernel) Valid(id uint64) error {
	if k.e.Gone || id != k.e.id {
		return fmt.Errorf("notification %d no longer valid: %w", id, unix.EINTR)
	}
	return nil
}

func (k kernel) AddFD(a abi.SeccompNotifAddfd) (int, error) {
	if err := k.Valid(a.ID); err != nil {
		return 0, unix.ENOENT
	}
	fd, err := unix.Dup(int(a.Srcfd))
	if err != nil {
		return 0, err
	}
	n := k.e.nextFd
	for _, taken := k.e.GuestFds[n]; taken; _, taken = k.e.GuestFds[n] {
		n++
	}
	k.e.nextFd = n + 1
	k.e.fds = append(k.e.fds, fd)
	k.e.installed = append(k.e.installed, install{guest: n, fd: fd})
	return n, nil
}

func (k kernel) GuestFd(tid int, id uint64, fd int) (int, error) {
	if err := k.check(tid); err != nil {
		return -1, err
	}
	if err := k.Valid(id); err != nil {
		return -1, err
	}
	src, ok := k.e.GuestFds[fd]
	if !ok {
		return -1, unix.EBADF
	}
	return unix.Dup(src)
}

func (k kernel) Send(r abi.SeccompNotifResp) error {
	k.e.sent = append(k.e.sent, r)
	return nil
}

// A Case is one call served in a fresh Env, and what it must answer.
type Case struct {
	Name string
	Nr   int
	Opt  Options
	// Args prepares the Env (memory, /proc, files) and returns the
	// call's arguments; nil for a call without arguments.
	Args func(e *Env) []uint64
	// Want is the answer: Val, Errno and Continue are compared.
	Want Reply
	// Check, if set, asserts more: what was written, made or installed.
	Check func(t *testing.T, e *Env, r Reply)
}

// Continue is the Want of a call answered CONTINUE.
var Continue = Reply{Continue: true}

// Errno is the Want of a call that fails with e.
func Errno(e unix.Errno) Reply { return Reply{Errno: e} }

// Val is the Want of a call that returns v.
func Val(v int64) Reply { return Reply{Val: v} }

// Run serves each case in a fresh Env whose table table makes.
func Run(t *testing.T, table func(e *Env) servers.Table, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(abi.SyscallName(tc.Nr)+"/"+tc.Name, func(t *testing.T) {
			e := New(t, tc.Opt)
			e.Table = table(e)
			var args []uint64
			if tc.Args != nil {
				args = tc.Args(e)
			}
			r := e.Call(tc.Nr, args...)
			if r.Val != tc.Want.Val || r.Errno != tc.Want.Errno || r.Continue != tc.Want.Continue {
				t.Errorf("%s(%#x) = %v, want %v", abi.SyscallName(tc.Nr), args, r, tc.Want)
			}
			if tc.Check != nil {
				tc.Check(t, e, r)
			}
		})
	}
}

// Covered fails t for every key of table that no case calls, and every
// case whose number table lacks.
func Covered(t *testing.T, table servers.Table, cases []Case) {
	t.Helper()
	missing, extra := uncovered(table, cases)
	if len(missing) > 0 {
		t.Errorf("handlers without a test case: %s", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("cases of calls the table has no handler for: %s", strings.Join(extra, ", "))
	}
}

func uncovered(table servers.Table, cases []Case) (missing, extra []string) {
	seen := map[int]bool{}
	for _, c := range cases {
		if table[c.Nr] == nil {
			extra = append(extra, abi.SyscallName(c.Nr)+"/"+c.Name)
		}
		seen[c.Nr] = true
	}
	for nr := range table {
		if !seen[nr] {
			missing = append(missing, abi.SyscallName(nr))
		}
	}
	sort.Strings(missing)
	return missing, extra
}

// Root skips t unless it runs as root, saying why.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}
