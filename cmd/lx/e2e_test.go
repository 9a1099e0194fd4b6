package main

// End-to-end tests: real guest programs under `lx run`, through the whole
// pipeline (filter → router → rings → servers). Each test runs in its own
// directory, which lx binds into the instance read-write.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"lx/lxbroker/proto"
	"lx/shared/idmap"
)

var lxBin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "lx-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if os.Getenv("LX_TEST_KEEP") == "" {
			defer os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "LX_TEST_KEEP: the lx binary, runtime dir and logs stay in", dir)
		}
		os.Chmod(dir, 0o755)
		lxBin = filepath.Join(dir, "lx")
		build := exec.Command("go", "build", "-o", lxBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build lx:", err)
			return 1
		}
		rt := isolateEnv(dir)
		os.Setenv("LX_GRACE", "2s")
		os.Setenv("LX_MAX_PROCS", "400") // the fork bomb test's bound; far above what the others use
		stop, err := startTestBroker()
		if err != nil {
			fmt.Fprintln(os.Stderr, "start the broker:", err)
			return 1
		}
		defer stop()
		code := m.Run()
		if sigsys := sandboxDeaths(rt); len(sigsys) > 0 {
			for l, excerpt := range sigsys {
				fmt.Fprintf(os.Stderr, "FAIL: a sandboxed component died of SIGSYS (a call off its list): %s\n%s\n", l, excerpt)
			}
			return 1
		}
		return code
	}()
	os.Exit(code)
}

// isolateEnv gives the tests a HOME and every XDG directory of their own
// under dir (a caller's XDG_DATA_HOME would otherwise bring its distros
// and default into every test), drops the caller's other XDG_ variables
// and the LX_ settings of lx itself (the tests' own knobs, LX_FUZZ_*,
// LX_CHAOS_*, LX_TEST_KEEP, stay), and returns the runtime directory.
func isolateEnv(dir string) string {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LX_NET", "LX_TRAP_PATHS", "LX_MEMORY", "LX_GRACE", "LX_HANG_AFTER", "LX_MAX_PROCS", "LX_SANDBOX":
			os.Unsetenv(k)
		}
		if strings.HasPrefix(k, "XDG_") {
			os.Unsetenv(k)
		}
	}
	rt := filepath.Join(dir, "run")
	os.Mkdir(rt, 0o700)
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	os.Setenv("HOME", home)
	os.Setenv("XDG_RUNTIME_DIR", rt)
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	return rt
}

// testBroker is the broker of the tests' runtime directory: a child of the
// test binary that gets SIGTERM (and so stops every instance) when the
// binary dies, however it dies.
var testBroker *exec.Cmd

// startTestBroker starts it and waits for its socket; stop shuts it down.
func startTestBroker() (stop func(), err error) {
	// Pdeathsig follows the thread that forked: the main thread, locked
	// to TestMain's goroutine, lives as long as the binary.
	runtime.LockOSThread()
	testBroker = exec.Command(lxBin, "broker")
	testBroker.Stderr = os.Stderr
	testBroker.Dir = "/" // as a broker lx starts
	testBroker.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := testBroker.Start(); err != nil {
		return nil, err
	}
	sock := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "lx", "broker.sock")
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			testBroker.Process.Kill()
			return nil, fmt.Errorf("no broker socket at %s after 5s", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		exec.Command(lxBin, "shutdown").Run()
		testBroker.Process.Signal(syscall.SIGTERM)
		testBroker.Wait()
	}, nil
}

// sandboxDeaths finds the component logs under runtime directory rt that
// show a death by SIGSYS, a call off the component's allow-list, and
// returns for each the first crash report (whose traceback names the call),
// since the logs go with the test's directory.
func sandboxDeaths(rt string) map[string]string {
	logs, _ := filepath.Glob(filepath.Join(rt, "lx", "instances", "*", "*.log"))
	bad := map[string]string{}
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if i := bytes.Index(b, []byte("SIGSYS: bad system call")); i >= 0 {
			lines := strings.SplitN(string(b[i:]), "\n", 60)
			bad[l] = strings.Join(lines[:min(len(lines), 59)], "\n")
		}
	}
	return bad
}

