package servertest

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lx/servers"
)

// The framework as a handler sees it, served through the fake Kernel.
var table = servers.Table{
	unix.SYS_OPEN: func(c *servers.Call) (int64, error) {
		p, err := c.Path(0)
		return int64(len(p)), err
	},
	unix.SYS_READ: func(c *servers.Call) (int64, error) {
		var b [8]byte
		if err := c.Read(c.Pointer(1), b[:]); err != nil {
			return 0, err
		}
		return int64(b[0]), c.Write(c.Pointer(1)+1, []byte{b[0] + 1})
	},
	unix.SYS_WRITE:   func(c *servers.Call) (int64, error) { panic("boom") },
	unix.SYS_CLOSE:   func(c *servers.Call) (int64, error) { return 0, errors.New("no errno") },
	unix.SYS_GETPID:  func(c *servers.Call) (int64, error) { return 0, servers.ErrContinue },
	unix.SYS_GETUID:  func(c *servers.Call) (int64, error) { return int64(c.Tid()), c.Valid() },
	unix.SYS_GETGID:  func(c *servers.Call) (int64, error) { return int64(c.Uint(0)), nil },
	unix.SYS_CAPGET:  func(c *servers.Call) (int64, error) { return b2i(c.HasCap(int(c.Int(0)))), nil },
	unix.SYS_GETEUID: func(c *servers.Call) (int64, error) { return b2i(c.FromInit()), nil },
	unix.SYS_DUP:     func(c *servers.Call) (int64, error) { fd, err := c.GuestFd(0); unix.Close(fd); return 0, err },
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestFramework(t *testing.T) {
	cases := []Case{
		{Name: "a path", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 { return []uint64{e.Mem.String("/etc/passwd")} }, Want: Val(11)},
	}
	cases = append(cases,
		Case{Name: "a path across pages", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 {
			return []uint64{e.Mem.String(strings.Repeat("x", 4000))}
		}, Want: Val(4000)},
		Case{Name: "the longest path", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 {
			return []uint64{e.Mem.String(strings.Repeat("x", unix.PathMax-1))}
		}, Want: Val(unix.PathMax - 1)},
		Case{Name: "a path too long", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 {
			return []uint64{e.Mem.String(strings.Repeat("x", unix.PathMax))}
		}, Want: Errno(unix.ENAMETOOLONG)},
		Case{Name: "a path without its NUL", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 {
			return []uint64{e.Mem.Bytes([]byte("/etc"))}
		}, Want: Errno(unix.EFAULT)},
		Case{Name: "a path unmapped", Nr: unix.SYS_OPEN, Args: func(e *Env) []uint64 { return []uint64{Unmapped} }, Want: Errno(unix.EFAULT)},
		Case{Name: "read and write", Nr: unix.SYS_READ, Args: func(e *Env) []uint64 {
			return []uint64{0, e.Mem.Bytes([]byte{41, 0, 0, 0, 0, 0, 0, 0})}
		}, Want: Val(41), Check: func(t *testing.T, e *Env, r Reply) {
			if b := e.Mem.Read(r.Args[1], 2); b == nil || b[1] != 42 {
				t.Errorf("guest memory %v, want 41 42", b)
			}
		}},
		Case{Name: "a read one byte short", Nr: unix.SYS_READ, Args: func(e *Env) []uint64 { return []uint64{0, e.Mem.Alloc(7)} }, Want: Errno(unix.EFAULT)},
		Case{Name: "a panic", Nr: unix.SYS_WRITE, Want: Errno(unix.EIO)},
		Case{Name: "an error without an errno", Nr: unix.SYS_CLOSE, Want: Errno(unix.EIO)},
		Case{Name: "no handler", Nr: unix.SYS_MMAP, Want: Errno(unix.ENOSYS)},
		Case{Name: "continue", Nr: unix.SYS_GETPID, Want: Continue},
		Case{Name: "valid", Nr: unix.SYS_GETUID, Want: Val(Tid)},
		Case{Name: "gone", Nr: unix.SYS_GETUID, Args: func(e *Env) []uint64 { e.Gone = true; return nil }, Want: Errno(unix.EINTR)},
		Case{Name: "args", Nr: unix.SYS_GETGID, Args: func(e *Env) []uint64 { return []uint64{1 << 32, 1, 2, 3, 4, 5} }, Want: Val(0)},
		Case{Name: "a capability held", Nr: unix.SYS_CAPGET, Args: func(e *Env) []uint64 {
			e.WriteStatus(Tid, 0, 0, 1<<unix.CAP_KILL)
			return []uint64{unix.CAP_KILL}
		}, Want: Val(1)},
		Case{Name: "a capability not held", Nr: unix.SYS_CAPGET, Args: func(e *Env) []uint64 {
			e.WriteStatus(Tid, 0, 0, 1<<unix.CAP_KILL)
			return []uint64{unix.CAP_CHOWN}
		}, Want: Val(0)},
		Case{Name: "from init", Nr: unix.SYS_GETEUID, Opt: Options{InitPid: 1}, Args: func(e *Env) []uint64 { e.Thread(1, Tid); return nil }, Want: Val(1)},
		Case{Name: "not from init", Nr: unix.SYS_GETEUID, Opt: Options{InitPid: 1}, Want: Val(0)},
		Case{Name: "a guest fd", Nr: unix.SYS_DUP, Args: func(e *Env) []uint64 { e.GuestFd(4, 0); return []uint64{4} }, Want: Val(0)},
		Case{Name: "a closed guest fd", Nr: unix.SYS_DUP, Args: func(e *Env) []uint64 { return []uint64{4} }, Want: Errno(unix.EBADF)},
		Case{Name: "a negative guest fd", Nr: unix.SYS_DUP, Args: func(e *Env) []uint64 { return []uint64{^uint64(0)} }, Want: Errno(unix.EBADF)},
	)
	Run(t, func(*Env) servers.Table { return table }, cases)
}

func TestCovered(t *testing.T) {
	missing, extra := uncovered(table, []Case{{Nr: unix.SYS_OPEN}, {Nr: unix.SYS_MMAP}})
	if len(missing) != len(table)-1 || len(extra) != 1 {
		t.Errorf("uncovered: missing %v, extra %v; want all but open missing, mmap extra", missing, extra)
	}
	if missing, extra := uncovered(table, []Case{{Nr: unix.SYS_OPEN}, {Nr: unix.SYS_READ}, {Nr: unix.SYS_WRITE},
		{Nr: unix.SYS_CLOSE}, {Nr: unix.SYS_GETPID}, {Nr: unix.SYS_GETUID}, {Nr: unix.SYS_GETGID}, {Nr: unix.SYS_CAPGET},
		{Nr: unix.SYS_GETEUID}, {Nr: unix.SYS_DUP}}); len(missing)+len(extra) != 0 {
		t.Errorf("uncovered: missing %v, extra %v; want none", missing, extra)
	}
}
