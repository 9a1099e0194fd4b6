package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"lx/servers/components"
)

// chaosComponents are the processes the chaos test kills: every row of the
// component table.
var chaosComponents = func() (names []string) {
	for _, r := range components.Table {
		names = append(names, r.Name)
	}
	return names
}()

// TestChaos runs real work in one instance (make -j2 of a C project, a
// Python HTTP server answering a curl loop, a git commit loop, a tar x and
// sha256sum loop) while it kills a random server or the router with
// SIGKILL every 100–500 ms. Every iteration's output is checked by the
// workload itself (testdata/chaos.sh) and every guest must stay alive.
// Halfway, fssrv is replaced with `lx restart fssrv --binary COPY`.
//
// An injection survives when no check failed and no workload died between
// it and the next one. The short run (40 injections) needs all of them to
// survive. The long run is one command:
//
//	LX_CHAOS_INJECTIONS=2000 go test ./cmd/lx -run 'TestChaos$' -v -timeout 60m
//
// It reports injections, survivals and the survival rate, and fails below
// 99%.
func TestChaos(t *testing.T) {
	injections, minRate := 40, 1.0
	if s := os.Getenv("LX_CHAOS_INJECTIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LX_CHAOS_INJECTIONS=%q: want a positive number", s)
		}
		injections, minRate = n, 0.99
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LX_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("chaos: %d injections, seed %d (LX_CHAOS_SEED reproduces the choice of victims and pauses)", injections, seed)
	rng := mrand.New(mrand.NewPCG(seed, 0))
	newBin := filepath.Join(t.TempDir(), "lx-new")
	if out, err := exec.Command("cp", lxBin, newBin).CombinedOutput(); err != nil {
		t.Fatalf("copy lx: %v %s", err, out)
	}

	ch := startChaos(t)
	for len(ch.injected) < injections {
		time.Sleep(time.Duration(100+rng.IntN(401)) * time.Millisecond)
		if len(ch.injected) == injections/2 {
			// A new binary under load: every later incarnation of fssrv
			// runs it, including the ones the kills start.
			if _, errs, code := lx(t, "/", "", "restart", "--binary", newBin, "fssrv"); code != 0 {
				t.Fatalf("lx restart --binary: exit %d %s", code, errs)
			}
			ch.inject("restart fssrv --binary")
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", component(t, "fssrv").Pid)); exe != newBin {
				t.Fatalf("fssrv runs %q after lx restart --binary %s", exe, newBin)
			}
			continue
		}
		victim := chaosComponents[rng.IntN(len(chaosComponents))]
		pid := component(t, victim).Pid
		if pid == 0 {
			continue // between incarnations: pick again
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			continue // it died meanwhile
		}
		ch.inject("SIGKILL " + victim)
		if len(ch.injected)%100 == 0 {
			t.Logf("chaos: %d injections", len(ch.injected))
		}
		if t.Failed() {
			break
		}
	}
	ch.finish(minRate)
	c := component(t, "fssrv")
	if c.Binary != newBin {
		t.Errorf("lx status shows fssrv's binary as %q, want %s", c.Binary, newBin)
	}
	// The new binary gone, the next incarnation runs the broker's own.
	os.Remove(newBin)
	syscall.Kill(c.Pid, syscall.SIGKILL)
	for i := 0; ; i++ {
		after := component(t, "fssrv")
		if after.Pid != 0 && after.Pid != c.Pid {
			if after.Binary != "" || !strings.Contains(after.LastCause, "back on the broker's binary") {
				t.Errorf("fssrv after its binary was removed: %+v", after)
			}
			break
		}
		if i == 100 {
			t.Fatalf("fssrv not back 10 s after its binary was removed: %+v", after)
		}
		time.Sleep(100 * time.Millisecond)
	}
	guest(t, t.TempDir(), "ls", "/")
}