// lx runs `lx ARGS` in dir and returns stdout, stderr and the exit code.
// dir is given to the instance's guests first (giveToInstance).
func lx(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	giveToInstance(t, dir)
	cmd := exec.Command(lxBin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// giveToInstance hands directory dir, with what is in it, to host root's
// instances: their guests are host ids no user has (shared/idmap/subids.go), so a
// directory of root's is a stranger's to them, as it would be to any other
// user. A root user who wants its guests to write a directory does the
// same. Unprivileged users' guests are the user already. Only a test's
// own directories are changed: those below the temporary directory.
func giveToInstance(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 || !strings.HasPrefix(filepath.Clean(dir), os.TempDir()+"/") {
		return
	}
	ids, err := idmap.Instance()
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, int(ids.UID), int(ids.GID))
		}
		return nil
	})
}

// workDir is a new test directory given to the instance (giveToInstance).
func workDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	giveToInstance(t, dir)
	return dir
}

// runCmd runs cmd and returns its stdout, stderr and exit code; a command
// that cannot be run fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return out.String(), errb.String(), exitCode(err)
}

// exitCode is the exit code err of a finished command carries: 0 for nil,
// -1 when it did not exit (a signal, or it did not run).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// guest runs `lx run -- ARGS` in dir and fails the test unless it exits 0.
func guest(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errs, code := lx(t, dir, "", append([]string{"run", "--"}, args...)...)
	if code != 0 {
		t.Fatalf("lx run %q: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

func need(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("skipped: %s is not installed (.ci/run installs it)", b)
		}
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestUname(t *testing.T) {
	out := guest(t, t.TempDir(), "uname", "-a")
	if !strings.HasPrefix(out, "Linux lx ") {
		t.Fatalf("uname -a in the instance: %q (want hostname lx)", out)
	}
}

func TestShellPipeline(t *testing.T) {
	out := guest(t, t.TempDir(), "sh", "-c", `printf 'pear\napple\nfig\n' | sort | tr a-z A-Z | head -2`)
	if out != "APPLE\nFIG\n" {
		t.Fatalf("pipeline: %q", out)
	}
}

func TestStdin(t *testing.T) {
	out, _, code := lx(t, t.TempDir(), "one\ntwo\n", "run", "--", "wc", "-l")
	if code != 0 || strings.TrimSpace(out) != "2" {
		t.Fatalf("wc -l of stdin: %q exit %d", out, code)
	}
}

func TestLsL(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "script.sh"), "#!/bin/sh\n", 0o755)
	write(t, filepath.Join(dir, "notes.txt"), "hello", 0o640)
	os.Symlink("notes.txt", filepath.Join(dir, "link"))
	out := guest(t, dir, "ls", "-l")
	for _, want := range []string{"-rwxr-xr-x", "script.sh", "-rw-r-----", "notes.txt", "link -> notes.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls -l lacks %q:\n%s", want, out)
		}
	}
}

// tree returns path → mode, size, sha256 or link target, for comparison.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		fi, _ := os.Lstat(p)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			m[rel] = "link " + target
		case fi.IsDir():
			m[rel] = fi.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			m[rel] = fi.Mode().String() + " " + hex.EncodeToString(sum[:])
		}
		return nil
	})
	return m
}

func makeTree(t *testing.T, root string) {
	write(t, filepath.Join(root, "a.txt"), "alpha\n", 0o644)
	write(t, filepath.Join(root, "bin/run"), "#!/bin/sh\necho run\n", 0o755)
	write(t, filepath.Join(root, "deep/er/still/file"), strings.Repeat("x", 100000), 0o600)
	os.Symlink("../a.txt", filepath.Join(root, "deep/link"))
	os.Link(filepath.Join(root, "a.txt"), filepath.Join(root, "hard"))
}

func same(t *testing.T, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("trees differ in size: %d vs %d\n%v\n%v", len(a), len(b), a, b)
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: %q vs %q", k, v, b[k])
		}
	}
}

func TestCpA(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, filepath.Join(dir, "src"))
	guest(t, dir, "cp", "-a", "src", "dst")
	same(t, tree(t, filepath.Join(dir, "src")), tree(t, filepath.Join(dir, "dst")))
	var a, b syscall.Stat_t
	syscall.Stat(filepath.Join(dir, "src/a.txt"), &a)
	syscall.Stat(filepath.Join(dir, "dst/a.txt"), &b)
	if a.Mtim != b.Mtim {
		t.Errorf("cp -a lost the mtime: %v vs %v", a.Mtim, b.Mtim)
	}
}

