package main

// The command line: every verb's help (golden files, and the README's
// usage block), errors that are one line with status 125, and the fixes
// of issue 18's findings.

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden help files in testdata/help")

// helpEnv is an environment with none of lx's own settings, whose values
// the help shows as defaults.
func helpEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LX_") {
			env = append(env, kv)
		}
	}
	return env
}

// helpOf runs lx with args and wants status 0, nothing on stderr.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(lxBin, args...)
	cmd.Env = helpEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || errb.Len() != 0 {
		t.Fatalf("lx %s: %v, stderr %q", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// userVerbs are the verbs `lx help` lists.
var userVerbs = []string{"run", "shell", "import", "export", "list", "set-default", "set-mounts", "config",
	"unregister", "terminate", "ps", "status", "restart", "trace", "shutdown", "syscalls", "broker", "completion"}

// TestHelpGolden: `lx VERB --help`, `-h` and `lx help VERB` print the same
// text, the one in testdata/help/VERB.txt (go test -run TestHelpGolden
// -update rewrites them), and `lx help` the one in help.txt.
func TestHelpGolden(t *testing.T) {
	check := func(name, got string) {
		t.Helper()
		file := filepath.Join("testdata", "help", name+".txt")
		if *update {
			os.MkdirAll(filepath.Dir(file), 0o755)
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (go test ./cmd/lx -run TestHelpGolden -update writes it)", err)
		}
		if got != string(want) {
			t.Errorf("lx %s help differs from %s (-update rewrites it):\n%s", name, file, got)
		}
	}
	top := helpOf(t, "help")
	check("lx", top)
	for _, alt := range [][]string{{"--help"}, {"-h"}} {
		if got := helpOf(t, alt...); got != top {
			t.Errorf("lx %s differs from lx help:\n%s", alt[0], got)
		}
	}
	for _, v := range userVerbs {
		if v == "completion" {
			continue // cobra's own
		}
		got := helpOf(t, v, "--help")
		check(v, got)
		if !strings.HasPrefix(got, "usage: lx "+v) || !strings.Contains(got, "-h, --help") {
			t.Errorf("lx %s --help has no usage line or no -h: %s", v, got)
		}
		if h := helpOf(t, v, "-h"); h != got {
			t.Errorf("lx %s -h differs from --help", v)
		}
		if h := helpOf(t, "help", v); h != got {
			t.Errorf("lx help %s differs from lx %s --help", v, v)
		}
		if !strings.Contains(top, "lx "+v) {
			t.Errorf("lx help does not list %s", v)
		}
		// every flag a verb has is in its synopsis (the top-level help's too)
		for _, line := range strings.Split(got, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || !strings.HasPrefix(f[0], "-") || f[0] == "-h," {
				continue
			}
			long := f[0]
			if strings.HasSuffix(long, ",") && len(f) > 1 {
				long = f[1]
			}
			syn := got[:strings.Index(got, "\n\n")]
			short := strings.TrimSuffix(f[0], ",")
			if !strings.Contains(syn, long) && !regexp.MustCompile(regexp.QuoteMeta(short)+`\b`).MatchString(syn) {
				t.Errorf("lx %s: option %s is not in the synopsis %q", v, long, syn)
			}
		}
	}
}

// TestHelpMatchesReadme: the README's usage block is `lx help`.
func TestHelpMatchesReadme(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## Using it\n\n```\n")
	if !ok {
		t.Fatal("README.md has no ``` block right under ## Using it")
	}
	block, _, _ := strings.Cut(after, "```\n")
	if top := helpOf(t, "help"); block != top {
		t.Errorf("README's usage block is not lx help's text; lx help prints:\n%s", top)
	}
}

// TestHelpStopsNothing (finding 1): -h and --help of shutdown and
// syscalls print help only: a running guest goes on.
func TestHelpStopsNothing(t *testing.T) {
	dir := t.TempDir()
	giveToInstance(t, dir)
	cmd := exec.Command(lxBin, "run", "--", "sleep", "30")
	cmd.Dir = dir
	var errb strings.Builder
	cmd.Stderr = &errb
	defer func() {
		if t.Failed() {
			t.Log("lx run sleep: ", errb.String())
		}
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, func() bool { out, _, _ := lx(t, dir, "", "ps"); return strings.Contains(out, "sleep 30") })
	for _, args := range [][]string{{"shutdown", "-h"}, {"shutdown", "--help"}, {"syscalls", "-h"}} {
		out := helpOf(t, args...)
		if !strings.HasPrefix(out, "usage: lx "+args[0]) || strings.Contains(out, "# instance") {
			t.Errorf("lx %s: %q, want its help", strings.Join(args, " "), out)
		}
	}
	if out, _, _ := lx(t, dir, "", "ps"); !strings.Contains(out, "sleep 30") {
		t.Fatalf("the guest is gone after lx shutdown -h: %s", out)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("timed out")
}

// TestUsageErrors (finding 5): a wrong flag, argument count or command is
// one line naming what to do, status 125; --version says what lx found.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--bogus", "true"}, "lx run: unknown flag: --bogus; see 'lx run --help'"},
		{[]string{"run"}, "lx run: wants a command to run; see 'lx run --help'"},
		{[]string{"terminate"}, "lx terminate: wants a distro NAME; see 'lx terminate --help'"},
		{[]string{"terminate", "a", "b"}, `lx terminate: wants a distro NAME, not also "b"; see 'lx terminate --help'`},
		{[]string{"shutdown", "now"}, `lx shutdown: takes no arguments (got "now"); see 'lx shutdown --help'`},
		{[]string{"statsu"}, `lx: unknown command "statsu" (did you mean status?); run 'lx help' for the list`},
		{[]string{"list", "-x"}, "lx list: unknown shorthand flag: 'x' in -x; see 'lx list --help'"},
		{[]string{"broker", "--foreground"}, "lx broker: unknown flag: --foreground; see 'lx broker --help'"},
		{[]string{"run", "--memory", "lots", "true"}, "lx run: invalid argument"},
		{[]string{"ps", "-d", "nosuch"}, "lx: no distro named nosuch; 'lx list' shows them"},
		{[]string{"trace", "nosuchserver", "--for", "1s"}, `lx: no server "nosuchserver"`},
	} {
		_, errs, code := lx(t, dir, "", c.args...)
		if code != 125 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, c.want) {
			t.Errorf("lx %s: exit %d, stderr %q; want 125 and one line %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
	out, _, code := lx(t, dir, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "lx ") || !strings.Contains(out, "seccomp user notification") || !strings.Contains(out, "go1.") {
		t.Errorf("lx --version: exit %d %q", code, out)
	}
	// GNU style: flags after arguments, long names, = values.
	if out, errs, code := lx(t, dir, "", "syscalls", "--distro=default"); code != 0 || !strings.HasPrefix(out, "# instance default") {
		t.Errorf("lx syscalls --distro=default: exit %d %q %s", code, out, errs)
	}
	// completion, with the distro names
	if out, _, code := lx(t, dir, "", "completion", "bash"); code != 0 || !strings.Contains(out, "__start_lx") {
		t.Errorf("lx completion bash: exit %d %.200q", code, out)
	}
	if out, _, code := lx(t, dir, "", "__complete", "terminate", ""); code != 0 || !strings.HasPrefix(out, "default\n") {
		t.Errorf("completion of a distro name: exit %d %q", code, out)
	}
}

// TestTerminateNoSuch (finding 2): terminate names an unknown distro.
func TestTerminateNoSuch(t *testing.T) {
	_, errs, code := lx(t, t.TempDir(), "", "terminate", "nosuch")
	if code != 125 || !strings.Contains(errs, "no distro named nosuch") || strings.Count(errs, "\n") != 1 {
		t.Errorf("lx terminate nosuch: exit %d %q", code, errs)
	}
}

// TestCdErrors (finding 4): --cd names the directory it cannot enter, and
// enters it as the run's user, as chdir(2) would.
func TestCdErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ cd, want string }{
		{"/nonexistent", `lx: cannot enter directory "/nonexistent": no such file or directory`},
		{"/etc/passwd", `lx: cannot enter directory "/etc/passwd": not a directory`},
	} {
		if _, errs, code := lx(t, dir, "", "run", "--cd", c.cd, "--", "pwd"); code != 125 || strings.TrimSpace(errs) != c.want {
			t.Errorf("--cd %s: exit %d %q, want 125 %q", c.cd, code, errs, c.want)
		}
	}
	env, _ := importBusybox(t, "cd")
	for _, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-u", "user", "--cd", "/root"}, 125, `lx: cannot enter directory "/root" as user: permission denied`},
		{[]string{"--cd", "/nonexistent"}, 125, `lx: cannot enter directory "/nonexistent" as root: no such file or directory`},
		{[]string{"--cd", "/etc/passwd"}, 125, `lx: cannot enter directory "/etc/passwd" as root: not a directory`},
		{[]string{"-u", "user", "--cd", "/etc"}, 0, "/etc"},
		{[]string{"-u", "user"}, 0, "/home/user"},
		{[]string{"--cd", "/root"}, 0, "/root"},
	} {
		if c.args[0] == "-u" && os.Geteuid() != 0 {
			t.Logf("skipped %v: an unprivileged user's instance maps no other user", c.args)
			continue
		}
		out, errs, code := lxEnv(t, env, nil, append(append([]string{"run", "-d", "cd"}, c.args...), "--", "pwd")...)
		got := strings.TrimSpace(out + errs)
		if code != c.code || got != c.out {
			t.Errorf("run %v pwd: exit %d %q, want %d %q", c.args, code, got, c.code, c.out)
		}
	}
}

