package main

// "No way out": each way a guest once had to act as, or reach, something
// of the host it was not given, tried as the guest would, as host root and
// as an unprivileged user (host nobody) where it applies. Each test failed
// on the code before the fix it names.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/idmap"
)

// actor is a host user running lx: host root, with the test binary's
// broker, or host nobody, with a broker and directories of its own.
type actor struct {
	name string
	uid  int
	home string // a directory of the actor's own, its HOME
	env  []string
}

// lx runs `lx ARGS` as the actor in dir with stdin, and returns stdout,
// stderr and the exit code.
func (a actor) lx(t *testing.T, dir string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	var cmd *exec.Cmd
	if a.uid == 0 || a.uid == os.Geteuid() {
		cmd = exec.Command(lxBin, args...)
		cmd.Env = append(os.Environ(), a.env...)
	} else {
		argv := append([]string{"--reuid=" + strconv.Itoa(a.uid), "--regid=" + strconv.Itoa(a.uid), "--clear-groups", "--", "env"}, a.env...)
		cmd = exec.Command("setpriv", append(append(argv, lxBin), args...)...)
	}
	cmd.Dir = dir
	cmd.Stdin = stdin
	return runCmd(t, cmd)
}

// actors returns this process's user and, for root, host nobody, each
// with a home and data directory of its own (XDG_DATA_HOME, so distros a
// test imports are the test's).
func actors(t *testing.T) []actor {
	t.Helper()
	mk := func(name string, uid int) actor {
		home, err := os.MkdirTemp("", "lx-noway-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(home, 0o755)
		os.Chown(home, uid, uid)
		a := actor{name: name, uid: uid, home: home,
			env: []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
				"XDG_CACHE_HOME=" + filepath.Join(home, "cache")}}
		if uid != os.Geteuid() {
			rt := filepath.Join(home, "rt")
			os.Mkdir(rt, 0o700)
			os.Chown(rt, uid, uid)
			a.env = append(a.env, "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+rt)
		}
		t.Cleanup(func() {
			if uid != os.Geteuid() {
				a.lx(t, "/", nil, "shutdown")
			}
			os.RemoveAll(home)
		})
		return a
	}
	as := []actor{mk("self", os.Geteuid())}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err == nil {
			as = append(as, mk("nobody", 65534))
		} else {
			t.Log("setpriv is missing: the unprivileged cases are not run")
		}
	}
	return as
}

