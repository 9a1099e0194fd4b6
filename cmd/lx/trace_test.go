package main

// lx trace: strace-form lines with decoded arguments and guest pids,
// filters, JSON, a file, and nothing of lx's own launch.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestTraceStrace: in a --trap-paths instance, lx trace -e trace=openat
// fssrv of `cat /etc/hostname` shows the openat with its flags and path
// under the pid the guest has (echo $$ before exec), only openat lines,
// none of lx-enter's or init's calls; a guest named lx-enter is traced;
// an escape byte in a name is escaped.
func TestTraceStrace(t *testing.T) {
	env, _ := importBusybox(t, "trs")
	notice, out, wait := startTrace(t, env, "-d", "trs", "--trap-paths", "--for", "4s", "-e", "trace=openat", "fssrv")
	o, errs, code := lxEnv(t, env, nil, "run", "-d", "trs", "--trap-paths", "--", "sh", "-c",
		`echo $$; printf lx-enter > /proc/$$/comm; read l < /etc/passwd; cat "$(printf '/tmp/\033[2Jx')" 2>/dev/null; exec cat /etc/hostname`)
	if code != 0 {
		t.Fatalf("lx run: exit %d %q %s", code, o, errs)
	}
	wait()
	pid := strings.SplitN(o, "\n", 2)[0]
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := regexp.MustCompile(`^\[pid ` + pid + `\] openat\(AT_FDCWD, "/etc/hostname", O_RDONLY(\|O_[A-Z]+)*\) = \S+ <[0-9.]+µs>$`)
	var sawHostname, sawRenamed, sawEscape bool
	for _, l := range lines {
		switch {
		case !strings.HasPrefix(l, "[pid ") || !strings.Contains(l, "] openat("):
			t.Errorf("-e trace=openat let through %q", l)
		case regexp.MustCompile(`"/proc/[0-9]+/root|"/dev/null", O_RDWR\|O_CLOEXEC`).MatchString(l):
			t.Errorf("a call of lx's own launch: %q", l)
		case strings.ContainsAny(l, "\x1b\x00"):
			t.Errorf("a raw control byte in %q", l)
		}
		sawHostname = sawHostname || want.MatchString(l)
		sawRenamed = sawRenamed || strings.HasPrefix(l, "[pid "+pid+"] openat(AT_FDCWD, \"/etc/passwd\"")
		sawEscape = sawEscape || strings.Contains(l, `"/tmp/\x1b[2Jx"`)
	}
	if !sawHostname || !sawRenamed || !sawEscape {
		t.Errorf("pid %s: /etc/hostname %v, the renamed shell's /etc/passwd %v, the escaped name %v in:\n%s\nnotice %q",
			pid, sawHostname, sawRenamed, sawEscape, out.String(), notice)
	}
}

// TestTraceFilters: -p keeps one guest's calls, --json prints events, -o
// writes them to a file; a call that runs natively is said so once.
func TestTraceFilters(t *testing.T) {
	env, _ := importBusybox(t, "trf")
	if _, errs, code := lxEnv(t, env, nil, "run", "-d", "trf", "--trap-paths", "--", "true"); code != 0 {
		t.Fatalf("start: %s", errs)
	}
	bg := exec.Command(lxBin, "run", "-d", "trf", "--", "sh", "-c", `echo $$ > /tmp/pid; sleep 3; read l < /etc/hostname; sleep 30`)
	bg.Env = append(os.Environ(), env...)
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bg.Process.Kill(); bg.Wait() })
	var pid string
	waitFor(t, func() bool {
		o, _, _ := lxEnv(t, env, nil, "run", "-d", "trf", "--", "cat", "/tmp/pid")
		pid = strings.TrimSpace(o)
		return pid != ""
	})
	// the pid the guest has is the one lx ps shows
	if o, _, _ := lxEnv(t, env, nil, "ps", "-d", "trf", "--json"); !regexp.MustCompile(`"pid":` + pid + `,[^}]*"cmdline":\["sh"`).MatchString(o) {
		t.Errorf("lx ps shows no sh of pid %s: %s", pid, o)
	}
	file := filepath.Join(t.TempDir(), "trace.json")
	_, _, waitTrace := startTrace(t, env, "-d", "trf", "--for", "4s", "-p", pid, "--json", "-o", file, "-e", "openat")
	lxEnv(t, env, nil, "run", "-d", "trf", "--", "cat", "/etc/os-release")
	waitTrace()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var saw bool
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev struct {
			Server string `json:"server"`
			Pid    int    `json:"pid"`
			Call   string `json:"call"`
			Text   string `json:"text"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if ev.Call != "openat" || strings.Contains(ev.Text, "os-release") || pid != strconv.Itoa(ev.Pid) {
			t.Errorf("-p %s -e openat let through %+v", pid, ev)
		}
		saw = saw || (ev.Server == "fssrv" && strings.Contains(ev.Text, `"/etc/hostname"`))
	}
	if !saw {
		t.Errorf("no openat of /etc/hostname by %s in:\n%s", pid, b)
	}
	if _, errs, code := lx(t, t.TempDir(), "", "trace", "--for", "1s", "-e", "openat,bogus_call_x"); code != 125 || !strings.Contains(errs, `no x86-64 system call is named "bogus_call_x"`) {
		t.Errorf("-e of an unknown call: exit %d %q", code, errs)
	}
	// In a default instance, openat runs natively: the trace says so once.
	hold(t)
	notice, _, wait := startTrace(t, nil, "--for", "1s", "-e", "trace=openat", "fssrv")
	wait()
	if strings.Count(notice, "openat runs natively in instance default") != 1 || !strings.Contains(notice, "--trap-paths") {
		t.Errorf("notice for a native openat: %q", notice)
	}
}
