package lxbroker

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/oklog/run"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/control"
)

// Spec is one row of the supervision table: how the broker keeps one
// component of every instance alive (DESIGN §7).
type Spec struct {
	Name  string `json:"name"`
	Order int    `json:"order"` // start order; all start before the first guest runs
	// Restart is the policy: "always" restarts the component whenever it
	// exits or hangs, until the instance ends.
	Restart string `json:"restart"`
	// Backoff is the delay before a restart. It doubles, up to MaxBackoff,
	// each time an incarnation dies within a second of starting (a crash
	// loop), and starts over when one lived longer. A restart asked for
	// with `lx restart` waits for nothing.
	Backoff    time.Duration `json:"backoff_ns"`
	MaxBackoff time.Duration `json:"max_backoff_ns"`
	// Heartbeat is the longest a healthy component goes without bumping
	// its heartbeat counter; HangAfter without a bump, it is killed
	// (SIGKILL) as hung and restarted.
	Heartbeat time.Duration `json:"heartbeat_ns"`
	HangAfter time.Duration `json:"hang_after_ns"`
	// State says what survives a restart, and where it is kept.
	State string `json:"state"`
}

// Supervision is the table, in start order. Every server also keeps in its
// control page (the state region the broker holds for it) its counters and
// the ring index of a call whose side effects had begun; every ring keeps
// the frames not yet answered, including the one a dead server had taken.
var Supervision = []Spec{
	{Name: "procsrv", Order: 1, State: "nothing in memory: the process table is the instance's pid namespace, read from its /proc " +
		"(parents, groups, sessions, credentials, start times, exit statuses); process counts from there too"},
	{Name: "fssrv", Order: 2, State: "nothing in memory: the mount table is the instance's mount namespace (held by the keeper), " +
		"open files and working directories are the guests' own fds, recorded owners and devices are xattrs on the distro's files"},
	{Name: "netsrv", Order: 3, State: "the network policy, in a file of the instance's runtime directory; sockets are the guests' fds; " +
		"published ports of a loopback instance are relayed by the broker"},
	{Name: "sigsrv", Order: 4, State: "nothing: every permission check reads the instance's /proc at the time of the call"},
	{Name: "router", Order: 5, State: "the notification it is routing, with the ring head before it, in its control page: " +
		"the next router routes it if it was not pushed; notifications not yet received wait in the kernel's listener"},
}

// Defaults of every row; HangAfter can be changed with LX_HANG_AFTER (a Go
// duration; 0 turns hang detection off).
func init() {
	hang := 5 * control.HeartbeatPeriod
	if d, err := time.ParseDuration(os.Getenv("LX_HANG_AFTER")); err == nil {
		hang = d
	}
	for i := range Supervision {
		s := &Supervision[i]
		s.Restart, s.Backoff, s.MaxBackoff = "always", restartBackoff, maxBackoff
		s.Heartbeat, s.HangAfter = control.HeartbeatPeriod, hang
	}
}

func specOf(name string) *Spec {
	for i := range Supervision {
		if Supervision[i].Name == name {
			return &Supervision[i]
		}
	}
	return nil
}

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

// keep restarts component c each time it exits, as its Spec says.
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
		return fmt.Errorf("no component %q (the components are procsrv, fssrv, netsrv, sigsrv and router)", name)
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
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("binary %s: not an ELF executable: %v", path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || (f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN) {
		return fmt.Errorf("binary %s: not an x86-64 executable (%s %s %s)", path, f.Class, f.Machine, f.Type)
	}
	return nil
}
