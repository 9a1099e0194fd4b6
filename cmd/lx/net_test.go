package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lx/lxbroker/proto"
)

// Network tests (issue #6). Each guest program runs natively first, with
// the same expectations, then in the instance.

// bg is a command running in the background, natively or under lx.
type bg struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (b *bg) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.out.Write(p) }

func (b *bg) output() string { b.mu.Lock(); defer b.mu.Unlock(); return b.out.String() }

// start starts args in dir, under `lx run [lxArgs] --` when inLx, and
// kills it when the test ends.
func start(t *testing.T, dir string, inLx bool, lxArgs []string, args ...string) *bg {
	t.Helper()
	if inLx {
		args = append(append(append([]string{lxBin, "run"}, lxArgs...), "--"), args...)
		giveToInstance(t, dir)
	}
	b := &bg{cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	b.cmd.Dir = dir
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

// hangGuard bounds waits for a program that should have finished long
// before: a hung program fails the test instead of the whole run.
const hangGuard = 60 * time.Second

// wait waits for b to end and returns its output; it fails the test if b
// failed.
func (b *bg) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(hangGuard):
		t.Fatalf("%v still runs after %v; output so far:\n%s", b.cmd.Args, hangGuard, b.output())
	}
	if !b.cmd.ProcessState.Success() {
		t.Fatalf("%v: %v\n%s", b.cmd.Args, b.cmd.ProcessState, b.output())
	}
	return b.output()
}

// until polls ok until it holds, failing the test if b ends first or the
// hang guard passes.
func until(t *testing.T, b *bg, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !ok() {
		select {
		case <-b.done:
			if ok() {
				return
			}
			t.Fatalf("%v ended before %s: %v\n%s", b.cmd.Args, what, b.cmd.ProcessState, b.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v; %v says:\n%s", what, hangGuard, b.cmd.Args, b.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFile waits until b has written path and returns its content.
func waitFile(t *testing.T, b *bg, path string) string {
	t.Helper()
	var data []byte
	until(t, b, path, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil
	})
	return string(data)
}

func testdata(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, name), string(b), 0o644)
}

func where(inLx bool) string {
	if inLx {
		return "lx"
	}
	return "native"
}

// TestNetEcho: TCP and UDP echo over IPv4 and IPv6, between two guests,
// from a guest to a host server and from the host to a guest server.
func TestNetEcho(t *testing.T) {
	need(t, "python3")
	dir := t.TempDir()
	testdata(t, dir, "netecho.py")
	pairs := [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} // server, client in lx
	for _, proto := range []string{"tcp", "udp"} {
		for _, host := range []string{"127.0.0.1", "::1"} {
			for _, p := range pairs {
				name := fmt.Sprintf("%s/%s/%s-server/%s-client", proto, host, where(p[0]), where(p[1]))
				t.Run(name, func(t *testing.T) {
					pf := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(name))
					srv := start(t, dir, p[0], nil, "python3", "netecho.py", "serve", proto, host, pf)
					port := waitFile(t, srv, pf)
					cl := start(t, dir, p[1], nil, "python3", "netecho.py", "client", proto, host, port)
					if out := cl.wait(t); out != "client ok\n" {
						t.Fatalf("client: %q", out)
					}
					if out := srv.wait(t); out != "served 690 bytes\n" {
						t.Fatalf("server: %q", out)
					}
				})
			}
		}
	}
}

// TestNetNonblockingConnect: a non-blocking connect to a host server
// completes through epoll; one to a closed port fails the same way.
func TestNetNonblockingConnect(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	probe := buildProbe(t, dir, false)
	for _, host := range []string{"127.0.0.1", "::1"} {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a := l.Addr().(*net.TCPAddr)
		c, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		closed := strconv.Itoa(c.Addr().(*net.TCPAddr).Port) // nobody listens there once c is closed
		c.Close()
		for _, inLx := range []bool{false, true} {
			for target, want := range map[string]string{strconv.Itoa(a.Port): "EINPROGRESS ok\n", closed: "EINPROGRESS ECONNREFUSED\n"} {
				args := []string{probe, "nbconnect", a.IP.String(), target}
				var out string
				if inLx {
					out, _, _ = lx(t, dir, "", append([]string{"run", "--"}, args...)...)
				} else {
					b, _ := exec.Command(args[0], args[1:]...).Output()
					out = string(b)
				}
				if out != want {
					t.Errorf("%s: non-blocking connect to %s:%s: %q, want %q", where(inLx), a.IP, target, out, want)
				}
			}
		}
	}
}

