package main

// Processes, exec, identities, limits and signals (procsrv and sigsrv).
// Each guest program here runs natively first, then under lx, and the two
// outputs must be the same.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"lx/lxbroker"
	"lx/lxbroker/proto"
	"lx/lxbroker/runtime/pid1"
)

// native runs args in dir on the host, in a process group of its own as
// lx run does, and returns stdout; it fails the test unless args exit 0.
func native(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("native %q: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

// sameUnderLx runs args natively in one scratch directory and under lx in
// another (each prepared by setup) and fails on any difference in stdout.
// It returns the output.
func sameUnderLx(t *testing.T, setup func(dir string), args ...string) string {
	t.Helper()
	nd, ld := t.TempDir(), t.TempDir()
	setup(nd)
	setup(ld)
	want := native(t, nd, args...)
	got := guest(t, ld, args...)
	if got != want {
		t.Fatalf("under lx the output differs from native:\n%s", diffLines(want, got))
	}
	return got
}

func copyTestdata(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, filepath.Base(n)), string(b), 0o755)
	}
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

// TestProcSuite: exec errors and scripts, fork/vfork/clone/posix_spawn,
// wait4/waitid, groups and sessions, orphans, threads, identities, limits
// and signals (testdata/proctest.c), natively and under lx.
func TestProcSuite(t *testing.T) {
	bin := buildProctest(t)
	for _, part := range []string{"exec", "proc", "id", "limits", "signals"} {
		t.Run(part, func(t *testing.T) {
			if os.Geteuid() != 0 && (part == "id" || part == "limits") {
				t.Skip("skipped: run by a user other than root, the guest is root of a one-id instance but the native run is not root; TestProcUnprivileged covers that case")
			}
			procPart(t, bin, part)
		})
	}
}

// TestProcExecTrapped: the exec part of the suite in an instance that
// traps execve (--trap-paths), where procsrv makes the checks the kernel
// makes in a default instance, with the same results; a 32-bit ELF gets
// ENOEXEC there, and lx run says what it is.
func TestProcExecTrapped(t *testing.T) {
	bin := buildProctest(t)
	lx(t, "/", "", "terminate", "default")
	t.Cleanup(func() { lx(t, "/", "", "terminate", "default") })
	t.Setenv("LX_TRAP_PATHS", "1")
	hold(t) // the instance stays, for lx status
	procPart(t, bin, "exec")
	in, ok := instance(t, proto.DefaultDistro)
	if !ok || in.Execs != "trapped: lx run --trap-paths" {
		t.Errorf("lx status: execs %q, want trapped", in.Execs)
	}
	if c := component(t, "procsrv"); c.Calls < 10 {
		t.Errorf("procsrv served %d calls: the execs did not reach it", c.Calls)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "elf32"), elf32(t), 0o755)
	if _, errs, code := lx(t, dir, "", "run", "--", "./elf32"); code != 126 || !strings.Contains(errs, "a 32-bit program") {
		t.Errorf("lx run of a 32-bit ELF: exit %d %q", code, errs)
	}
	if out, _, _ := lx(t, dir, "", "run", "--", "sh", "-c", "./elf32; echo $?"); out != "126\n" {
		t.Errorf("sh running a 32-bit ELF: %q, want 126 (ENOEXEC)", out)
	}
}

func buildProctest(t *testing.T) string {
	t.Helper()
	need(t, "gcc")
	bin := t.TempDir()
	gcc(t, bin, "proctest", "proctest.c", "-pthread")
	return bin
}