// work is a directory of the actor's own (given to root's instances).
func (a actor) work(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(a.home, "work-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(dir, a.uid, a.uid)
	if a.uid == 0 {
		giveToInstance(t, dir)
	}
	return dir
}

// importBB imports the busybox test distro as name for the actor.
func (a actor) importBB(t *testing.T, name string) {
	t.Helper()
	ball := filepath.Join(a.home, name+".tar.gz")
	if err := os.WriteFile(ball, rootfsTarball(t, false), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := a.lx(t, "/", nil, "import", name, ball); code != 0 {
		t.Fatalf("%s: import %s: exit %d %s %s", a.name, name, code, out, errs)
	}
	t.Cleanup(func() {
		a.lx(t, "/", nil, "terminate", name)
		a.lx(t, "/", nil, "unregister", name)
	})
}

// TestNoWayKernel runs the kernel part of testdata/escape.c in the default
// distro and in an imported one: the host kernel's global settings (sysctls, SysRq) are not
// writable, its secrets (kcore, keys, kallsyms, timer lists, firmware) not
// readable, and no thread makes a namespace. Failed before: guest root of
// root's instance was host root and /proc was mounted read-write, and a
// "thread" clone with namespace flags could run natively.
func TestNoWayKernel(t *testing.T) {
	bin := gcc(t, t.TempDir(), "escape", "escape.c", "-static", "-pthread")
	for _, a := range actors(t) {
		a.importBB(t, "nw")
		dir := a.work(t)
		b, _ := os.ReadFile(bin)
		os.WriteFile(filepath.Join(dir, "escape"), b, 0o755)
		for _, d := range []string{"default", "nw"} {
			args := []string{"run", "-d", d, "--", filepath.Join(dir, "escape"), "--kernel"}
			if d == "nw" {
				args = []string{"run", "-d", d, "--mount", dir + ":/opt/t:ro", "--", "/opt/t/escape", "--kernel"}
			}
			out, errs, code := a.lx(t, dir, nil, args...)
			if code != 0 || strings.Contains(out, "ESCAPED") || strings.Count(out, "denied") < 16 {
				t.Errorf("%s, distro %s: exit %d\n%s%s", a.name, d, code, out, errs)
			}
		}
	}
}

// TestNoWayIdentity: guest root of host root's instance is not host root.
// What it makes in a bound directory belongs on the host to the instance's
// ids (set-user-ID or not, it runs as no one's), it cannot chmod a host
// file its stdout was redirected to, and the sockets netsrv makes for a
// guest running as nobody are the guest's ids', so they cannot join a host
// root service's SO_REUSEPORT group. Failed before: all were host root's.
func TestNoWayIdentity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: only host root's instances had host root's ids")
	}
	ids, err := idmap.Instance()
	if err != nil {
		t.Fatal(err)
	}
	if ids.UID == 0 || ids.GID == 0 || ids.Size != 65536 {
		t.Fatalf("root's instances' ids: %+v", ids)
	}
	dir := workDir(t)
	out := guest(t, dir, "sh", "-c", "id -u; cp /bin/true suid && chmod 4755 suid && stat -c %a suid")
	if out != "0\n4755\n" {
		t.Fatalf("guest root in the bound directory: %q", out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "suid"), &st); err != nil || st.Uid != ids.UID || st.Gid != ids.GID {
		t.Fatalf("the guest's set-user-ID file on the host: %v uid %d gid %d, want %d %d", err, st.Uid, st.Gid, ids.UID, ids.GID)
	}
	// A host file of root's, as the run's stdout: guest root owns nothing
	// of root's.
	outFile := filepath.Join(t.TempDir(), "out")
	os.WriteFile(outFile, nil, 0o644)
	f, _ := os.OpenFile(outFile, os.O_WRONLY, 0)
	cmd := exec.Command(lxBin, "run", "--", "sh", "-c", "chmod 4777 /proc/self/fd/1 2>/dev/null; chown 0:0 /proc/self/fd/1 2>/dev/null; echo done")
	cmd.Stdout, cmd.Dir = f, dir
	cmd.Run()
	f.Close()
	if fi, err := os.Stat(outFile); err != nil || fi.Mode().Perm() != 0o644 || fi.Mode()&os.ModeSetuid != 0 {
		t.Fatalf("the host file the guest's stdout went to: %v %v", err, fi.Mode())
	}
	// A TCP listener made for a guest running as nobody belongs to the
	// instance's nobody on the host.
	srv := exec.Command(lxBin, "run", "--", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "python3", "-c",
		"import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)")
	srv.Dir = dir
	pipe, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	line := make([]byte, 16)
	n, _ := pipe.Read(line)
	port, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil {
		t.Fatalf("the guest's listener: %q", line[:n])
	}
	uid, ok := tcpListenerUID(port)
	if !ok || uid != ids.UID+65534 {
		t.Fatalf("the guest nobody's listener on port %d belongs to host uid %d (found %v), want %d", port, uid, ok, ids.UID+65534)
	}
}

// tcpListenerUID finds the owner of the TCP socket listening on 127.0.0.1
// port in the host's /proc/net/tcp.
func tcpListenerUID(port int) (uint32, bool) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, false
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && f[1] == want && f[3] == "0A" {
			uid, err := strconv.ParseUint(f[7], 10, 32)
			return uint32(uid), err == nil
		}
	}
	return 0, false
}