// TestUnixSocketPassesFD: a unix-socket server in one guest, a client in
// another that passes an open file (SCM_RIGHTS) and its credentials
// (SCM_CREDENTIALS, guest pid and ids), for stream, datagram and seqpacket
// sockets; the path socket exists in the instance's /tmp and not in the
// host's; an abstract name is private to the instance.
func TestUnixSocketPassesFD(t *testing.T) {
	need(t, "python3")
	dir := t.TempDir()
	testdata(t, dir, "unixfd.py")
	write(t, filepath.Join(dir, "secret.txt"), "the passed file\n", 0o644)
	tag := strconv.Itoa(os.Getpid())
	for _, kind := range []string{"stream", "dgram", "seqpacket"} {
		for _, inLx := range []bool{false, true} {
			path := filepath.Join(dir, kind+".sock")
			if inLx {
				path = "/tmp/lx-net-test-" + tag + "-" + kind + ".sock"
			}
			t.Run(kind+"/"+where(inLx), func(t *testing.T) {
				srv := start(t, dir, inLx, nil, "python3", "unixfd.py", "serve", kind, path)
				until(t, srv, "listening", func() bool { return strings.Contains(srv.output(), "listening") })
				if inLx {
					if out := guest(t, dir, "sh", "-c", "test -S "+path+" && echo socket"); out != "socket\n" {
						t.Fatalf("the guest does not see its socket at %s: %q", path, out)
					}
					if _, err := os.Lstat(path); err == nil {
						t.Fatalf("the guest's socket %s appeared on the host", path)
					}
				}
				cl := start(t, dir, inLx, nil, "python3", "unixfd.py", "client", kind, path, "secret.txt")
				if out := cl.wait(t); out != "client sent\n" {
					t.Fatalf("client: %q", out)
				}
				out := srv.wait(t)
				if !strings.Contains(out, "got fd reading 'the passed file'; credentials match pid") {
					t.Fatalf("server: %q", out)
				}
				if inLx {
					// The guest pid the client saw is small: the instance's.
					f := strings.Fields(out)
					if pid, err := strconv.Atoi(f[len(f)-3]); err != nil || pid > 100000 {
						t.Fatalf("credentials carry pid %q", f[len(f)-3])
					}
				}
			})
		}
	}
	t.Run("abstract", func(t *testing.T) {
		name := "@lx-net-test-" + tag
		srv := start(t, dir, true, nil, "python3", "unixfd.py", "serve", "stream", name)
		until(t, srv, "listening", func() bool { return strings.Contains(srv.output(), "listening") })
		host := exec.Command("python3", "unixfd.py", "client", "stream", name, "secret.txt")
		host.Dir = dir
		if out, err := host.CombinedOutput(); err == nil || !strings.Contains(string(out), "ConnectionRefusedError") {
			t.Fatalf("the host reached the instance's abstract socket %s: %v %s", name, err, out)
		}
		cl := start(t, dir, true, nil, "python3", "unixfd.py", "client", "stream", name, "secret.txt")
		cl.wait(t)
		if out := srv.wait(t); !strings.Contains(out, "got fd reading") {
			t.Fatalf("server: %q", out)
		}
	})
}

// freePort returns a TCP port of the host's loopback that nobody listens
// on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fetch fetches url with curl until the server answers.
func fetch(t *testing.T, srv *bg, url string) string {
	t.Helper()
	var out []byte
	until(t, srv, "answer at "+url, func() bool {
		var err error
		out, err = exec.Command("curl", "-sf", "--max-time", "5", url).Output()
		return err == nil
	})
	return string(out)
}

// TestNetHTTPServer: `python3 -m http.server` in a guest, fetched from the
// host with curl.
func TestNetHTTPServer(t *testing.T) {
	need(t, "python3", "curl")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "hello.txt"), "hello from the guest\n", 0o644)
	for _, inLx := range []bool{false, true} {
		t.Run(where(inLx), func(t *testing.T) {
			port := strconv.Itoa(freePort(t))
			srv := start(t, dir, inLx, nil, "python3", "-m", "http.server", port, "--bind", "127.0.0.1")
			if got := fetch(t, srv, "http://127.0.0.1:"+port+"/hello.txt"); got != "hello from the guest\n" {
				t.Fatalf("curl: %q", got)
			}
		})
	}
}