// procPart runs part of proctest (built in bin) natively and under lx and
// checks the lines that show it worked.
func procPart(t *testing.T, bin, part string) {
	t.Helper()
	out := sameUnderLx(t, func(dir string) {
		b, _ := os.ReadFile(filepath.Join(bin, "proctest"))
		write(t, filepath.Join(dir, "proctest"), string(b), 0o755)
	}, "./proctest", part)
	if !strings.HasSuffix(out, "done\n") {
		t.Fatalf("proctest %s did not finish:\n%s", part, out)
	}
	switch part {
	case "exec":
		wantLines(t, out, "exec text file: ENOEXEC", "exec aarch64 elf: ENOEXEC", "exec directory: EACCES",
			"script nested 4: exit 0", "exec ./s5: ELOOP", "exec one 200000-byte argument: E2BIG",
			"  new image: argv execveat, /proc/self/exe proctest, threads 1", "exec from a second thread: exit 5")
	case "proc":
		wantLines(t, out, "fork, getppid in child: exit 7", "posix_spawn: exit 17", "orphan reparented: yes",
			"8 threads: distinct tids 1, sum 7999992", "setsid, getsid, second setsid, new group: 15/15")
	case "id":
		if os.Geteuid() == 0 {
			wantLines(t, out, "setgroups, setresgid, setresuid: 7/7", "  after setresuid: geteuid 1002, setuid(0) EPERM")
		}
	case "limits":
		wantLines(t, out, "  RLIMIT_NOFILE 16: last fd 15, then EMFILE", "SIGSEGV death: signal SEGV",
			"prlimit on a child: ok, now 100/200")
	case "signals":
		wantLines(t, out, "sigqueue SIGRTMIN: got 1, value 4242", "the thread got USR2",
			"SIGPIPE: signal PIPE", "SIGSYS seen after trapped calls: 0", "SIGSYS default: signal SIGSYS")
	}
}

// TestProcScriptNested: a #! script runs with its arguments under lx as
// natively (the nesting limit is in TestProcSuite).
func TestProcScriptArgs(t *testing.T) {
	out := sameUnderLx(t, func(dir string) {
		write(t, filepath.Join(dir, "inner"), "#!/bin/sh\necho \"inner: $0 $*\"\n", 0o755)
		write(t, filepath.Join(dir, "outer"), "#!./inner -x\n", 0o755)
		write(t, filepath.Join(dir, "py"), "#!/usr/bin/env python3\nimport sys; print('py', sys.argv[1:])\n", 0o755)
	}, "sh", "-c", "./outer a b; ./py c")
	if out != "inner: ./inner -x ./outer a b\npy ['c']\n" {
		t.Fatalf("scripts: %q", out)
	}
}