func TestMkdirFind(t *testing.T) {
	dir := t.TempDir()
	out := guest(t, dir, "sh", "-c", "mkdir -p a/b/c a/d && touch a/b/c/f && find a | sort")
	if out != "a\na/b\na/b/c\na/b/c/f\na/d\n" {
		t.Fatalf("find: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "a/b/c/f")); err != nil {
		t.Fatalf("host does not see the guest's file: %v", err)
	}
}

func TestTarRoundTrip(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, filepath.Join(dir, "src"))
	guest(t, dir, "sh", "-c", "tar czf x.tgz src && mkdir out && tar xzf x.tgz -C out")
	same(t, tree(t, filepath.Join(dir, "src")), tree(t, filepath.Join(dir, "out/src")))
	sums := guest(t, dir, "sh", "-c", "cd src && find . -type f | sort | xargs sha256sum && cd ../out/src && find . -type f | sort | xargs sha256sum")
	lines := strings.Split(strings.TrimSpace(sums), "\n")
	half := len(lines) / 2
	if half == 0 || strings.Join(lines[:half], "\n") != strings.Join(lines[half:], "\n") {
		t.Fatalf("sha256 differ:\n%s", sums)
	}
}

func TestPython(t *testing.T) {
	need(t, "python3")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.txt"), "41\n", 0o644)
	out := guest(t, dir, "python3", "-c", `
import subprocess, os
n = int(open("in.txt").read()) + 1
open("out.txt", "w").write(str(n))
r = subprocess.run(["sh", "-c", "cat out.txt; echo; echo $$"], capture_output=True, text=True, check=True)
print(r.stdout.split()[0], os.getcwd() == os.path.realpath("."), open("/proc/1/cmdline").read().split("\0")[0] == "lx-init")
`)
	if out != "42 True True\n" {
		t.Fatalf("python: %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(b) != "42" {
		t.Fatalf("host reads %q", b)
	}
}

func TestBusyboxStatic(t *testing.T) {
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skip("skipped: /bin/busybox is missing (.ci/run installs busybox-static)")
	}
	if out, _ := exec.Command("file", bb).Output(); len(out) > 0 && !strings.Contains(string(out), "statically") {
		t.Logf("note: %s", out)
	}
	dir := t.TempDir()
	out := guest(t, dir, bb, "sh", "-c", "echo $((6*7)) > n && busybox cat n && busybox ls -1 /proc/self/ | busybox grep -c exe")
	if out != "42\n1\n" {
		t.Fatalf("busybox: %q", out)
	}
}

func TestStaticGo(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "static"), "testdata/static.go")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := guest(t, dir, "./static")
	if !strings.HasPrefix(out, "static go ok ") {
		t.Fatalf("static go: %q", out)
	}
}

func TestGCC(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "hello.c"), "#include <stdio.h>\nint main(void){printf(\"hello from gcc under lx\\n\");return 3;}\n", 0o644)
	out, errs, code := lx(t, dir, "", "run", "--", "sh", "-c", "gcc -O2 -o hello hello.c && ./hello")
	if code != 3 || out != "hello from gcc under lx\n" {
		t.Fatalf("gcc: exit %d out %q err %q", code, out, errs)
	}
}

func TestGuestKillsGuest(t *testing.T) {
	out := guest(t, t.TempDir(), "sh", "-c", "sleep 100 & pid=$!; kill -TERM $pid; wait $pid; echo status $?; kill -0 999999 2>/dev/null || echo gone")
	if out != "status 143\ngone\n" {
		t.Fatalf("kill: %q", out)
	}
}

