package servers

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The child's case and sandbox mode.
const (
	sandboxChildEnv = "LX_SANDBOX_TEST_CHILD"
	sandboxModeEnv  = "LX_SANDBOX_TEST_MODE"
)

// TestSandboxTraps confines a child process (this test binary, re-executed)
// to RuntimeCalls: goroutines, timers, the garbage collector and new
// threads keep working, and a call off the list (getppid) kills it with
// SIGSYS and a traceback that names the call.
func TestSandboxTraps(t *testing.T) {
	if os.Getenv(sandboxChildEnv) != "" {
		sandboxChild(os.Getenv(sandboxChildEnv), os.Getenv(sandboxModeEnv))
		return
	}
	for _, tc := range []struct {
		mode, env string
		ok        bool
		want      string
	}{
		{"listed calls only", "", true, "runtime ok"},
		{"stopped", "", true, "runtime ok"}, // sleeps resume with restart_syscall
		{"getppid", "", false, "SIGSYS: bad system call"},
		{"getppid", "log", true, "getppid allowed"},
		{"getppid", "off", true, "getppid allowed"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSandboxTraps$", "-test.count=1")
		cmd.Env = append(os.Environ(), sandboxChildEnv+"="+tc.mode, sandboxModeEnv+"="+tc.env)
		var buf strings.Builder
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Start()
		if err == nil && tc.mode == "stopped" {
			for i := 0; i < 5; i++ { // stop and continue it in its sleeps
				time.Sleep(100 * time.Millisecond)
				cmd.Process.Signal(unix.SIGSTOP)
				time.Sleep(20 * time.Millisecond)
				cmd.Process.Signal(unix.SIGCONT)
			}
		}
		if err == nil {
			err = cmd.Wait()
		}
		out := buf.String()
		cancel()
		if (err == nil) != tc.ok || !strings.Contains(out, tc.want) {
			t.Errorf("%s (sandbox mode %q): %v, want ok=%v and %q in:\n%s", tc.mode, tc.env, err, tc.ok, tc.want, out)
			continue
		}
		if !tc.ok && !strings.Contains(out, "unix.Getppid") {
			t.Errorf("%s: the traceback does not name the call:\n%s", tc.mode, out)
		}
	}
}

func sandboxChild(what, mode string) {
	if _, err := Sandbox("test", mode, RuntimeCalls(), zap.NewNop()); err != nil {
		os.Stderr.WriteString("sandbox: " + err.Error() + "\n")
		os.Exit(1)
	}
	// Work the runtime: goroutines on new threads, timers, GC.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // forces new Ms
			b := make([][]byte, 0, 100)
			for j := 0; j < 100; j++ {
				b = append(b, make([]byte, 64<<10))
			}
			time.Sleep(10 * time.Millisecond)
			runtime.GC()
		}()
	}
	wg.Wait()
	if what == "stopped" {
		time.Sleep(time.Second)
	}
	if what == "getppid" {
		unix.Getppid()
		os.Stdout.WriteString("getppid allowed\n")
		os.Exit(0)
	}
	os.Stdout.WriteString("runtime ok\n")
	os.Exit(0)
}