// TestNetPublish: a guest web server on port 80 reached through
// --publish HOSTPORT:80.
func TestNetPublish(t *testing.T) {
	need(t, "python3", "curl")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "index.html"), "published\n", 0o644)
	hostPort := strconv.Itoa(freePort(t))
	srv := start(t, dir, true, []string{"--publish", hostPort + ":80"}, "python3", "-m", "http.server", "80", "--bind", "127.0.0.1")
	if got := fetch(t, srv, "http://127.0.0.1:"+hostPort+"/"); got != "published\n" {
		t.Fatalf("curl: %q", got)
	}
	// Another run may not publish the same guest port while this one runs.
	if _, errs, code := lx(t, dir, "", "run", "-p", strconv.Itoa(freePort(t))+":80", "--", "true"); code != 125 || !strings.Contains(errs, "already publishes") {
		t.Fatalf("a second --publish of guest port 80: exit %d %q", code, errs)
	}
	if _, errs, code := lx(t, dir, "", "run", "-p", "80:x", "--", "true"); code != 125 || !strings.Contains(errs, "HOSTPORT:GUESTPORT") {
		t.Fatalf("--publish 80:x: exit %d %q", code, errs)
	}
	if _, errs, code := lx(t, dir, "", "run", "--net=sideways", "--", "true"); code != 125 || !strings.Contains(errs, "want all, loopback or none") {
		t.Fatalf("--net=sideways: exit %d %q", code, errs)
	}
	// lx status shows the published port while the run lasts, and not after.
	published := func() bool {
		for _, in := range status(t).Instances {
			for _, p := range in.Publish {
				if p == hostPort+":80" {
					return true
				}
			}
		}
		return false
	}
	if !published() {
		t.Fatalf("lx status does not show %s:80: %+v", hostPort, status(t))
	}
	holder := start(t, "/", true, nil, "sleep", "300") // keeps the instance up
	srv.cmd.Process.Kill()
	<-srv.done
	until(t, holder, "the end of publication "+hostPort+":80", func() bool { return !published() })
}

// TestNetLowPort: a host port below 1024 is host root's to give: guest root
// binds one only when the run publishes it (netsrv binds it with the host
// user's rights), and never otherwise. Before, guest root of root's
// instance bound any, as host root.
func TestNetLowPort(t *testing.T) {
	need(t, "gcc")
	if os.Geteuid() != 0 {
		t.Skip("skipped: lx runs unprivileged here; the host refuses ports below 1024 to it (publish them instead)")
	}
	port := 0
	for p := 1000; p > 900 && port == 0; p-- {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			port = p
		}
	}
	if port == 0 {
		t.Skip("skipped: no free port in 901-1000 on the host")
	}
	dir, err := os.MkdirTemp("", "lx-net-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // guest nobody runs the probe from here
	probe := buildProbe(t, dir, false)
	p := strconv.Itoa(port)
	// Guest root is not host root: the host's privileged port is bound
	// for it only when the run publishes it.
	if out, errs, code := lx(t, dir, "", "run", "--", probe, "bind", "127.0.0.1", p); code != 1 || out != "EACCES\n" {
		t.Fatalf("guest root binding unpublished port %d: exit %d %q %s", port, code, out, errs)
	}
	if out, errs, code := lx(t, dir, "", "run", "-p", p+":"+p, "--", probe, "bind", "127.0.0.1", p); code != 0 || out != p+"\n" {
		t.Fatalf("guest root binding published port %d: exit %d %q %s", port, code, out, errs)
	}
	out, errs, code := lx(t, dir, "", "run", "-u", "nobody", "--", probe, "bind", "127.0.0.1", p)
	if code != 1 || out != "EACCES\n" {
		t.Fatalf("guest nobody binding port %d: exit %d %q %s", port, code, out, errs)
	}
}