// TestProc32BitClearMessage: lx runs only x86-64 programs; a 32-bit ELF is
// refused with a message that says so, whether lx run starts it or a
// guest does (in a default instance the instance's binfmt_misc hands it
// to lx-enter, which says so and exits 126: lxbroker/binfmt.go).
func TestProc32BitClearMessage(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "elf32"), elf32(t), 0o755)
	_, errs, code := lx(t, dir, "", "run", "--", "./elf32")
	if code != 126 || !strings.Contains(errs, "32-bit") {
		t.Fatalf("32-bit ELF: exit %d %q", code, errs)
	}
	out, errs, code := lx(t, dir, "", "run", "--", "sh", "-c", "./elf32 a b; echo $?")
	if code != 0 || out != "126\n" || errs != "lx: ./elf32: cannot execute: a 32-bit program (lx runs x86-64 programs only)\n" {
		t.Fatalf("a guest running a 32-bit ELF: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// elf32 is /bin/true with the header of a 32-bit x86 ELF.
func elf32(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	b[4], b[18], b[19] = 1, 3, 0 // ELFCLASS32, EM_386
	return string(b)
}

// TestHostBinfmtHidden: a binfmt_misc handler of the host (here one that
// runs aarch64 ELFs with /bin/true, as qemu-user's would run them) does not
// reach guests: the instance's own binfmt_misc hides the host's, so the
// file is ENOEXEC for them, as procsrv answers in an instance that traps
// execs. Only host root can register one, for the test's few seconds.
func TestHostBinfmtHidden(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: only host root can register a binfmt_misc handler of the host")
	}
	// ELFCLASS64, little-endian, version 1, e_machine EM_AARCH64 (183).
	mnt, err := pid1.RegisterBinfmt(`:lx-test-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xb7\x00` +
		`:\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff:/bin/true:F`)
	if err != nil {
		t.Skipf("skipped: cannot register a handler of the host: %v", err)
	}
	t.Cleanup(func() {
		if fd, err := unix.Openat(mnt, "lx-test-aarch64", unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Write(fd, []byte("-1"))
			unix.Close(fd)
		} else {
			t.Errorf("remove the host handler lx-test-aarch64: %v", err)
		}
		unix.Close(mnt)
	})
	dir := t.TempDir()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	b[18], b[19] = 183, 0
	write(t, filepath.Join(dir, "arm64"), string(b), 0o755)
	if out := native(t, dir, "sh", "-c", "./arm64; echo $?"); out != "0\n" {
		t.Fatalf("natively the host's handler does not run the file: %q", out)
	}
	out, errs, _ := lx(t, dir, "", "run", "--", "sh", "-c", "./arm64; echo $?")
	if out != "126\n" || !strings.Contains(errs, "Exec format error") {
		t.Fatalf("a guest running an aarch64 ELF: stdout %q, stderr %q; want ENOEXEC", out, errs)
	}
}

// TestProcBashJobControl: a bash script with set -m: job process groups,
// stop and continue, kill %N, wait, fg, wait -n, traps.
func TestProcBashJobControl(t *testing.T) {
	need(t, "bash", "ps")
	out := sameUnderLx(t, func(dir string) { copyTestdata(t, dir, "jobs.sh") }, "bash", "jobs.sh")
	wantLines(t, out, "job 1 leads its own group", "after STOP: T", "after CONT: S", "job 2 status 143",
		"job 1 status 130", "fg status 3", "got USR1", "done")
}

// TestProcPythonMultiprocessing: multiprocessing with fork, spawn and
// forkserver; subprocess pipelines, SIGPIPE, timeouts.
func TestProcPythonMultiprocessing(t *testing.T) {
	need(t, "python3")
	out := sameUnderLx(t, func(dir string) { copyTestdata(t, dir, "multiproc.py") }, "python3", "multiproc.py")
	wantLines(t, out, "fork pool 328350", "spawn pool 328350", "spawn crash exitcode -11",
		"pipeline 2 1 1 2 3 3 0 0 0", "pipefail with SIGPIPE 3 141", "done")
}

// TestProcMakeJ2: make -j2 of an 11-file C project.
func TestProcMakeJ2(t *testing.T) {
	need(t, "make", "gcc")
	setup := func(dir string) {
		ents, _ := os.ReadDir("testdata/cproj")
		for _, e := range ents {
			copyTestdata(t, dir, "cproj/"+e.Name())
		}
	}
	out := sameUnderLx(t, setup, "sh", "-c", "make -s -j2 && ./proj && make -s clean && ls *.o 2>/dev/null | wc -l")
	if !strings.HasPrefix(out, "f01 ") || !strings.HasSuffix(out, "f10 "+strings.Fields(out)[19]+"\n0\n") {
		t.Fatalf("make -j2: %q", out)
	}
}

// TestProcGoThreads: a multi-threaded Go program (dynamically built by the
// go tool's defaults) with locked threads, signals and a child.
func TestProcGoThreads(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "threads"), "testdata/threads.go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := sameUnderLx(t, func(dir string) {
		b, _ := os.ReadFile(filepath.Join(bin, "threads"))
		write(t, filepath.Join(dir, "threads"), string(b), 0o755)
	}, "./threads")
	wantLines(t, out, "16 locked goroutines: distinct threads true sum 6400000", "signal user defined signal 1",
		`child "child of go\n" exit status 3`, "done")
}