// TestHangsHealed stops each server and the router in turn with SIGSTOP
// under the chaos workload: the broker sees its heartbeat stop, kills it
// and starts a new one, and the work goes on with every output right.
func TestHangsHealed(t *testing.T) {
	ch := startChaos(t)
	for _, name := range chaosComponents {
		before := component(t, name)
		if err := syscall.Kill(before.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		ch.inject("SIGSTOP " + name)
		for i := 0; ; i++ {
			c := component(t, name)
			if c.Pid != 0 && c.Pid != before.Pid {
				if c.Hangs != before.Hangs+1 || !strings.HasPrefix(c.LastCause, "hung: no heartbeat for") {
					t.Errorf("%s replaced without a hang recorded: before %+v after %+v", name, before, c)
				}
				break
			}
			if i == 200 {
				t.Fatalf("%s stopped 20 s ago and still not replaced: %+v", name, c)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Let every workload finish an iteration with the new incarnation.
		ch.progress()
	}
	ch.finish(1.0)
}

// chaosRun is the chaos workload running in one instance, and the
// injections made into it.
type chaosRun struct {
	t        *testing.T
	dir      string
	work     map[string]*chaosWork
	before   map[string]int
	injected []chaosInjection
}

type chaosInjection struct {
	at   time.Time
	what string
}

// startChaos starts the workloads and returns once each has checked one
// iteration.
func startChaos(t *testing.T) *chaosRun {
	need(t, "make", "gcc", "python3", "curl", "git", "tar", "sha256sum")
	ch := &chaosRun{t: t, dir: chaosSetup(t), work: map[string]*chaosWork{}, before: map[string]int{}}
	hold(t)
	port := freePort(t)
	start := func(mode string) {
		w := &chaosWork{mode: mode, log: filepath.Join(ch.dir, "log."+mode), done: make(chan struct{})}
		f, err := os.Create(w.log)
		if err != nil {
			t.Fatal(err)
		}
		w.cmd = exec.Command(lxBin, "run", "--", "sh", "chaos.sh", mode, strconv.Itoa(port))
		w.cmd.Dir, w.cmd.Stdout, w.cmd.Stderr = ch.dir, f, f
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		go func() { w.err = w.cmd.Wait(); w.end = time.Now(); close(w.done) }()
		ch.work[mode] = w
	}
	t.Cleanup(ch.stop)
	start("server")
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if i == 300 {
			t.Fatalf("the guest's HTTP server never listened on %d:\n%s", port, readFile(t, filepath.Join(ch.dir, "log.server")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range []string{"client", "make", "git", "tar"} {
		start(m)
	}
	ch.progress()
	for _, c := range status(t).Instances[0].Components {
		ch.before[c.Name] = c.Restarts
	}
	return ch
}

// progress waits until every loop has checked one more iteration.
func (ch *chaosRun) progress() {
	t := ch.t
	for _, w := range ch.work {
		if w.mode == "server" {
			continue
		}
		n := w.oks(t) + w.fails(t)
		for i := 0; w.oks(t)+w.fails(t) == n; i++ {
			if i == int(chaosStall/(100*time.Millisecond)) || w.exited() {
				t.Fatalf("workload %s made no progress:\n%s", w.mode, readFile(t, w.log))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// inject records an injection and checks that every workload still runs
// and none has hung.
func (ch *chaosRun) inject(what string) {
	t := ch.t
	ch.injected = append(ch.injected, chaosInjection{time.Now(), what})
	for _, w := range ch.work {
		if w.exited() {
			t.Errorf("workload %s died after injection %d (%s): %v", w.mode, len(ch.injected), what, w.err)
		}
		if st, err := os.Stat(w.log); w.mode != "server" && err == nil && time.Since(st.ModTime()) > chaosStall {
			t.Errorf("workload %s hung: no line since %s (injection %d)", w.mode, st.ModTime().Format("15:04:05.000"), len(ch.injected))
		}
	}
}

// stop tells the workloads to stop and waits for them.
func (ch *chaosRun) stop() {
	os.WriteFile(filepath.Join(ch.dir, "stop"), nil, 0o644)
	for _, w := range ch.work {
		select {
		case <-w.done:
		case <-time.After(chaosStall):
			w.hung = true
			w.cmd.Process.Kill()
			<-w.done
		}
	}
}

// finish stops the workloads, attributes every failed check and every
// workload that ended early or hung to the injection before it, reports,
// and fails the test below minRate survived injections.
func (ch *chaosRun) finish(minRate float64) {
	t := ch.t
	time.Sleep(time.Second) // the last injection's window
	stopped := time.Now()
	ch.stop()
	failedAfter := map[int][]string{}
	blame := func(at time.Time, what string) {
		k := sort.Search(len(ch.injected), func(i int) bool { return ch.injected[i].at.After(at) }) - 1
		failedAfter[k] = append(failedAfter[k], what)
	}
	oks := map[string]int{}
	for _, w := range ch.work {
		for _, l := range w.lines(t) {
			f := strings.Fields(l)
			if len(f) < 4 {
				continue
			}
			switch f[0] {
			case "ok":
				oks[w.mode]++
			case "FAIL":
				sec, _ := strconv.ParseFloat(f[3], 64)
				blame(time.Unix(0, int64(sec*1e9)), l)
			}
		}
		if w.hung {
			st, _ := os.Stat(w.log)
			blame(st.ModTime(), fmt.Sprintf("workload %s hung: no line since %s, still running %s after the stop", w.mode,
				st.ModTime().Format("15:04:05.000"), chaosStall))
		} else if w.end.Before(stopped) {
			blame(w.end, fmt.Sprintf("workload %s ended early: %v", w.mode, w.err))
		} else if w.err != nil || !strings.Contains(readFile(t, w.log), "done "+w.mode) {
			t.Errorf("workload %s did not finish cleanly (%v):\n%s", w.mode, w.err, readFile(t, w.log))
		}
	}
	survived := 0
	for k, in := range ch.injected {
		if len(failedAfter[k]) == 0 {
			survived++
			continue
		}
		t.Logf("injection %d (%s at %s) not survived:\n  %s", k+1, in.what,
			in.at.Format("15:04:05.000"), strings.Join(failedAfter[k], "\n  "))
	}
	if l := failedAfter[-1]; len(l) > 0 {
		t.Errorf("failures before the first injection:\n  %s", strings.Join(l, "\n  "))
	}
	restarts := map[string]int{}
	for _, c := range status(t).Instances[0].Components {
		restarts[c.Name] = c.Restarts - ch.before[c.Name]
	}
	recovered := chaosRecoveries(t)
	rate := float64(survived) / float64(len(ch.injected))
	t.Logf("chaos report: %d injections, %d survived, survival rate %.2f%%; restarts %v; checked iterations %v; in-flight calls recovered %v",
		len(ch.injected), survived, 100*rate, restarts, oks, recovered)
	for _, m := range []string{"client", "make", "git", "tar"} {
		if oks[m] < 2 {
			t.Errorf("workload %s checked only %d iterations", m, oks[m])
		}
	}
	if rate < minRate {
		t.Errorf("survival rate %.2f%% is below %.0f%%", 100*rate, 100*minRate)
	}
}

// chaosWork is one workload loop of the chaos test.
type chaosWork struct {
	mode, log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
	end       time.Time
	hung      bool // still running chaosStall after the stop
}

// chaosStall is how long a workload may go without finishing an iteration
// (or, after the stop, without exiting) before it counts as hung: a call
// left unanswered. An iteration takes a few seconds even under chaos.
const chaosStall = 90 * time.Second

func (w *chaosWork) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *chaosWork) lines(t *testing.T) []string {
	f, err := os.Open(w.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	for s := bufio.NewScanner(f); s.Scan(); {
		out = append(out, s.Text())
	}
	return out
}

func (w *chaosWork) oks(t *testing.T) int   { return w.count(t, "ok ") }
func (w *chaosWork) fails(t *testing.T) int { return w.count(t, "FAIL ") }

func (w *chaosWork) count(t *testing.T, prefix string) int {
	n := 0
	for _, l := range w.lines(t) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// chaosSetup fills a test directory with the workloads' inputs and their
// expected outputs, made natively.
func chaosSetup(t *testing.T) string {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "testdata/cproj", "testdata/chaos.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	build := exec.Command("sh", "-c", "cp -r cproj native && cd native && make -s -j2 >/dev/null && ./proj > ../make.expected")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("native build of the C project: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, "native"))
	blob := make([]byte, 256<<10)
	rand.Read(blob)
	write(t, filepath.Join(dir, "www", "blob"), string(blob), 0o644)
	for i := range 300 {
		b := make([]byte, 100+i*37)
		rand.Read(b)
		write(t, filepath.Join(dir, "data", fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i)), string(b), 0o644)
	}
	os.Symlink("d0/f000", filepath.Join(dir, "data", "link"))
	mk := exec.Command("sh", "-c", "tar cf data.tar -C data . && (cd data && find . -type f | sort | xargs sha256sum) > data.sums && rm -rf data")
	mk.Dir = dir
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make the archive: %v %s", err, out)
	}
	giveToInstance(t, dir)
	return dir
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// chaosRecoveries counts, in the instance's logs, the in-flight calls the
// new incarnations took over, by how.
func chaosRecoveries(t *testing.T) map[string]int {
	kinds := map[string]string{
		"routing the notification the previous router left": "router re-routed",
		"sending its answer":             "answer re-sent",
		"answered EIO, not replayed":     "answered EIO",
		"died after it installed an fd":  "installed fd found",
		"died before it installed an fd": "fd install redone",
	}
	n := map[string]int{}
	logs, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "lx", "instances", "default", "*.log"))
	for _, f := range logs {
		for _, l := range strings.Split(readFile(t, f), "\n") {
			for pat, k := range kinds {
				if strings.Contains(l, pat) {
					n[k]++
					if k == "answered EIO" {
						t.Logf("%s: %s", filepath.Base(f), l)
					}
				}
			}
		}
	}
	return n
}

// TestRestartRefusals: lx restart names a running component and a binary
// that can be one; a binary that does not come up is undone.
func TestRestartRefusals(t *testing.T) {
	hold(t)
	dir := t.TempDir()
	before := component(t, "fssrv")
	junk := filepath.Join(dir, "junk")
	write(t, junk, "#!/bin/sh\n", 0o755)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `no component "nosuch"`},
		{[]string{"--binary", filepath.Join(dir, "absent"), "fssrv"}, "no such file"},
		{[]string{"--binary", junk, "fssrv"}, "not an ELF executable"},
		{[]string{"--binary", dir, "fssrv"}, "not an executable file"},
		{[]string{"-d", "no-such-distro", "fssrv"}, "no-such-distro"},
		{[]string{"--binary", "/bin/true", "fssrv"}, "did not come up within 5 s"},
	} {
		_, errs, code := lx(t, dir, "", append([]string{"restart"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("lx restart %q: exit %d, %q; want one line with %q", c.args, code, errs, c.want)
		}
	}
	after := component(t, "fssrv")
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", after.Pid))
	if after.Pid == 0 || after.Binary != "" || exe == "/usr/bin/true" {
		t.Fatalf("fssrv after a binary that did not come up: %+v (exe %s)", after, exe)
	}
	if got := guest(t, dir, "sh", "-c", "echo ok > f && cat f"); got != "ok\n" {
		t.Fatalf("after the refused restarts: %q (fssrv before %+v)", got, before)
	}
	if _, errs, code := lx(t, dir, "", "restart", "fssrv"); code != 0 {
		t.Fatalf("lx restart fssrv: exit %d %s", code, errs)
	}
	if c := component(t, "fssrv"); c.Pid == after.Pid || c.LastCause != "restart requested (exited)" {
		t.Fatalf("fssrv after lx restart: %+v", c)
	}
}