// TestNoWayBrokerSocket: the broker's socket and lx's own directories are
// never a guest's, whatever the working directory; and the broker refuses
// a client in another user namespace. Failed before: a run whose working
// directory covered the runtime directory handed the guest broker.sock,
// and lx restart --binary through it ran a program of the guest's on the
// host.
func TestNoWayBrokerSocket(t *testing.T) {
	for _, a := range actors(t) {
		// A runtime directory below the working directory, as /tmp/lx-UID
		// is below /tmp.
		top := a.work(t)
		rt := filepath.Join(top, "rt")
		os.Mkdir(rt, 0o700)
		os.Chown(rt, a.uid, a.uid)
		b := a
		b.env = append(append([]string(nil), a.env...), "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+filepath.Join(top, "state"))
		defer b.lx(t, "/", nil, "shutdown")
		sock := filepath.Join(rt, "lx", "broker.sock")
		out, errs, code := b.lx(t, top, nil, "run", "--", "sh", "-c",
			"ls -A "+filepath.Join(rt, "lx")+"; python3 -c 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\ns.connect(sys.argv[1])\nprint(\"connected\")' "+sock+" 2>&1 | tail -1")
		if code != 0 || strings.Contains(out, "broker.sock") || strings.Contains(out, "connected") {
			t.Errorf("%s: a guest below the runtime directory: exit %d\n%s%s", a.name, code, out, errs)
		}
		if _, err := os.Stat(sock); err != nil {
			t.Fatalf("%s: no broker socket on the host: %v", a.name, err)
		}
		// The same socket from another user namespace of the same uid.
		var unshared []string
		if a.uid != os.Geteuid() {
			unshared = []string{"setpriv", "--reuid=" + strconv.Itoa(a.uid), "--regid=" + strconv.Itoa(a.uid), "--clear-groups", "--"}
		}
		unshared = append(unshared, "unshare", "--user", "--map-current-user", "--", "python3", "-c",
			"import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\ns.settimeout(5)\ns.connect(sys.argv[1])\nprint(s.recv(4096))", sock)
		cmd := exec.Command(unshared[0], unshared[1:]...)
		res, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(res), "requests from inside an instance are refused") {
			t.Errorf("%s: a client in another user namespace: %v %q", a.name, err, res)
		}
		// --mount of lx's own directory, and working directories that
		// would show the host's sockets, are refused.
		if _, errs, code := b.lx(t, top, nil, "run", "--mount", filepath.Join(rt, "lx")+":/x", "--", "true"); code != 125 || !strings.Contains(errs, "lx's own directory") {
			t.Errorf("%s: --mount of the runtime directory: exit %d %q", a.name, code, errs)
		}
		if _, errs, code := b.lx(t, "/tmp", nil, "run", "--", "true"); code != 125 || !strings.Contains(errs, "working directory is /tmp") {
			t.Errorf("%s: a run in /tmp: exit %d %q", a.name, code, errs)
		}
	}
	if os.Geteuid() == 0 {
		if _, errs, code := lx(t, "/run", "", "run", "--", "true"); code != 125 || !strings.Contains(errs, "under /run") {
			t.Errorf("a run in /run: exit %d %q", code, errs)
		}
	}
}