func TestHostReadsGuestFile(t *testing.T) {
	dir := t.TempDir()
	guest(t, dir, "sh", "-c", "echo written by the guest > from-guest.txt")
	b, err := os.ReadFile(filepath.Join(dir, "from-guest.txt"))
	if err != nil || string(b) != "written by the guest\n" {
		t.Fatalf("host read %q, %v", b, err)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"/etc/passwd"}, 126, "cannot execute"},
		{[]string{"/nope"}, 127, "no such file"},
		{[]string{"no-such-command"}, 127, "command not found"},
		{[]string{"sh", "-c", "exit 9"}, 9, ""},
		{[]string{"sh", "-c", "kill -SEGV $$"}, 139, ""},
		{[]string{"/"}, 126, "cannot execute"},
	} {
		_, errs, code := lx(t, dir, "", append([]string{"run", "--"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%q: exit %d stderr %q, want %d with one line containing %q", c.args, code, errs, c.code, c.msg)
		}
	}
}

// TestErrnos runs a C probe natively and under lx: unknown syscall numbers
// get ENOSYS and the program goes on; bad pointers get EFAULT.
func TestErrnos(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	if out, err := exec.Command("gcc", "-O2", "-o", filepath.Join(dir, "probe"), "testdata/probe.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out := guest(t, dir, "./probe")
	if !strings.Contains(out, "syscall 1000: ENOSYS") || !strings.Contains(out, "stat bad path pointer: EFAULT") || !strings.HasSuffix(out, "still running\n") {
		t.Fatalf("probe under lx:\n%s", out)
	}
}

func status(t *testing.T) proto.Status {
	t.Helper()
	out, errs, code := lx(t, "/", "", "status", "--json")
	var st proto.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("lx status --json: exit %d %q %q", code, out, errs)
	}
	return st
}

func component(t *testing.T, name string) proto.ComponentStatus {
	t.Helper()
	for _, in := range status(t).Instances {
		for _, c := range in.Components {
			if c.Name == name {
				return c
			}
		}
	}
	t.Fatalf("no %s in lx status", name)
	return proto.ComponentStatus{}
}

// hold keeps the instance up for the test's length with a waiting client.
func hold(t *testing.T) {
	t.Helper()
	cmd := exec.Command(lxBin, "run", "--", "sleep", "300")
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if in, ok := instance(t, proto.DefaultDistro); ok && in.Clients > 0 && in.Guests > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the holding client never showed up in lx status")
}

func TestFssrvKilledBetweenCalls(t *testing.T) {
	dir := t.TempDir()
	hold(t)
	guest(t, dir, "stat", "/etc/hostname")
	before := component(t, "fssrv")
	if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	out := guest(t, dir, "sh", "-c", "stat -c %s /etc/hostname && echo after > f && cat f")
	if !strings.HasSuffix(out, "after\n") {
		t.Fatalf("after fssrv was killed: %q", out)
	}
	after := component(t, "fssrv")
	if after.Pid == before.Pid || after.Restarts != before.Restarts+1 {
		t.Fatalf("fssrv not restarted: before %+v after %+v", before, after)
	}
}

// startTrace starts lx trace with env and args and waits until it says
// tracing is on. It returns what lx trace printed on stderr by then, its
// stdout (complete once wait returns) and wait.
func startTrace(t *testing.T, env []string, args ...string) (notice string, out *bytes.Buffer, wait func()) {
	t.Helper()
	tr := exec.Command(lxBin, append([]string{"trace"}, args...)...)
	tr.Env = append(os.Environ(), env...)
	out = new(bytes.Buffer)
	tr.Stdout = out
	pr, pw, _ := os.Pipe()
	tr.Stderr = pw
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	started := make(chan string, 1)
	go func() {
		var seen []byte
		buf := make([]byte, 1024)
		for !strings.Contains(string(seen), "lx: tracing") || !bytes.HasSuffix(seen, []byte("\n")) {
			n, err := pr.Read(buf)
			seen = append(seen, buf[:n]...)
			if err != nil {
				started <- string(seen)
				return
			}
		}
		// A notice, if there is one, follows at once; lx trace says
		// nothing else on stderr before it stops.
		pr.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _ := pr.Read(buf)
		started <- string(append(seen, buf[:n]...))
	}()
	select {
	case notice = <-started:
	case <-time.After(10 * time.Second):
		tr.Process.Kill()
		t.Fatal("lx trace did not start")
	}
	if !strings.Contains(notice, "lx: tracing") {
		t.Fatalf("lx trace did not start: %q", notice)
	}
	return notice, out, func() { tr.Wait() }
}

// TestTraceFssrvOnly traces fssrv in an instance started with --trap-paths,
// where every path call goes to fssrv.
func TestTraceFssrvOnly(t *testing.T) {
	env, _ := importBusybox(t, "trc")
	notice, out, wait := startTrace(t, env, "-d", "trc", "--trap-paths", "--for", "5s", "fssrv")
	if strings.Contains(notice, "natively") {
		t.Errorf("a --trap-paths instance with a notice about native calls: %q", notice)
	}
	if o, errs, code := lxEnv(t, env, nil, "run", "-d", "trc", "--trap-paths", "--", "sh", "-c",
		"cat /etc/hostname >/dev/null; kill -0 $$; stat /nonexistent-lx-trace 2>/dev/null; true"); code != 0 {
		t.Fatalf("lx run: exit %d\n%s%s", code, o, errs)
	}
	wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var sawOpen, sawErr bool
	for _, l := range lines {
		if !strings.HasPrefix(l, "[pid ") || !strings.Contains(l, " = ") || !strings.HasSuffix(l, "µs>") {
			t.Errorf("not an fssrv trace line: %q", l)
		}
		if strings.Contains(l, `"/etc/hostname"`) && strings.Contains(l, "open") {
			sawOpen = true
		}
		if strings.Contains(l, `"/nonexistent-lx-trace"`) {
			sawErr = true
		}
	}
	if !sawOpen || !sawErr {
		t.Fatalf("trace misses the open of /etc/hostname or the stat of a missing file:\n%s", out.String())
	}
	if o, _, _ := lxEnv(t, env, nil, "status", "--json"); !strings.Contains(o, `"name":"trc"`) || !strings.Contains(o, `"paths":"trapped"`) {
		t.Errorf("lx status does not show instance trc with paths trapped: %s", o)
	}
}

// traceNative holds the default instance and traces server in it for 3 s
// (see startTrace); the notice lx trace gives must contain want.
func traceNative(t *testing.T, server, want string) (*bytes.Buffer, func()) {
	t.Helper()
	hold(t)
	notice, out, wait := startTrace(t, nil, "--for", "3s", server)
	if !strings.Contains(notice, want) {
		t.Errorf("lx trace %s of a native instance: notice %q lacks %q", server, notice, want)
	}
	return out, wait
}

// TestNativePaths: an instance started without --trap-paths runs the path
// calls the kernel resolves natively. The filter lets them through (the
// guest's open never reaches fssrv), lx trace says so, and a run that
// wants them trapped is refused with what to do.
func TestNativePaths(t *testing.T) {
	dir := t.TempDir()
	out, wait := traceNative(t, "fssrv", "runs the path calls the kernel resolves natively")
	guest(t, dir, "sh", "-c", "cat /etc/hostname >/dev/null; mkdir d; mv d e; rmdir e")
	wait()
	if strings.Contains(out.String(), "/etc/hostname") || strings.Contains(out.String(), "mkdir") {
		t.Errorf("fssrv served path calls of a native instance:\n%s", out.String())
	}
	_, errs, code := lx(t, dir, "", "run", "--trap-paths", "--", "true")
	if code != 125 || !strings.Contains(errs, "runs path calls natively; stop it first (lx terminate default)") {
		t.Errorf("lx run --trap-paths in a native instance: exit %d, %q", code, errs)
	}
	if o, _, _ := lx(t, dir, "", "status", "--json"); !strings.Contains(o, `"paths":"native"`) {
		t.Errorf("lx status does not show paths native: %s", o)
	}
}

// TestNativeExecs: a default instance runs execve natively (its
// binfmt_misc refuses 32-bit programs, lxbroker/binfmt.go): procsrv never
// sees an exec, lx trace procsrv says so, lx status shows it, and no
// guest can see the instance's binfmt_misc.
func TestNativeExecs(t *testing.T) {
	dir := t.TempDir()
	out, wait := traceNative(t, "procsrv", "execve and execveat (its binfmt_misc refuses 32-bit programs)")
	before := component(t, "procsrv").Calls
	got := guest(t, dir, "sh", "-c", "/bin/true && env true && ls /proc/sys/fs/binfmt_misc | wc -l && { grep -c binfmt_misc /proc/self/mountinfo || true; }")
	wait()
	if got != "0\n0\n" {
		t.Errorf("a guest sees a binfmt_misc: %q", got)
	}
	if strings.Contains(out.String(), "execve") {
		t.Errorf("procsrv served execs of a native instance:\n%s", out.String())
	}
	// lx run's own launch: lx-enter's two setns
	if after := component(t, "procsrv").Calls; after-before > 2 {
		t.Errorf("procsrv served %d calls for a run of 4 execs", after-before)
	}
	if in, _ := instance(t, proto.DefaultDistro); in.Execs != "native" {
		t.Errorf("lx status: execs %q, want native", in.Execs)
	}
}

// asNobody makes a runtime and a work directory of host user nobody and
// returns the work directory and a runner of lx as nobody there (output,
// exit code), with env added; nobody's broker is shut down at the end.
func asNobody(t *testing.T, env ...string) (string, func(args ...string) (string, int)) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lx-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	rt := filepath.Join(dir, "rt")
	os.Mkdir(rt, 0o700)
	os.Chown(rt, 65534, 65534)
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o755)
	os.Chown(work, 65534, 65534)
	run := func(args ...string) (string, int) {
		argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--",
			"env", "XDG_RUNTIME_DIR=" + rt, "XDG_STATE_HOME=" + rt, "HOME=" + work,
			"XDG_DATA_HOME=" + filepath.Join(work, ".local/share"), "XDG_CONFIG_HOME=" + filepath.Join(work, ".config"),
			"XDG_CACHE_HOME=" + filepath.Join(work, ".cache")}, env...)
		cmd := exec.Command("setpriv", append(append(argv, lxBin), args...)...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(err)
	}
	t.Cleanup(func() {
		run("shutdown")
		os.RemoveAll(dir)
	})
	return work, run
}

func TestUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: already unprivileged; the other tests cover this path")
	}
	need(t, "setpriv")
	work, run := asNobody(t)
	// Host nobody is guest root; host root has no mapping and shows as nobody.
	out, code := run("run", "--", "sh", "-c", "id -u; echo hi > mine.txt; cat mine.txt | tr a-z A-Z; stat -c %U /etc/passwd .")
	if code != 0 || out != "0\nHI\nnobody\nroot\n" {
		t.Fatalf("as nobody: exit %d %q", code, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(work, "mine.txt"), &st); err != nil || st.Uid != 65534 {
		t.Fatalf("file written as nobody: %v uid %d", err, st.Uid)
	}
	if out, code := run("run", "--", "/nope"); code != 127 {
		t.Fatalf("as nobody, /nope: exit %d %q", code, out)
	}
	// A distro imported by an unprivileged user: the owners and devices it
	// could not make are recorded, and the guest sees them.
	ball := filepath.Join(work, "rootfs.tar.gz")
	os.WriteFile(ball, rootfsTarball(t, false), 0o644)
	if out, code := run("import", "bb", ball); code != 0 {
		t.Fatalf("import as nobody: %d %s", code, out)
	}
	out, code = run("run", "-d", "bb", "--", "stat", "-c", "%U %g %a %F %t,%T", "/home/user/notes", "/etc/null")
	if code != 0 || out != "user 1000 600 regular file 0,0\nroot 0 666 character special file 1,3\n" {
		t.Fatalf("recorded owner and device as nobody: exit %d %q", code, out)
	}
	// Guest root's chown and mknod are recorded too, and persist across a
	// restart of the instance; a chown drops set-user-ID as Linux does.
	out, code = run("run", "-d", "bb", "--", "sh", "-c",
		"echo x > /etc/mine && chmod 4755 /etc/mine && chown 1000:50 /etc/mine && mknod /etc/disk b 8 1 && chown user /home/user/notes && chown 0:0 /etc/os-release && stat -c '%u:%g %a' /etc/mine")
	if code != 0 || out != "1000:50 755\n" {
		t.Fatalf("chown and mknod as nobody's guest root: exit %d %q", code, out)
	}
	if out, code := run("terminate", "bb"); code != 0 {
		t.Fatalf("terminate: %d %s", code, out)
	}
	out, code = run("run", "-d", "bb", "--", "stat", "-c", "%u:%g %F %t,%T", "/etc/mine", "/etc/disk", "/etc/os-release")
	if code != 0 || out != "1000:50 regular file 0,0\n0:0 block special file 8,1\n0:0 regular file 0,0\n" {
		t.Fatalf("recorded chown and mknod after a restart: exit %d %q", code, out)
	}
	// The unprivileged instance maps only the user's own id.
	if out, code := run("run", "-d", "bb", "-u", "user", "--", "true"); code != 125 || !strings.Contains(out, "maps only your own user id") {
		t.Fatalf("run -u as nobody: exit %d %q", code, out)
	}
	// The broker itself refuses another user (SO_PEERCRED), should its
	// socket be reachable.
	rtDir := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "lx")
	guest(t, work, "true") // root's broker is up
	os.Chmod(filepath.Dir(rtDir), 0o711)
	os.Chmod(rtDir, 0o711)
	os.Chmod(filepath.Join(rtDir, "broker.sock"), 0o777)
	probe := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/usr/bin/python3", "-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