// TestNetNames: getaddrinfo resolves localhost and the instance's host name
// offline, from the /etc/hosts the instance gets; resolv.conf is the host's.
// (The name is spelled out: guest root may change the uts name, and
// TestGarbageArgumentsKillNoServer's sethostname does.)
func TestNetNames(t *testing.T) {
	need(t, "python3", "getent")
	prog := `import socket
for name in ("localhost", "lx"):
    print(name, sorted({a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}))`
	out := guest(t, t.TempDir(), "python3", "-c", prog)
	if out != "localhost ['127.0.0.1', '::1']\nlx ['127.0.1.1']\n" {
		t.Fatalf("getaddrinfo in the instance: %q", out)
	}
	if out := guest(t, t.TempDir(), "getent", "ahostsv4", "lx"); !strings.HasPrefix(out, "127.0.1.1 ") {
		t.Fatalf("getent ahostsv4 lx: %q", out)
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	if out := guest(t, t.TempDir(), "cat", "/etc/resolv.conf"); out != string(host) {
		t.Fatalf("resolv.conf in the instance %q, the host's %q", out, host)
	}
}

// TestNetInterfaces: getifaddrs and `ip addr` list the interfaces of the
// network the instance's IP sockets live in: the host's, in the default
// mode (TestNetLoopbackPolicy checks the instance's own loopback).
func TestNetInterfaces(t *testing.T) {
	need(t, "gcc", "ip")
	dir := t.TempDir()
	probe := buildProbe(t, dir, false)
	native, err := exec.Command(probe, "ifaddrs").Output()
	if err != nil || !strings.Contains(string(native), "lo 127.0.0.1\n") {
		t.Fatalf("getifaddrs natively: %v %q", err, native)
	}
	if out := guest(t, dir, probe, "ifaddrs"); out != string(native) {
		t.Fatalf("getifaddrs in the instance: %q, natively %q", out, native)
	}
	native, _ = exec.Command("ip", "-o", "addr").Output()
	if out := guest(t, dir, "ip", "-o", "addr"); out != string(native) {
		t.Fatalf("ip -o addr in the instance: %q, natively %q", out, native)
	}
}

func buildProbe(t *testing.T, dir string, static bool) string {
	t.Helper()
	probe := filepath.Join(dir, "netprobe")
	args := []string{"-O2", "-o", probe, "testdata/netprobe.c"}
	if static {
		args = append(args, "-static")
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return probe
}

// TestNetSocketFamilies: unsupported families get EAFNOSUPPORT, raw and
// packet sockets EPERM (the default policy does not allow them).
func TestNetSocketFamilies(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	probe := buildProbe(t, dir, false)
	for _, c := range [][3]string{{"inet6", "dgram", "ok"}, {"ax25", "dgram", "EAFNOSUPPORT"}, {"inet", "raw", "EPERM"}, {"packet", "raw", "EPERM"}} {
		out, _, _ := lx(t, dir, "", "run", "--", probe, "socket", c[0], c[1])
		if out != c[2]+"\n" {
			t.Errorf("socket(%s, %s): %q, want %s", c[0], c[1], out, c[2])
		}
	}
}

// TestNetLoopbackPolicy: an instance started with --net=loopback reaches
// its own loopback only: a connect to a host address is denied, and the
// host's own loopback services are not the instance's; a published port is
// forwarded into it. --net=none has no IP
// sockets. A run asking for another mode than the running instance's is
// refused.
func TestNetLoopbackPolicy(t *testing.T) {
	need(t, "gcc")
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("skipped: /bin/busybox is missing (.ci/run installs busybox-static)")
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "bin/busybox"), string(bb), 0o755)
	write(t, filepath.Join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n", 0o644)
	buildProbe(t, filepath.Join(root, "bin"), true)
	os.Symlink("busybox", filepath.Join(root, "bin/sh"))
	os.Chmod(root, 0o755)
	name := "netlo" + strconv.Itoa(os.Getpid())
	if _, errs, code := lx(t, "/", "", "import", "--in-place", name, root); code != 0 {
		t.Fatal(errs)
	}
	t.Cleanup(func() { lx(t, "/", "", "unregister", name) })
	// A host server on every address: the host reaches it on loopback and
	// on its own address.
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	hostAddr := ""
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
				hostAddr = ip.IP.String()
				break
			}
		}
	}
	run := func(mode string, args ...string) string {
		t.Helper()
		flags := []string{"run", "-d", name}
		for _, m := range strings.Split(mode, ",") {
			flags = append(flags, "--"+m)
		}
		out, errs, code := lx(t, "/", "", append(append(flags, "--", "/bin/netprobe"), args...)...)
		if code > 1 {
			t.Fatalf("netprobe %v with --net=%s: exit %d %s", args, mode, code, errs)
		}
		return strings.TrimSpace(out)
	}
	if got := run("net=all", "connect", "127.0.0.1", port); got != "ok" {
		t.Fatalf("--net=all: connect to the host's loopback server: %s", got)
	}
	if _, errs, code := lx(t, "/", "", "run", "-d", name, "--net=loopback", "--", "true"); code != 125 || !strings.Contains(errs, "runs with --net=all") {
		t.Fatalf("--net=loopback on a running --net=all instance: exit %d %q", code, errs)
	}
	lx(t, "/", "", "terminate", name)
	if got := run("net=loopback", "ifaddrs"); got != "lo 127.0.0.1\nlo ::1" {
		t.Fatalf("--net=loopback: getifaddrs: %q, want the instance's lo only", got)
	}
	if got := run("net=loopback", "loopback"); got != "ok4 ok6" {
		t.Fatalf("--net=loopback: TCP over the instance's loopback: %s", got)
	}
	if got := run("net=loopback", "connect", "127.0.0.1", port); got != "ECONNREFUSED" {
		t.Fatalf("--net=loopback: connect to 127.0.0.1:%s (the host's server): %s, want ECONNREFUSED (the instance's own loopback)", port, got)
	}
	if hostAddr == "" {
		t.Log("the host has no non-loopback IPv4 address; the denied connect is checked on 192.0.2.1")
		hostAddr = "192.0.2.1"
	}
	if got := run("net=loopback", "connect", hostAddr, port); got != "ENETUNREACH" {
		t.Fatalf("--net=loopback: connect to the host at %s:%s: %s, want ENETUNREACH", hostAddr, port, got)
	}
	if got := run("net=loopback", "sendto", hostAddr, port); got != "ENETUNREACH" {
		t.Fatalf("--net=loopback: UDP to %s: %s, want ENETUNREACH", hostAddr, got)
	}
	// A restarted netsrv reads the same policy.
	holder := start(t, "/", true, []string{"-d", name}, "/bin/busybox", "sleep", "300")
	var before proto.ComponentStatus
	until(t, holder, "netsrv of "+name+" in lx status", func() bool {
		for _, in := range status(t).Instances {
			for _, c := range in.Components {
				if in.Name == name && c.Name == "netsrv" && c.Pid > 0 {
					before = c
					return true
				}
			}
		}
		return false
	})
	if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	until(t, holder, "a new netsrv", func() bool {
		for _, in := range status(t).Instances {
			for _, c := range in.Components {
				if in.Name == name && c.Name == "netsrv" && c.Restarts > before.Restarts && c.Pid > 0 && c.Pid != before.Pid {
					return true
				}
			}
		}
		return false
	})
	if got := run("net=loopback", "connect", "127.0.0.1", port); got != "ECONNREFUSED" {
		t.Fatalf("--net=loopback after a netsrv restart: connect to 127.0.0.1:%s (the host's server): %s, want ECONNREFUSED", port, got)
	}
	// A published port of a loopback instance is forwarded from the host's
	// loopback into the instance.
	hostPort := strconv.Itoa(freePort(t))
	srv := start(t, "/", true, []string{"-d", name, "-p", hostPort + ":80"}, "/bin/netprobe", "serve", "80")
	until(t, srv, "listening", func() bool { return strings.Contains(srv.output(), "listening") })
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+hostPort)
		if err != nil {
			t.Fatalf("--net=loopback -p %s:80: %v", hostPort, err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "hello from 80\n" {
			t.Fatalf("--net=loopback -p %s:80: read %q %v", hostPort, b, err)
		}
	}
	srv.cmd.Process.Kill()
	<-srv.done
	holder.cmd.Process.Kill()
	<-holder.done
	lx(t, "/", "", "terminate", name)
	if got := run("net=none", "socket", "inet", "stream"); got != "EACCES" {
		t.Fatalf("--net=none: socket(AF_INET): %s, want EACCES", got)
	}
	if _, errs, code := lx(t, "/", "", "run", "-d", name, "-p", strconv.Itoa(freePort(t))+":80", "--", "true"); code != 125 || !strings.Contains(errs, "runs with --net=none") {
		t.Fatalf("--publish on a --net=none instance: exit %d %q", code, errs)
	}
	lx(t, "/", "", "terminate", name)
	// Raw sockets: EPERM unless the instance allows them; then the host
	// decides (root has CAP_NET_RAW; an unprivileged user gets EPERM).
	if got := run("net=loopback", "socket", "inet", "raw"); got != "EPERM" {
		t.Fatalf("--net=loopback: a raw socket: %s, want EPERM", got)
	}
	if _, errs, code := lx(t, "/", "", "run", "-d", name, "--net-raw", "--", "true"); code != 125 || !strings.Contains(errs, "--net-raw") {
		t.Fatalf("--net-raw on a running instance without it: exit %d %q", code, errs)
	}
	lx(t, "/", "", "terminate", name)
	want := "ok"
	if os.Geteuid() != 0 {
		want = "EPERM"
	}
	if got := run("net=all,net-raw", "socket", "inet", "raw"); got != want {
		t.Fatalf("--net=all --net-raw: a raw socket: %s, want %s", got, want)
	}
	if got := run("net=all", "socket", "packet", "raw"); got != want {
		t.Fatalf("--net=all --net-raw: a packet socket: %s, want %s", got, want)
	}
	lx(t, "/", "", "terminate", name)
}

