package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lx/lxbroker/proto"
	"lx/servers/components"
)

// TestFuzzSyscalls runs testdata/fuzz.c, random syscalls with random
// arguments from forked children (each killed after a second), in an
// imported busybox distro for LX_FUZZ_SECONDS (default 20; LX_FUZZ_SEED
// replays a seed), and wants: no server or router died or was restarted
// (same pids, same restart counters), the instance still runs a command,
// the broker is the same and alive, no component log shows a SIGSYS or a
// fatal error, and nothing outside the instance changed (a canary file
// next to the fuzzer's directory, the host's /dev/null, the host's /tmp).
//
// The long run: LX_FUZZ_SECONDS=300 go test ./cmd/lx -run TestFuzzSyscalls -v
func TestFuzzSyscalls(t *testing.T) {
	seconds := 20
	if s, err := strconv.Atoi(os.Getenv("LX_FUZZ_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	env, _ := importBusybox(t, "fz")

	// The fuzzer's directory is mounted read-only; the canary lies next
	// to it, outside the instance.
	host := t.TempDir()
	os.Chmod(host, 0o755)
	bin := filepath.Join(host, "bin")
	os.Mkdir(bin, 0o755)
	gcc(t, bin, "fuzz", "fuzz.c", "-static")
	canary := filepath.Join(host, "canary")
	write(t, canary, "CANARY", 0o644)
	fileState := func(p string) string {
		fi, err := os.Stat(p)
		if err != nil {
			return err.Error()
		}
		b, _ := os.ReadFile(p)
		return fmt.Sprintf("%v %d %v %q", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), b)
	}
	canaryBefore := fileState(canary)
	tmpBefore := dirNames(t, "/tmp")

	// A holding client keeps the instance up, so that its components can
	// be compared before and after.
	run := []string{"run", "-d", "fz", "--net", "loopback"}
	holder := exec.Command(lxBin, append(run, "--", "sleep", "100000")...)
	holder.Env = append(os.Environ(), env...)
	holder.Dir = "/"
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	var before proto.InstanceStatus
	for i := 0; ; i++ {
		if in, ok := instance(t, "fz"); ok && in.Clients > 0 && len(in.Components) == len(components.Table) {
			before = in
			break
		}
		if i == 200 {
			t.Fatal("the fz instance never showed up in lx status")
		}
		time.Sleep(50 * time.Millisecond)
	}
	broker := status(t).Broker

	args := append(append([]string{}, run...), "--mount", bin+":/opt/t:ro", "--",
		"/opt/t/fuzz", "/fuzz", strconv.Itoa(seconds))
	if seed := os.Getenv("LX_FUZZ_SEED"); seed != "" {
		args = append(args, seed)
	}
	// A bound against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lxBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "/"
	out, errs, code := runCmd(t, cmd)
	t.Logf("fuzzer:\n%s", out)
	if code != 0 || !strings.Contains(out, "fuzz done") {
		t.Errorf("fuzzer: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	logs, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "lx", "instances", "fz", "*.log"))
	defer func() {
		if t.Failed() {
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	}()
	after, ok := instance(t, "fz")
	if !ok {
		t.Fatal("the fz instance is gone after the fuzz run")
	}
	if after.Init != before.Init {
		t.Errorf("init pid changed: %d → %d", before.Init, after.Init)
	}
	calls := uint64(0)
	for _, c := range after.Components {
		calls += c.Calls
		for _, b := range before.Components {
			if b.Name == c.Name && (b.Pid != c.Pid || b.Restarts != c.Restarts) {
				t.Errorf("%s died during the fuzz run: pid %d → %d, restarts %d → %d (%s)",
					c.Name, b.Pid, c.Pid, b.Restarts, c.Restarts, c.LastCause)
			}
		}
		t.Logf("%s: pid %d, %d calls, %d errors, %d restarts", c.Name, c.Pid, c.Calls, c.Errors, c.Restarts)
	}
	if o, e, code := lxEnv(t, env, nil, append(run, "--", "echo", "ok")...); code != 0 || o != "ok\n" {
		t.Errorf("lx run after the fuzz run: exit %d %q %q", code, o, e)
	}
	if st := status(t); st.Broker != broker || syscall.Kill(broker, 0) != nil {
		t.Errorf("the broker changed or died: %d → %d", broker, st.Broker)
	}
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		for _, bad := range []string{"SIGSYS", "fatal error:", "panic:"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s shows %q", filepath.Base(l), bad)
			}
		}
		// What the errors counters count: a handler's panic (answered
		// EIO, but a handler must answer bad input with an errno), a
		// dropped frame, a failed reply.
		for _, line := range strings.Split(string(b), "\n") {
			switch {
			case strings.Contains(line, `"handler panicked"`):
				t.Errorf("%s: %s", filepath.Base(l), line)
			case strings.Contains(line, `"dropped frame"`), strings.Contains(line, `"send reply"`),
				strings.Contains(line, "without an errno"):
				t.Logf("%s: %s", filepath.Base(l), line)
			}
		}
	}
	if got := fileState(canary); got != canaryBefore {
		t.Errorf("the canary outside the instance changed: %s → %s", canaryBefore, got)
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("host /dev/null: %v %v", fi.Mode(), err)
	}
	// The host's /tmp is shared with other programs: only names the
	// fuzzer would make count (its own, and names with a byte that is
	// not printable ASCII, as random bytes have).
	odd := regexp.MustCompile(`^lxfz|[^\x21-\x7e]`)
	for name := range dirNames(t, "/tmp") {
		if !tmpBefore[name] && odd.MatchString(name) {
			t.Errorf("new in the host's /tmp: %q", name)
		}
	}
	t.Logf("%d calls served by the instance's components", calls)
}

// instance returns the running instance of distro name.
func instance(t *testing.T, name string) (proto.InstanceStatus, bool) {
	t.Helper()
	for _, in := range status(t).Instances {
		if in.Name == name {
			return in, true
		}
	}
	return proto.InstanceStatus{}, false
}

func dirNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	return names
}