// TestNoWayOtherDistros: a guest of the default distro whose working
// directory covers the data directory sees none of it, so it can neither
// read another distro's files nor swap its /proc for a link to the host's;
// and a distro whose /proc was swapped all the same (by the user) does not
// start with the host's /proc. Failed before: the guest renamed another
// distro's rootfs/proc and put proc -> /proc there, and that instance's lx
// ps listed the host's processes (and its sigsrv sent kill(-1) to them).
func TestNoWayOtherDistros(t *testing.T) {
	for _, a := range actors(t) {
		a.importBB(t, "victim")
		a.lx(t, "/", nil, "run", "-d", "victim", "--", "true") // its /proc is made
		data := filepath.Join(a.home, "data", "lx")
		out, errs, code := a.lx(t, a.home, nil, "run", "-d", "default", "--", "sh", "-c",
			"ls -A "+data+"; echo ==; mv "+filepath.Join(data, "distros", "victim", "rootfs", "proc")+" /tmp/x 2>/dev/null; echo moved $?")
		listing, _, _ := strings.Cut(out, "==")
		if code != 0 || strings.TrimSpace(listing) != "" || !strings.Contains(out, "moved 1") {
			t.Errorf("%s: a guest whose cwd covers the data directory: exit %d\n%s%s", a.name, code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(data, "distros", "victim", "rootfs", "proc")); err != nil {
			t.Fatalf("%s: the victim's /proc: %v", a.name, err)
		}
		// The user does what the guest could not.
		a.lx(t, "/", nil, "terminate", "victim")
		proc := filepath.Join(data, "distros", "victim", "rootfs", "proc")
		os.Remove(proc)
		os.Symlink("/proc", proc)
		marker := exec.Command("sleep", "4242.5")
		marker.Start()
		defer func() { marker.Process.Kill(); marker.Wait() }()
		out, errs, code = a.lx(t, "/", nil, "run", "-d", "victim", "--", "sh", "-c", "ls /proc")
		if code == 0 || !strings.Contains(errs, "/proc is not a directory") {
			t.Errorf("%s: a distro whose /proc is a link to the host's: exit %d %q %q", a.name, code, out, errs)
		}
		if ps, _, _ := a.lx(t, "/", nil, "ps", "-d", "victim", "--json"); strings.Contains(ps, "4242.5") {
			t.Errorf("%s: lx ps of the victim lists a host process:\n%s", a.name, ps)
		}
	}
}

// TestNoWayStdio: only files, pipes, sockets and terminals reach a guest,
// and a terminal only as a pty of the instance. Failed before: a directory
// as stdin let the guest fchdir(0) out to the host's /, and with stdout a
// terminal and stdin a pipe the guest held the host's terminal.
func TestNoWayStdio(t *testing.T) {
	for _, a := range actors(t) {
		dir := a.work(t)
		d, _ := os.Open(dir)
		out, errs, code := a.lx(t, dir, d, "run", "--", "sh", "-c", "cd /proc/self/fd/0/../../../.. && ls")
		d.Close()
		if code != 125 || !strings.Contains(errs, "stdin is a directory") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s: a directory as stdin: exit %d %q %q", a.name, code, out, errs)
		}
		z, _ := os.Open("/dev/zero")
		_, errs, code = a.lx(t, dir, z, "run", "--", "true")
		z.Close()
		if code != 125 || !strings.Contains(errs, "stdin is a device") {
			t.Errorf("%s: a device as stdin: exit %d %q", a.name, code, errs)
		}
		// A file of /proc: /proc/self/mem of the lx client would be its
		// memory (the client is host root's for root).
		for _, p := range []string{"/proc/self/status", "/proc/self/mem"} {
			cmd := exec.Command("sh", "-c", "exec \"$@\" <"+p, "sh", lxBin, "run", "--", "true")
			if a.uid != os.Geteuid() {
				cmd = exec.Command("setpriv", append(append([]string{"--reuid=" + strconv.Itoa(a.uid), "--regid=" + strconv.Itoa(a.uid), "--clear-groups", "--", "env"}, a.env...),
					"sh", "-c", "exec \"$@\" <"+p, "sh", lxBin, "run", "--", "true")...)
			} else {
				cmd.Env = append(os.Environ(), a.env...)
			}
			cmd.Dir = dir
			b, err := cmd.CombinedOutput()
			if exitCode(err) != 125 || !strings.Contains(string(b), "stdin is a file of /proc") {
				t.Errorf("%s: %s as stdin: %v %q", a.name, p, err, b)
			}
		}
	}
	// stdout on a host terminal, stdin a pipe: the guest writes to a pty
	// of the instance, whose output the client copies to the terminal.
	master, slave, err := openPtyPair()
	if err != nil {
		t.Skipf("skipped: no pty: %v", err)
	}
	defer master.Close()
	var host unix.Stat_t
	unix.Fstat(int(slave.Fd()), &host)
	dir := workDir(t)
	cmd := exec.Command(lxBin, "run", "--", "sh", "-c", "stat -L -c '%d:%i' /proc/self/fd/1; echo marker-$(cat)")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("piped")
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var got bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&got, master); close(done) }()
	cmd.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	text := got.String()
	if !strings.Contains(text, "marker-piped") {
		t.Fatalf("the guest's output did not reach the terminal: %q", text)
	}
	if strings.Contains(text, fmt.Sprintf("%d:%d", host.Dev, host.Ino)) {
		t.Fatalf("the guest's stdout is the host's terminal: %q", text)
	}
}

