package servers_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/servers/servertest"
)

// TestDecode: trace lines decode arguments by kind, escape guest text,
// print an unreadable pointer in hex, and keep a handler's notes.
func TestDecode(t *testing.T) {
	cont := func(c *servers.Call) (int64, error) { return 0, servers.ErrContinue }
	table := servers.Table{unix.SYS_OPENAT: cont, unix.SYS_SETNS: cont, unix.SYS_KILL: cont,
		unix.SYS_MKDIR: func(c *servers.Call) (int64, error) { c.Note(1, "noted"); return 0, servers.ErrContinue }}
	e := servertest.New(t, servertest.Options{Trace: true})
	e.Table = table
	for _, tc := range []struct {
		nr   int
		args func() []uint64
		want string
	}{
		{unix.SYS_OPENAT, func() []uint64 {
			return []uint64{uint64(0xffffffff &^ 99), e.Mem.String("/etc/hostname"), unix.O_RDONLY | unix.O_CLOEXEC}
		}, `openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC)`},
		{unix.SYS_OPENAT, func() []uint64 {
			return []uint64{3, e.Mem.String("a\x1b[2Jb\n"), unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, 0o644}
		}, `openat(3, "a\x1b[2Jb\n", O_WRONLY|O_CREAT|O_TRUNC, 0644)`},
		{unix.SYS_OPENAT, func() []uint64 { return []uint64{3, 0xdead0000, 0} }, `openat(3, 0xdead0000, O_RDONLY)`},
		{unix.SYS_SETNS, func() []uint64 { return []uint64{3, unix.CLONE_NEWUSER, 0, 308} }, `setns(3, CLONE_NEWUSER)`},
		{unix.SYS_KILL, func() []uint64 { return []uint64{42, uint64(unix.SIGTERM)} }, `kill(42, SIGTERM)`},
		{unix.SYS_MKDIR, func() []uint64 { return []uint64{e.Mem.String("/d"), 0o755} }, `mkdir("/d", noted)`},
	} {
		if r := e.Call(tc.nr, tc.args()...); r.Trace != tc.want {
			t.Errorf("trace %s, want %s", r.Trace, tc.want)
		}
	}
}