// TestMountPointMustExist (finding 3): --mount at a directory the distro
// lacks is refused, and nothing is made in the distro.
func TestMountPointMustExist(t *testing.T) {
	env, data := importBusybox(t, "mp")
	host := t.TempDir()
	_, errs, code := lxEnv(t, env, nil, "run", "-d", "mp", "--mount", host+":/nope/deeper", "--", "true")
	if code != 125 || !strings.Contains(errs, "/nope/deeper does not exist in the instance") {
		t.Errorf("--mount at a missing directory: exit %d %q", code, errs)
	}
	if m, _ := filepath.Glob(filepath.Join(data, "lx", "distros", "*", "nope")); len(m) != 0 {
		t.Errorf("the refused mount made %v", m)
	}
	if out, errs, code := lxEnv(t, env, nil, "run", "-d", "mp", "--", "ls", "/nope"); code == 0 {
		t.Errorf("/nope exists in the distro: %q %s", out, errs)
	}
}

// TestBrokerKeepsNoInheritedFds (finding 9): a broker started by an lx
// run under flock(1) does not hold the lock.
func TestBrokerKeepsNoInheritedFds(t *testing.T) {
	need(t, "flock")
	dir := t.TempDir()
	rt := filepath.Join(dir, "rt")
	os.Mkdir(rt, 0o700)
	lock := filepath.Join(dir, "lock")
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+rt)
	defer func() {
		c := exec.Command(lxBin, "shutdown")
		c.Env = env
		c.Run()
	}()
	giveToInstance(t, dir)
	cmd := exec.Command("flock", lock, lxBin, "run", "--", "true")
	cmd.Env, cmd.Dir = env, dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("flock lx run: %v %s", err, out)
	}
	// The broker runs on (the grace); the lock must be free.
	st := exec.Command(lxBin, "status", "--json")
	st.Env = env
	if out, err := st.Output(); err != nil || !strings.Contains(string(out), `"broker_pid"`) {
		t.Fatalf("no broker: %v %s", err, out)
	}
	if out, err := exec.Command("flock", "-n", lock, "true").CombinedOutput(); err != nil {
		t.Errorf("the broker holds flock's lock: %v %s", err, out)
	}
}