// TestNetUnprivileged: as an unprivileged host user (nobody), guest
// sockets work, a published port is reachable from the host, and a port
// below 1024 is refused (the host would refuse it to nobody); in mode
// loopback guest root binds port 80 of the instance and a published port is
// forwarded there.
func TestNetUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: already unprivileged; the other network tests cover this path")
	}
	need(t, "setpriv", "gcc", "curl")
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("skipped: no /usr/bin/python3 that nobody can run")
	}
	dir, err := os.MkdirTemp("", "lx-net-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	rt := filepath.Join(dir, "rt")
	os.Mkdir(rt, 0o700)
	os.Chown(rt, 65534, 65534)
	probe := buildProbe(t, dir, false)
	write(t, filepath.Join(dir, "index.html"), "served as nobody\n", 0o644)
	nobody := func(args ...string) []string {
		return append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
			"env", "XDG_RUNTIME_DIR=" + rt, "XDG_STATE_HOME=" + rt, "HOME=" + dir, lxBin}, args...)
	}
	defer exec.Command(nobody("shutdown")[0], nobody("shutdown")[1:]...).Run()
	run := func(args ...string) string {
		t.Helper()
		c := nobody(args...)
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run("run", "--", probe, "loopback"); out != "ok4 ok6\n" {
		t.Fatalf("TCP over loopback as nobody: %q", out)
	}
	if out := run("run", "--", probe, "bind", "127.0.0.1", "1000"); out != "EACCES\n" {
		t.Fatalf("port 1000 as nobody: %q, want EACCES", out)
	}
	hostPort := strconv.Itoa(freePort(t))
	srv := start(t, dir, false, nil, nobody("run", "-p", hostPort+":80", "--", py, "-m", "http.server", "80", "--bind", "127.0.0.1")...)
	if got := fetch(t, srv, "http://127.0.0.1:"+hostPort+"/"); got != "served as nobody\n" {
		t.Fatalf("curl of a published port as nobody: %q", got)
	}
	srv.cmd.Process.Kill()
	<-srv.done
	// The same in an instance of its own network: guest root binds port 80
	// there, and the broker forwards the published port into it.
	run("terminate", "default")
	hostPort = strconv.Itoa(freePort(t))
	srv = start(t, dir, false, nil, nobody("run", "--net=loopback", "-p", hostPort+":80", "--", py, "-m", "http.server", "80", "--bind", "127.0.0.1")...)
	if got := fetch(t, srv, "http://127.0.0.1:"+hostPort+"/"); got != "served as nobody\n" {
		t.Fatalf("curl of a port published by a --net=loopback instance as nobody: %q", got)
	}
}