// openPtyPair opens a pty of the host's /dev/pts.
func openPtyPair() (*os.File, *os.File, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// TestNoWayKeeperEtc: the keeper writes the instance's hosts, hostname
// and resolv.conf into the distro's own /etc only; a guest that made /etc
// a link to a host directory gets none of them there. Failed before: the
// keeper followed the link from the host's root at the next start.
func TestNoWayKeeperEtc(t *testing.T) {
	for _, a := range actors(t) {
		a.importBB(t, "etc")
		// A host directory outside /tmp, which the keeper's staging tmpfs
		// covers in its own view.
		target, err := os.MkdirTemp("/var/tmp", "lx-noway-etc-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(target)
		os.Chown(target, a.uid, a.uid)
		out, errs, code := a.lx(t, "/", nil, "run", "-d", "etc", "--", "sh", "-c",
			"cd / && /bin/busybox mv etc etc.real && /bin/busybox ln -s "+target+" etc && echo swapped")
		if code != 0 || out != "swapped\n" {
			t.Fatalf("%s: swap /etc: exit %d %q %s", a.name, code, out, errs)
		}
		a.lx(t, "/", nil, "terminate", "etc")
		a.lx(t, "/", nil, "run", "-d", "etc", "--", "true")
		if ents, _ := os.ReadDir(target); len(ents) != 0 {
			t.Errorf("%s: the keeper wrote %d files into the host directory the guest's /etc points at: %v", a.name, len(ents), ents)
		}
	}
}

// TestNoWayPs: lx ps reads what guests control (their /etc/passwd, their
// command lines) without trusting it: a passwd that is a link to
// /dev/zero or a FIFO neither exhausts nor stalls it, and a command line
// with terminal escape sequences is printed escaped. Failed before: lx ps
// read /etc/passwd by name, in full, and printed argv raw.
func TestNoWayPs(t *testing.T) {
	for _, a := range actors(t) {
		a.importBB(t, "ps")
		for _, swap := range []string{"ln -s /dev/zero /etc/passwd", "mkfifo /etc/passwd"} {
			if out, errs, code := a.lx(t, "/", nil, "run", "-d", "ps", "--", "sh", "-c", "/bin/busybox rm -f /etc/passwd && /bin/busybox "+swap+" && echo ok"); code != 0 || out != "ok\n" {
				t.Fatalf("%s: %s: exit %d %q %s", a.name, swap, code, out, errs)
			}
			// a shell whose command line carries an escape sequence
			script := "exec sh -c 'sleep 30; :' \"$(/bin/busybox printf '\\033]0;pwned\\007')\""
			sleeper := exec.Command(lxBin, "run", "-d", "ps", "--", "sh", "-c", script)
			if a.uid != os.Geteuid() {
				sleeper = exec.Command("setpriv", append(append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", "env"}, a.env...),
					lxBin, "run", "-d", "ps", "--", "sh", "-c", script)...)
			}
			sleeper.Env = append(os.Environ(), a.env...)
			sleeper.Start()
			var out, errs string
			var code int
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < 50; i++ {
					out, errs, code = a.lx(t, "/", nil, "ps", "-d", "ps")
					if strings.Contains(out, "pwned") && strings.Contains(out, "sleep 30; :") && !strings.Contains(out, "printf") {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: lx ps stalls after %s", a.name, swap)
			}
			sleeper.Process.Kill()
			sleeper.Wait()
			if code != 0 || !strings.Contains(out, `\x1b]0;pwned\x07`) || strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("%s: lx ps after %s: exit %d %q %s", a.name, swap, code, out, errs)
			}
			js, _, _ := a.lx(t, "/", nil, "ps", "-d", "ps", "--json")
			var es []proto.PsEntry
			if json.Unmarshal([]byte(js), &es) != nil || strings.ContainsAny(js, "\x1b\x07") {
				t.Errorf("%s: lx ps --json after %s: %q", a.name, swap, js)
			}
		}
	}
}

// TestNoWayLogs: what a guest can make a component log, it cannot make it
// log without bound: 20,000 unknown syscall numbers and 2,000 refused
// namespace clones grow the router's and procsrv's logs by a few
// kilobytes. Failed before: a line (and a map entry) per number, a line
// per clone, megabytes in a second.
func TestNoWayLogs(t *testing.T) {
	src := filepath.Join(t.TempDir(), "spam.c")
	os.WriteFile(src, []byte(`#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
static int child(void *a) { (void)a; return 0; }
int main(void) {
	static char stack[16384];
	for (long nr = 1000; nr < 21000; nr++) syscall(nr);
	for (int i = 0; i < 2000; i++) clone(child, stack + sizeof stack, CLONE_NEWNET | SIGCHLD, 0);
	return 0;
}
`), 0o644)
	for _, a := range actors(t) {
		dir := a.work(t)
		bin := filepath.Join(dir, "spam")
		if b, err := exec.Command("gcc", "-O1", "-static", "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v %s", err, b)
		}
		os.Chown(bin, a.uid, a.uid)
		a.lx(t, dir, nil, "run", "--", "true")
		rt := runtimeDirOf(a)
		size := func() int64 {
			var n int64
			for _, c := range []string{"router", "procsrv"} {
				if fi, err := os.Stat(filepath.Join(rt, "lx", "instances", "default", c+".log")); err == nil {
					n += fi.Size()
				}
			}
			return n
		}
		before := size()
		if out, errs, code := a.lx(t, dir, nil, "run", "--", bin); code != 0 {
			t.Fatalf("%s: spam: exit %d %s %s", a.name, code, out, errs)
		}
		if grown := size() - before; grown > 64<<10 {
			t.Errorf("%s: the logs grew by %d bytes for 22,000 guest calls", a.name, grown)
		}
	}
}

// runtimeDirOf is the actor's XDG_RUNTIME_DIR.
func runtimeDirOf(a actor) string {
	for _, e := range a.env {
		if v, ok := strings.CutPrefix(e, "XDG_RUNTIME_DIR="); ok {
			return v
		}
	}
	return os.Getenv("XDG_RUNTIME_DIR")
}

// TestNoWayMemory: an instance's tmpfs mounts are sized from its memory
// bound, and for host root a memory cgroup bounds it all, a guest's own
// tmpfs included. Failed before: /tmp, /run and /dev/shm were each half the
// host's RAM, a guest tmpfs of size=100000g was taken, and nothing bounded
// the instance.
func TestNoWayMemory(t *testing.T) {
	for _, a := range actors(t) {
		a.importBB(t, "mem")
		out, errs, code := a.lx(t, "/", nil, "run", "-d", "mem", "--memory", "128M", "--", "sh", "-c",
			"/bin/busybox df -k /tmp /dev/shm /run | /bin/busybox tail -3; "+
				"/bin/busybox dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; /bin/busybox du -k /tmp/fill")
		if code != 0 {
			t.Fatalf("%s: exit %d %s %s", a.name, code, out, errs)
		}
		var total int64
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for _, l := range lines[:len(lines)-1] {
			if f := strings.Fields(l); len(f) > 1 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				total += n
			}
		}
		if total == 0 || total > 128<<10*9/16+64 {
			t.Errorf("%s: the instance's tmpfs sum to %d KiB for a bound of 128 MiB:\n%s", a.name, total, out)
		}
		if f := strings.Fields(lines[len(lines)-1]); len(f) == 0 || f[0] == "102400" {
			t.Errorf("%s: 100 MiB fit in /tmp of an instance of 128 MiB: %q", a.name, out)
		}
		if a.uid != 0 {
			continue // no memory cgroup for an unprivileged user
		}
		var st proto.Status
		js, _, _ := a.lx(t, "/", nil, "status", "--json")
		json.Unmarshal([]byte(js), &st)
		for _, in := range st.Instances {
			if in.Name == "mem" && (in.Memory != 128<<20 || in.MemoryBy != "cgroup") {
				t.Errorf("lx status of mem: memory %d by %q", in.Memory, in.MemoryBy)
			}
		}
		// A guest's own tmpfs, sized far past the bound: the cgroup stops
		// what is written into it.
		out, _, _ = a.lx(t, "/", nil, "run", "-d", "mem", "--", "sh", "-c",
			"/bin/busybox mkdir -p /tmp/big && /bin/busybox mount -t tmpfs -o size=100000g none /tmp/big && "+
				"/bin/busybox dd if=/dev/zero of=/tmp/big/fill bs=1M count=300 2>/dev/null; /bin/busybox du -k /tmp/big/fill")
		if f := strings.Fields(out); len(f) > 0 {
			if kb, _ := strconv.Atoi(f[0]); kb >= 200<<10 {
				t.Errorf("a guest tmpfs took %d KiB in an instance of 128 MiB", kb)
			}
		}
	}
}

var _ = net.Dial // net is used by helpers in other files