print(s.recv(4096))  # the broker answers at once, before any request`, filepath.Join(rtDir, "broker.sock"))
	b, err := probe.CombinedOutput()
	os.Chmod(filepath.Join(rtDir, "broker.sock"), 0o600)
	os.Chmod(rtDir, 0o700)
	os.Chmod(filepath.Dir(rtDir), 0o700)
	if err != nil || !strings.Contains(string(b), "serves uid 0 only") {
		t.Fatalf("another user at the broker socket: %v %q", err, b)
	}
	// Another user's runtime directory is refused with a clear message.
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		"env", "XDG_RUNTIME_DIR="+os.Getenv("XDG_RUNTIME_DIR"), lxBin, "status")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "not a directory of yours") {
		t.Fatalf("nobody using root's runtime directory: %v %q", err, b)
	}
}

func TestRouterKilledBetweenCalls(t *testing.T) {
	dir := t.TempDir()
	hold(t)
	guest(t, dir, "true")
	before := component(t, "router")
	if err := syscall.Kill(before.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the broker see it die; a call in between waits for the new router
	if out := guest(t, dir, "sh", "-c", "ls / >/dev/null && echo ok"); out != "ok\n" {
		t.Fatalf("after the router was killed: %q", out)
	}
	if after := component(t, "router"); after.Restarts != before.Restarts+1 {
		t.Fatalf("router not restarted: before %+v after %+v", before, after)
	}
}

// TestInstanceEndsAfterLastClient: a daemon left running by a command does
// not keep the instance: after the grace period (LX_GRACE=2s here) init,
// the daemon, the router and the servers are all gone.
func TestInstanceEndsAfterLastClient(t *testing.T) {
	dir := t.TempDir()
	guest(t, dir, "sh", "-c", "setsid nohup sleep 1000 >/dev/null 2>&1 &")
	st := status(t)
	if len(st.Instances) != 1 {
		t.Fatalf("want one instance, got %+v", st)
	}
	pids := []int{st.Instances[0].Init}
	for _, c := range st.Instances[0].Components {
		pids = append(pids, c.Pid)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(status(t).Instances) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("instance still up 15s after its last client: %+v", status(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, pid := range pids {
		// Gone, zombie included, within the keeper's grace after teardown.
		for i := 0; syscall.Kill(pid, 0) == nil; i++ {
			if i == 50 {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				t.Errorf("process %d of the instance is still there: %s", pid, b)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if out, _ := exec.Command("pgrep", "-x", "-f", "sleep 1000").Output(); len(out) > 0 {
		t.Errorf("the daemon survived its instance: pids %s", out)
	}
}

// TestFSProbeMatchesNative runs the same path-call probe natively and under
// lx: every result and errno must be the same.
func TestFSProbeMatchesNative(t *testing.T) {
	need(t, "python3")
	src, err := os.ReadFile("testdata/fsprobe.py")
	if err != nil {
		t.Fatal(err)
	}
	run := func(dir string, under bool) string {
		write(t, filepath.Join(dir, "probe.py"), string(src), 0o644)
		os.Mkdir(filepath.Join(dir, "w"), 0o755)
		if under {
			return guest(t, dir, "sh", "-c", "cd w && python3 ../probe.py")
		}
		cmd := exec.Command("sh", "-c", "cd w && python3 ../probe.py")
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("native probe: %v\n%s", err, out)
		}
		return string(out)
	}
	native, got := run(t.TempDir(), false), run(t.TempDir(), true)
	if got != native {
		t.Errorf("under lx the probe differs from native:\n%s", diffLines(native, got))
	}
	if !strings.Contains(got, "create excl again EEXIST") {
		t.Fatalf("probe output looks wrong:\n%s", got)
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "native: %s\nlx:     %s\n", a, c)
		}
	}
	return b.String()
}

// TestNoHostTreeReachable: a file in the host's /tmp (outside the run's
// working directory) is reachable by no path a guest has: not the
// instance's private /tmp, not any process's fds, root or cwd in /proc.
func TestNoHostTreeReachable(t *testing.T) {
	marker, err := os.CreateTemp("", "lx-escape-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	rel := strings.TrimPrefix(marker.Name(), "/")
	out := guest(t, t.TempDir(), "sh", "-c", `
		[ -e "/`+rel+`" ] && echo "LEAK /`+rel+`"
		for f in /proc/[0-9]*/fd/* /proc/[0-9]*/root /proc/[0-9]*/cwd /proc/[0-9]*/task/*/fd/*; do
			[ -e "$f/`+rel+`" ] && echo "LEAK $f"
		done
		echo checked`)
	if out != "checked\n" {
		t.Fatalf("the host tree is reachable from the guest:\n%s", out)
	}
}

// TestGarbageArgumentsKillNoServer: every syscall number with garbage
// arguments; no server or router dies, and the instance still works.
func TestGarbageArgumentsKillNoServer(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	if out, err := exec.Command("gcc", "-O1", "-o", filepath.Join(dir, "garbage"), "testdata/garbage.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	hold(t)
	devModes := func() string {
		out, _ := exec.Command("stat", "-c", "%n %a %u %g %Y", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty").Output()
		return string(out)
	}
	devBefore := devModes()
	defer func() {
		if after := devModes(); after != devBefore {
			t.Errorf("the host's device nodes changed:\n%s\n%s", devBefore, after)
		}
	}()
	restarts := map[string]int{}
	for _, in := range status(t).Instances {
		for _, c := range in.Components {
			restarts[c.Name] = c.Restarts
		}
	}
	if out := guest(t, dir, "sh", "-c", "./garbage 2>/dev/null; mkdir -p x/y && ls x; chmod 600 /dev/null 2>&1 | grep -c 'Read-only'; for f in /proc/1/fd/*; do chmod 600 $f 2>/dev/null; done; true"); out != "garbage done\ny\n1\n" {
		t.Fatalf("garbage run: %q", out)
	}
	for _, in := range status(t).Instances {
		for _, c := range in.Components {
			if c.Restarts != restarts[c.Name] {
				t.Errorf("%s died during the garbage run (%s)", c.Name, c.LastCause)
			}
		}
	}
}

// TestBrokerDeath: when the broker dies the guests keep running (a daemon
// still answers); the next lx command starts a broker that tears the old
// instance down, daemon included, and serves a new one.
func TestBrokerDeath(t *testing.T) {
	dir := t.TempDir()
	guest(t, dir, "sh", "-c", "setsid sh -c 'while :; do date +%s%N > beat; sleep 0.1; done' >/dev/null 2>&1 &")
	st := status(t)
	old := st.Instances[0]
	if err := syscall.Kill(st.Broker, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	beat := func() string { b, _ := os.ReadFile(filepath.Join(dir, "beat")); return string(b) }
	first := beat()
	time.Sleep(500 * time.Millisecond)
	if beat() == first {
		t.Fatal("the guest daemon stopped when the broker died")
	}
	if out := guest(t, dir, "echo", "new broker"); out != "new broker\n" {
		t.Fatalf("run after the broker died: %q", out)
	}
	for _, pid := range append([]int{old.Init}, func() (p []int) {
		for _, c := range old.Components {
			p = append(p, c.Pid)
		}
		return
	}()...) {
		for i := 0; syscall.Kill(pid, 0) == nil; i++ {
			if i == 50 {
				t.Fatalf("process %d of the old instance survived the new broker", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopped := beat()
	time.Sleep(400 * time.Millisecond)
	if beat() != stopped {
		t.Fatal("the old instance's daemon still runs")
	}
}

// TestGracefulStop: at teardown a guest gets SIGTERM first and may clean up.
func TestGracefulStop(t *testing.T) {
	dir := t.TempDir()
	guest(t, dir, "sh", "-c", "setsid sh -c 'trap \"echo got TERM > term.txt; exit 0\" TERM; touch ready; while :; do sleep 0.05; done' >/dev/null 2>&1 &")
	for i := 0; ; i++ { // the trap is set once ready exists
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if i == 200 {
			t.Fatal("the daemon never got ready")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if st := status(t); len(st.Instances) == 0 || st.Instances[0].Guests < 1 {
		t.Fatalf("status shows no guests: %+v", st)
	}
	if _, errs, code := lx(t, "/", "", "terminate", "default"); code != 0 {
		t.Fatalf("terminate: %s", errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "term.txt")); string(b) != "got TERM\n" {
		t.Fatalf("the guest did not get SIGTERM before the end: %q", b)
	}
	if len(status(t).Instances) != 0 {
		t.Fatal("terminate left the instance")
	}
}

// TestGuestInheritsNoFd: a guest starts with its stdio and nothing else;
// no fd of init (its control socket to the broker), the keeper, the broker
// or whoever started the first lx reaches it. (The fuzzer found init's
// control socket at fd 4 of every guest: a write to it ended the
// instance.)
func TestGuestInheritsNoFd(t *testing.T) {
	if out := guest(t, t.TempDir(), "sh", "-c", "ls /proc/$$/fd"); out != "0\n1\n2\n" {
		t.Fatalf("a guest's fds: %q, want 0 1 2", out)
	}
}

// TestInitSurvivesSignals: like pid 1 of any pid namespace, lx init does
// not die of the signals guests send it, to its pid or to any of its
// threads (the fuzzer ended instances with kill(1, SIGTERM) and with a
// tkill to one of init's threads: the Go runtime exits on most signals).
func TestInitSurvivesSignals(t *testing.T) {
	hold(t)
	before, _ := instance(t, proto.DefaultDistro)
	guest(t, t.TempDir(), "sh", "-c", `for s in TERM HUP INT USR1 USR2 QUIT ABRT ALRM PIPE SEGV BUS ILL TRAP SYS XCPU STOP TSTP CONT; do
		for t in /proc/1/task/*; do kill -$s ${t##*/} 2>/dev/null; done
	done; true`)
	if out := guest(t, t.TempDir(), "echo", "ok"); out != "ok\n" {
		t.Fatalf("run after the signals: %q", out)
	}
	if after, ok := instance(t, proto.DefaultDistro); !ok || after.Init != before.Init {
		t.Fatalf("init died: %+v, then %+v", before, after)
	}
}
