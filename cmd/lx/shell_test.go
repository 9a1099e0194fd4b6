package main

import (
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestShellJobControlAndResize drives `lx shell` through a pty, as a person
// at a terminal would: window size and resizes reach the guest, bash job
// control (&, jobs, fg, ^Z, bg, kill %1) and ^C work, the exit status comes
// back, and the host terminal is restored.
func TestShellJobControlAndResize(t *testing.T) {
	need(t, "bash")
	master, slave, err := openHostPty()
	if err != nil {
		t.Skipf("skipped: no pty: %v", err)
	}
	defer master.Close()
	mfd := int(master.Fd())
	before, _ := unix.IoctlGetTermios(mfd, unix.TCGETS)

	cmd := startOnPty(t, slave, "shell")
	term := watchPty(master)
	expect := func(re string) {
		t.Helper()
		term.expect(t, re)
	}
	send := func(s string) { master.Write([]byte(s)) }

	send("stty size\n")
	expect(`(?m)^30 90\r?$`)
	unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}) // SIGWINCH to lx
	time.Sleep(200 * time.Millisecond)
	send("stty size\n")
	expect(`(?m)^40 120\r?$`)
	send("sleep 100 &\n")
	expect(`\[1\] \d+`)
	send("jobs\n")
	expect(`\[1\]\+\s+Running\s+sleep 100 &`)
	send("fg\n")
	expect(`sleep 100\r?\n`)
	time.Sleep(300 * time.Millisecond)
	send("\x1a") // ^Z
	expect(`Stopped\s+sleep 100`)
	send("bg\n")
	expect(`\[1\]\+ sleep 100 &`)
	send("kill %1; wait; echo done-$((40+2))\n")
	expect(`done-42`)
	send("sleep 30; echo not-interrupted\n")
	time.Sleep(500 * time.Millisecond)
	send("\x03") // ^C
	send("echo after-$((6*7))\n")
	expect(`after-42`)
	send("exit 7\n")
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("lx shell exit: %v", err)
	}
	term.mu.Lock()
	interrupted := !regexp.MustCompile(`(?m)^not-interrupted`).Match(term.out.Bytes())
	term.mu.Unlock()
	if !interrupted { // the echo of the typed line does not count
		t.Error("^C did not interrupt the foreground job")
	}
	after, _ := unix.IoctlGetTermios(mfd, unix.TCGETS)
	if before != nil && after != nil && (before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag) {
		t.Errorf("host terminal not restored: lflag %#x → %#x", before.Lflag, after.Lflag)
	}
}

// startOnPty starts lx ARGS with slave as its controlling terminal and
// stdio, in a new session and a fresh directory; the test's end kills it.
func startOnPty(t *testing.T, slave *os.File, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(lxBin, args...)
	cmd.Dir = workDir(t)
	cmd.Env = append(os.Environ(), "PS1=lx$ ", "TERM=dumb")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() { cmd.Process.Kill() }) // a failed expect leaves nothing behind
	return cmd
}