// TestIsolatedTests (finding 10): the tests run with a HOME and every XDG
// directory of their own, and their broker is the test binary's child
// (which SIGTERMs it when it dies: its instances go with it).
func TestIsolatedTests(t *testing.T) {
	base := filepath.Dir(lxBin)
	for _, k := range []string{"HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"} {
		if v := os.Getenv(k); !strings.HasPrefix(v, base+"/") {
			t.Errorf("%s=%q is not the tests' own (under %s)", k, v, base)
		}
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(strings.SplitN(kv, "=", 2)[1], base+"/") {
			t.Errorf("the caller's %s reaches the tests", kv)
		}
	}
	if testBroker == nil || testBroker.Process == nil {
		t.Fatal("TestMain started no broker")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(testBroker.Process.Pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if f[1] != strconv.Itoa(os.Getpid()) {
		t.Errorf("the broker's parent is %s, not the test binary %d", f[1], os.Getpid())
	}
	out, _, _ := lx(t, t.TempDir(), "", "status", "--json")
	if !strings.Contains(out, `"broker_pid":`+strconv.Itoa(testBroker.Process.Pid)) {
		t.Errorf("the broker serving the tests is not TestMain's (%d): %.200s", testBroker.Process.Pid, out)
	}
}

// TestBrokerStopsOnSIGTERM: SIGTERM to the broker (a service manager's
// stop, or the parent death signal of the test binary's broker) stops its
// instances with every guest, as lx shutdown does, instead of leaving them
// running unsupervised.
func TestBrokerStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	rt := filepath.Join(dir, "rt")
	os.Mkdir(rt, 0o700)
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+rt)
	giveToInstance(t, dir)
	run := exec.Command(lxBin, "run", "--", "sleep", "60")
	run.Env, run.Dir = env, dir
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	var init, broker int
	waitFor(t, func() bool {
		st := exec.Command(lxBin, "status", "--json")
		st.Env = env
		out, _ := st.Output()
		var s struct {
			Broker    int `json:"broker_pid"`
			Instances []struct {
				Init   int `json:"init_pid"`
				Guests int `json:"guests"`
			} `json:"instances"`
		}
		if json.Unmarshal(out, &s) != nil || len(s.Instances) != 1 || s.Instances[0].Guests < 1 {
			return false
		}
		init, broker = s.Instances[0].Init, s.Broker
		return true
	})
	syscall.Kill(broker, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("lx run goes on after its broker got SIGTERM")
	}
	waitFor(t, func() bool {
		return syscall.Kill(init, 0) == syscall.ESRCH && syscall.Kill(broker, 0) == syscall.ESRCH
	})
}
