package lxbroker

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/oklog/run"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/elfhdr"
)

// supervise is the instance's run.Group: init, the hang watchdog, and one
// restart loop per component. When init ends the instance ends.
func (in *Instance) supervise() {
	var g run.Group
	g.Add(func() error {
		err := in.keeper.Wait() // the keeper exits when init does
		return fmt.Errorf("init exited: %v", err)
	}, func(error) { in.killInit() })
	g.Add(func() error { <-in.stop; return errors.New("stopped") }, func(error) { in.once.Do(func() { close(in.stop) }) })
	g.Add(func() error { in.watch(); return nil }, func(error) {})
	for _, c := range in.comps {
		c := c
		g.Add(func() error { return in.keep(c) }, func(error) {
			c.mu.Lock()
			if c.cmd != nil && c.cmd.Process != nil {
				c.cmd.Process.Kill()
			}
			c.mu.Unlock()
		})
	}
	err := g.Run()
	in.log.Info("instance down", zap.Error(err))
	in.cleanup()
	close(in.done)
}

// names lists the instance's components of kind ("" all), in start order.
func (in *Instance) names(kind string) []string {
	var n []string
	for _, c := range in.comps {
		if kind == "" || c.spec.Kind == kind {
			n = append(n, c.name)
		}
	}
	return n
}

// keep restarts component c each time it exits, as its row of the
// component table says (launch.Component: RestartAlways, the only policy
// launch.Check lets through).
func (in *Instance) keep(c *component) error {
	backoff := c.spec.Backoff
	for {
		c.mu.Lock()
		cmd := c.cmd
		c.mu.Unlock()
		err := cmd.Wait()
		select {
		case <-in.stop:
			return nil
		default:
		}
		up := time.Since(c.started)
		c.mu.Lock()
		c.exited = true
		c.restarts++
		cause, requested := "exited", c.killed == causeRequested
		if err != nil {
			cause = err.Error()
		}
		if c.killed != "" {
			cause = c.killed + " (" + cause + ")"
		}
		c.cause, c.killed = cause, ""
		c.mu.Unlock()
		if up >= time.Second {
			backoff = c.spec.Backoff
		}
		wait := backoff
		if requested {
			wait = 0
		}
		in.log.Warn("component exited; restarting", zap.String("component", c.name), zap.String("cause", cause),
			zap.Duration("up", up), zap.Duration("backoff", wait))
		select {
		case <-in.stop:
			return nil
		case <-time.After(wait):
		}
		if !requested {
			backoff = min(2*backoff, c.spec.MaxBackoff)
		}
		for {
			err := in.spawn(c)
			if err == nil {
				break
			}
			c.mu.Lock()
			custom := c.binary
			if custom != "" {
				// The binary lx restart --binary named is gone or broken:
				// go back to the broker's own rather than leave the
				// guests without the component.
				c.binary = ""
				c.cause += "; could not start " + custom + ", back on the broker's binary"
			}
			c.mu.Unlock()
			in.log.Error("start component", zap.String("component", c.name), zap.Error(err))
			if custom != "" {
				continue
			}
			select {
			case <-in.stop:
				return nil
			case <-time.After(backoff):
			}
		}
		in.writeState()
	}
}

// Causes the broker gives for the kills it makes.
const causeRequested = "restart requested"

// kill ends the current incarnation of c with SIGKILL, recording why.
func (c *component) kill(cause string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.cmd.Process != nil && !c.exited {
		if c.killed == "" {
			c.killed = cause
		}
		c.cmd.Process.Signal(unix.SIGKILL)
	}
}