// TestProcForkBomb: a fork bomb under RLIMIT_NPROC is stopped with EAGAIN
// and cleaned up; the broker answers throughout. Host root is not bound by
// RLIMIT_NPROC (nor is guest root of its instance, which is host root), so
// as root the bomb runs as another user, natively and in the guest.
func TestProcForkBomb(t *testing.T) {
	need(t, "gcc")
	bin := t.TempDir()
	gcc(t, bin, "bomb", "bomb.c")
	args := []string{"./bomb", "40"}
	if os.Geteuid() == 0 {
		need(t, "setpriv")
		args = append([]string{"setpriv", "--reuid=4243", "--regid=4243", "--clear-groups"}, args...)
	}
	done := make(chan struct{})
	var statusErr string
	go func() { // the broker stays responsive while the bomb goes off
		defer close(done)
		for i := 0; i < 20; i++ {
			cmd := exec.Command(lxBin, "status")
			if out, err := cmd.CombinedOutput(); err != nil {
				statusErr = string(out) + err.Error()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	out := sameUnderLx(t, func(dir string) {
		os.Chmod(dir, 0o777)
		b, _ := os.ReadFile(filepath.Join(bin, "bomb"))
		write(t, filepath.Join(dir, "bomb"), string(b), 0o755)
	}, args...)
	<-done
	if statusErr != "" {
		t.Errorf("lx status during the bomb: %s", statusErr)
	}
	if out != "fork bomb under RLIMIT_NPROC 40: 20 EAGAIN, 0 other errors, all gone yes\n" {
		t.Fatalf("bomb: %q", out)
	}
}

// TestProcHostSignals: SIGINT, SIGTERM and SIGHUP sent to `lx run` go to
// the guest command's process group.
func TestProcHostSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		cmd := exec.Command(lxBin, "run", "--", "sh", "-c",
			`trap 'echo got $1; exit 5' `+strings.TrimPrefix(unixSigName(sig), "SIG")+`; echo ready; while :; do sleep 0.05; done`, "sh", unixSigName(sig))
		cmd.Dir = workDir(t)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := stdout.Read(buf)
		if string(buf[:n]) != "ready\n" {
			cmd.Process.Kill()
			t.Fatalf("%v: guest said %q", sig, buf[:n])
		}
		cmd.Process.Signal(sig)
		rest, _ := readAll(stdout)
		code := exitCode(cmd.Wait())
		if rest != "got "+unixSigName(sig)+"\n" || code != 5 {
			t.Errorf("%v to lx run: guest said %q, exit %d (want the trap's output and exit 5)", sig, rest, code)
		}
	}
}

func unixSigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}[s]
}

func readAll(f interface{ Read([]byte) (int, error) }) (string, error) {
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

// TestProcHostSignalOnTerminal: on a terminal, a SIGINT sent to `lx run`
// goes to the terminal's foreground job, not to the shell that runs it.
func TestProcHostSignalOnTerminal(t *testing.T) {
	need(t, "bash")
	master, slave, err := openHostPty()
	if err != nil {
		t.Skipf("skipped: no pty: %v", err)
	}
	defer master.Close()
	cmd := startOnPty(t, slave, "run", "--", "bash", "--norc", "--noprofile", "-i")
	term := watchPty(master)
	term.expect(t, `lx\$ `)
	master.Write([]byte("sleep 100\n"))
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT) // bash waits in its own group; sleep is the foreground job
	term.expect(t, `lx\$ `)
	master.Write([]byte("echo sleep-ended-$?\n"))
	term.expect(t, `sleep-ended-130`)
	master.Write([]byte("echo shell-alive-$((40+2))\n"))
	term.expect(t, `shell-alive-42`)
	master.Write([]byte("exit 4\n"))
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("lx run bash -i: %v", err)
	}
}

// TestProcKillAllStaysInside: kill(-1) in a guest reaches the instance's
// processes only, not the host's processes of the same user.
func TestProcKillAllStaysInside(t *testing.T) {
	host := exec.Command("sleep", "60")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	out := guest(t, t.TempDir(), "sh", "-c", "sleep 60 & trap '' TERM; kill -TERM -1; wait $!; echo guest sleep: $?")
	if out != "guest sleep: 143\n" {
		t.Fatalf("kill -1 in the guest: %q", out)
	}
	if err := host.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("kill(-1) in a guest reached a host process: %v", err)
	}
}

