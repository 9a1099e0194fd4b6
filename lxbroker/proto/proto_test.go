package proto

import (
	"encoding/hex"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestGolden pins the bytes of every message type: a change of a field's
// name, tag or order is a change of the protocol, which must come with a
// new ProtocolVersion (a broker and a client of two builds meet whenever lx
// is upgraded while a broker runs).
func TestGolden(t *testing.T) {
	profile := &routes.Profile{TrapPaths: true, Recorded: true, NativeForks: true}
	mount := Mount{Host: "/home/u/src", Guest: "/src", ReadOnly: true, Cwd: true, Dev: 2049, Ino: 1234}
	hide := []Hidden{{Path: "/run/lx", Dev: 25, Ino: 7}}
	cmd := Command{Argv: []string{"sh", "-c", "echo hi"}, Env: []string{"TERM=xterm"}, Cwd: "/root", User: "nobody",
		Null: 1, Tty: 1, Rows: 24, Cols: 80}
	for _, tc := range []struct {
		name string
		msg  any
		zero any
	}{
		{"request-run", &Request{Op: OpRun, Version: ProtocolVersion, Distro: "deb", Root: "/data/deb/root", TrapPaths: true,
			Run: &Run{Command: cmd, Mounts: []Mount{mount}, Hide: hide,
				Net: NetOptions{Mode: "loopback", Raw: true, Publish: []string{"8080:80"}}, Memory: 1 << 30}}, &Request{}},
		{"request-trace", &Request{Op: OpTrace, Version: ProtocolVersion, Trace: &Trace{Servers: []string{"fssrv"}, Seconds: 2.5}}, &Request{}},
		{"request-restart", &Request{Op: OpRestart, Version: ProtocolVersion, Restart: &Restart{Component: "router", Binary: "/tmp/lx"}}, &Request{}},
		{"request-signal", &Request{Op: OpSignal, Version: ProtocolVersion, Sig: 2}, &Request{}},
		{"reply", &Reply{Op: OpError, Status: 125, Text: "lx: no"}, &Reply{}},
		{"toinit-profile", &ToInit{Op: OpProfile, Profile: profile, Tasks: 1600}, &ToInit{}},
		{"toinit-spawn", &ToInit{Op: OpSpawn, ID: 7, Command: &cmd}, &ToInit{}},
		{"toinit-other", &ToInit{Op: OpDial, ID: 8, Sig: 15, Seconds: 10, Port: 8080}, &ToInit{}},
		{"frominit", &FromInit{Op: OpReady, ID: 9, Status: 3, Text: "t", Profile: profile, Execs: "native", Holder: 2}, &FromInit{}},
		{"tokeeper", &ToKeeper{Op: OpRoot, Root: "/data/deb/root", Hide: hide, Memory: 1 << 30, Mount: &mount}, &ToKeeper{}},
		{"fromkeeper", &FromKeeper{Op: OpError, InitPid: 4242, Status: 125, Text: "lx: no"}, &FromKeeper{}},
	} {
		b, err := msgpack.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name+".golden", b)
		if err := msgpack.Unmarshal(b, tc.zero); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if again, _ := msgpack.Marshal(tc.zero); string(again) != string(b) {
			t.Errorf("%s: does not survive a round trip", tc.name)
		}
	}
}

func golden(t *testing.T, name string, b []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, []byte(hex.Dump(b)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got := hex.Dump(b); got != string(want) {
		t.Errorf("%s changed (a protocol change needs a new ProtocolVersion; then go test -update):\n%s", name,
			strings.TrimSpace(got))
	}
}

// TestRecvGarbage: a packet that is no message of the exchange is an
// error for Recv, never a panic or a half-filled message, and the fds it
// carried are closed.
func TestRecvGarbage(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	f := os.NewFile(uintptr(pair[1]), "peer")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := fc.(*net.UnixConn)
	defer c.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	open := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	before := open()
	for _, b := range [][]byte{{0xc1}, {0x81, 0xa2, 'o', 'p', 0x01}, []byte("not msgpack"), {0xdf, 0xff, 0xff, 0xff, 0xff}} {
		if err := unix.Sendmsg(pair[0], b, unix.UnixRights(p[0], p[1]), nil, 0); err != nil {
			t.Fatal(err)
		}
		m, fds, err := Recv[Request](c)
		if err == nil || m != nil || fds != nil {
			t.Errorf("%x: %+v %v %v, want an error", b, m, fds, err)
		}
	}
	if err := unix.Sendmsg(pair[0], nil, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Recv[Request](c); err != ErrClosed {
		t.Errorf("an empty packet: %v, want ErrClosed", err)
	}
	if after := open(); after != before {
		t.Errorf("%d fds open after the garbage, %d before", after, before)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512M": 512 << 20, "4G": 4 << 30, "1gib": 1 << 30, "64MB": 64 << 20, "1T": 1 << 40, "33554432": 32 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1G", "1M", "10Q", "99999999999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if FormatSize(3<<30) != "3G" || FormatSize(1536<<20) != "1536M" {
		t.Errorf("FormatSize: %s %s", FormatSize(3<<30), FormatSize(1536<<20))
	}
}

func TestBelow(t *testing.T) {
	for _, tc := range []struct {
		dir, p, rel string
		ok          bool
	}{
		{"/", "/root/.local/share/lx", "root/.local/share/lx", true},
		{"/home/u", "/home/u/.local/share/lx", ".local/share/lx", true},
		{"/home/u", "/home/u", "", true},
		{"/home/u", "/home/user/x", "", false},
		{"/home/u/", "/home/u/x/", "x", true},
	} {
		rel, ok := Below(tc.dir, tc.p)
		if rel != tc.rel || ok != tc.ok {
			t.Errorf("Below(%q, %q) = %q %v, want %q %v", tc.dir, tc.p, rel, ok, tc.rel, tc.ok)
		}
	}
}