// watch is the hang detector: a component whose heartbeat has not moved
// for its HangAfter (and that has been up that long) is killed, so keep
// restarts it. A stopped (SIGSTOP), looping or deadlocked component is
// healed within HangAfter plus one tick, then its backoff.
func (in *Instance) watch() {
	const tick = 100 * time.Millisecond
	type seen struct {
		beat uint64
		pid  int
		at   time.Time
	}
	last := make([]seen, len(in.comps))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		for i, c := range in.comps {
			if c.spec.HangAfter <= 0 {
				continue
			}
			beat, pid := c.ctl.Heartbeat(), c.pid()
			if beat != last[i].beat || pid != last[i].pid {
				last[i] = seen{beat, pid, now}
				continue
			}
			if pid != 0 && now.Sub(last[i].at) >= c.spec.HangAfter {
				in.log.Warn("component hung: killing it", zap.String("component", c.name), zap.Int("pid", pid),
					zap.Duration("no heartbeat for", now.Sub(last[i].at)))
				c.mu.Lock()
				c.hangs++
				c.mu.Unlock()
				c.kill(fmt.Sprintf("hung: no heartbeat for %s", now.Sub(last[i].at).Round(time.Millisecond)))
				last[i].at = now
			}
		}
	}
}

// pid is the host pid of c's current incarnation, 0 when it is not running.
func (c *component) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil || c.exited {
		return 0
	}
	return c.cmd.Process.Pid
}

// Restart replaces component name with a new incarnation, run from binary
// when it is not "" (an lx binary of the same protocol, e.g. a newer
// build). The old incarnation is asked to exit between two calls and is
// killed if it has not within a second; calls meanwhile wait in its ring.
// Restart returns once the new incarnation has beaten its heartbeat. If it
// does not come up within 5 s, the previous binary is put back.
func (in *Instance) Restart(name, binary string) error {
	var c *component
	for _, x := range in.comps {
		if x.name == name {
			c = x
		}
	}
	if c == nil {
		return fmt.Errorf("no component %q (the components are %s)", name, strings.Join(in.names(""), ", "))
	}
	if binary != "" {
		if err := checkBinary(binary); err != nil {
			return err
		}
	}
	c.mu.Lock()
	old := c.binary
	if binary != "" {
		c.binary = binary
	}
	c.mu.Unlock()
	if err := in.replace(c); err != nil {
		if binary == "" {
			return err
		}
		c.mu.Lock()
		c.binary = old
		c.mu.Unlock()
		if rerr := in.replace(c); rerr != nil {
			return fmt.Errorf("%v; putting the previous binary back failed too: %v", err, rerr)
		}
		return fmt.Errorf("%v; %s runs the previous binary again", err, name)
	}
	return nil
}

// replace makes keep start a new incarnation of c and waits until it beats.
func (in *Instance) replace(c *component) error {
	oldPid := c.pid()
	c.mu.Lock()
	c.killed = causeRequested
	c.mu.Unlock()
	c.ctl.RequestExit()
	exited := false
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if c.pid() != oldPid {
			exited = true
			break
		}
	}
	if !exited {
		c.kill(causeRequested)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		select {
		case <-in.stop:
			return errors.New("the instance ended")
		default:
		}
		if p := c.pid(); p != 0 && p != oldPid && c.ctl.Pid() == p {
			return nil
		}
	}
	return fmt.Errorf("the new %s did not come up within 5 s (last cause: %s)", c.name, c.lastCause())
}

func (c *component) lastCause() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// checkBinary rejects a --binary that cannot be an lx for this host: not a
// regular executable file, or not an x86-64 ELF executable.
func checkBinary(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	if !st.Mode().IsRegular() || unix.Access(path, unix.X_OK) != nil {
		return fmt.Errorf("binary %s: not an executable file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	defer f.Close()
	h, err := elfhdr.Read(f)
	if err != nil {
		return fmt.Errorf("binary %s: not an ELF executable: %v", path, err)
	}
	if !h.Is64() || !h.IsX8664() || (h.Type != elfhdr.TypeExec && h.Type != elfhdr.TypeDyn) {
		return fmt.Errorf("binary %s: not an x86-64 executable (class %d, machine %d, type %d)", path, h.Class, h.Machine, h.Type)
	}
	return nil
}