// TestProcExecKinds: dynamic glibc, static, static-pie and musl builds of
// one program, run from the host directory bound into the instance.
func TestProcExecKinds(t *testing.T) {
	need(t, "gcc")
	bin := t.TempDir()
	kinds := []string{"dynamic", "static", "static-pie"}
	gcc(t, bin, "dynamic", "hello.c")
	gcc(t, bin, "static", "hello.c", "-static")
	gcc(t, bin, "static-pie", "hello.c", "-static-pie")
	if _, err := exec.LookPath("musl-gcc"); err == nil {
		if b, err := exec.Command("musl-gcc", "-O1", "-o", filepath.Join(bin, "musl"), "testdata/hello.c").CombinedOutput(); err != nil {
			t.Fatalf("musl-gcc: %v\n%s", err, b)
		}
		kinds = append(kinds, "musl")
	} else {
		t.Log("musl-gcc not installed (Debian package musl-tools): the musl build is not tried")
	}
	script := ""
	for _, k := range kinds {
		script += "./" + k + " a b; "
	}
	out := sameUnderLx(t, func(dir string) {
		for _, k := range kinds {
			b, _ := os.ReadFile(filepath.Join(bin, k))
			write(t, filepath.Join(dir, k), string(b), 0o755)
		}
	}, "sh", "-c", script)
	for _, k := range kinds {
		wantLines(t, out, "./"+k+": argc 3, /proc/self/exe "+k+", ppid is init or shell 1")
	}
}

// TestProcForkBombInstanceBound: guest root, which RLIMIT_NPROC does not
// bind when the instance is host root's, still meets the instance's bound
// (LX_MAX_PROCS=400 for these tests) with EAGAIN; the broker and a second
// client of the instance go on working, and nothing of the bomb is left.
func TestProcForkBombInstanceBound(t *testing.T) {
	need(t, "gcc")
	dir := t.TempDir()
	gcc(t, dir, "bomb", "bomb.c")
	hold(t)
	before := status(t).Instances[0].Guests
	out := guest(t, dir, "./bomb", "0")
	if out != "fork bomb under no RLIMIT_NPROC 0: 20 EAGAIN, 0 other errors, all gone yes\n" {
		t.Fatalf("bomb: %q", out)
	}
	if got := guest(t, dir, "echo", "still serving"); got != "still serving\n" {
		t.Fatalf("after the bomb: %q", got)
	}
	for i := 0; status(t).Instances[0].Guests > before; i++ {
		if i == 100 {
			t.Fatalf("guests left after the bomb: %d, before %d", status(t).Instances[0].Guests, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPs: lx ps shows the instance's process tree with guest pids, users,
// states and commands.
func TestPs(t *testing.T) {
	dir := workDir(t)
	cmd := exec.Command(lxBin, "run", "--", "sh", "-c", "sleep 30 | cat & setpriv --reuid=4244 sleep 31 & echo ready; wait")
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 16)
	stdout.Read(buf)
	want := []string{`root +S +1 +\\_ sh -c sleep 30`, `root +S +1 +  \\_ sleep 30$`, `root +S +1 +  \\_ cat$`}
	if os.Geteuid() == 0 {
		want = append(want, `4244 +S +1 +  \\_ sleep 31$`)
	}
	missing := func(out string) []string {
		var m []string
		for _, re := range want {
			if !regexp.MustCompile(`(?m)` + re).MatchString(out) {
				m = append(m, re)
			}
		}
		return m
	}
	// setpriv execs sleep 31 a moment after ready, and a program that has
	// just been exec'd shows R until it first sleeps: poll until settled.
	var out string
	for i := 0; i < 100; i++ {
		out, _, _ = lx(t, dir, "", "ps")
		if len(missing(out)) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[0], "PID") || !strings.HasPrefix(lines[1], "1 ") || !strings.Contains(lines[1], "lx-init") {
		t.Fatalf("lx ps:\n%s", out)
	}
	if m := missing(out); len(m) > 0 {
		t.Errorf("lx ps lacks %q:\n%s", m, out)
	}
	// The same processes as JSON (setpriv may still be changing into
	// sleep, or failing as an unprivileged user: ask until both agree).
	var js string
	var es []proto.PsEntry
	for i := 0; i < 50; i++ {
		var code int
		js, _, code = lx(t, dir, "", "ps", "--json")
		es = nil
		if code != 0 || json.Unmarshal([]byte(js), &es) != nil {
			t.Fatalf("lx ps --json: exit %d\n%s", code, js)
		}
		text, _, _ := lx(t, dir, "", "ps")
		if n := strings.Count(strings.TrimSpace(text), "\n"); n == len(es) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(es) < 4 || es[0].Pid != 1 {
		t.Fatalf("lx ps --json:\n%s", js)
	}
	if _, errs, code := lx(t, dir, "", "ps", "-d", "no-such-distro"); code == 0 || !strings.Contains(errs, "no-such-distro") {
		t.Fatalf("lx ps -d no-such-distro: exit %d %q", code, errs)
	}
}

// TestProcNoZombies: orphans of a finished command (double forks, a parent
// that exits without waiting) are reaped by the instance's init: lx ps
// shows no zombie afterwards, and a segfaulting child's death is 139.
func TestProcNoZombies(t *testing.T) {
	dir := t.TempDir()
	hold(t)
	_, _, code := lx(t, dir, "", "run", "--", "sh", "-c",
		"for i in 1 2 3 4 5; do (sleep 0.2 & sleep 0.1 &) ; done; sh -c 'sleep 0.1 & exec sleep 0.2' & kill -SEGV $$")
	if code != 139 {
		t.Fatalf("a shell killed by SIGSEGV: exit %d, want 139", code)
	}
	var es []proto.PsEntry
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		js, errs, code := lx(t, dir, "", "ps", "--json")
		if code != 0 || json.Unmarshal([]byte(js), &es) != nil {
			t.Fatalf("lx ps --json: exit %d %s %s", code, js, errs)
		}
		left := 0
		for _, e := range es {
			if e.State == "Z" || strings.HasPrefix(strings.Join(e.Cmdline, " "), "sleep 0.") {
				left++
			}
		}
		if left == 0 {
			return
		}
		if i == 50 {
			t.Fatalf("after 5 s, zombies or orphans are left: %+v", es)
		}
	}
}

// TestProcUnprivileged: as an unprivileged host user (nobody), guest root
// is bound by RLIMIT_NPROC (a fork bomb ends in EAGAIN), identities outside
// the one-id mapping are EINVAL, and lx ps shows the instance.
func TestProcUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: already unprivileged; the other tests cover this path")
	}
	need(t, "setpriv", "gcc")
	work, run := asNobody(t, "LX_GRACE=5s")
	gcc(t, work, "bomb", "bomb.c")
	if out, code := run("run", "--", "./bomb", "30"); code != 0 || out != "fork bomb under RLIMIT_NPROC 30: 20 EAGAIN, 0 other errors, all gone yes\n" {
		t.Fatalf("fork bomb as nobody: exit %d %q", code, out)
	}
	if out, code := run("run", "--", "sh", "-c", "setpriv --reuid=1000 true 2>&1"); !strings.Contains(out, "setresuid failed: Invalid argument") {
		t.Fatalf("setuid to an unmapped id as nobody: exit %d %q", code, out)
	}
	out, code := run("ps")
	if code != 0 || !strings.Contains(out, "lx-init") {
		t.Fatalf("lx ps as nobody: exit %d %q", code, out)
	}
}

// TestThreadBomb: threads do not pass through procsrv (a thread clone runs
// natively), so the kernel bounds them, with the instance's pids cgroup
// (root) or the RLIMIT_NPROC of the guests' user namespace (an
// unprivileged user): the thread past LX_MAX_PROCS×TasksPerProc tasks gets
// EAGAIN, and the instance goes on serving.
func TestThreadBomb(t *testing.T) {
	dir := t.TempDir()
	gcc(t, dir, "threadbomb", "threadbomb.c", "-pthread")
	out := guest(t, dir, "./threadbomb")
	var n int
	var how string
	max := 400 * lxbroker.TasksPerProc // LX_MAX_PROCS of TestMain
	if _, err := fmt.Sscanf(out, "%d threads, then %s", &n, &how); err != nil || how != "EAGAIN" || n > max || n < max/2 {
		t.Fatalf("thread bomb: %q; want EAGAIN after fewer than %d threads", out, max)
	}
	if got := guest(t, dir, "echo", "still serving"); got != "still serving\n" {
		t.Fatalf("after the thread bomb: %q", got)
	}
}
