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
)

// chaosComponents are the processes the chaos test kills.
var chaosComponents = []string{"procsrv", "fssrv", "netsrv", "sigsrv", "router"}

// TestChaos runs real work in one instance (make -j2 of a C project, a
// Python HTTP server answering a curl loop, a git commit loop, a tar x and
// sha256sum loop) while it kills a random server or the router with
// SIGKILL every 100–500 ms. Every iteration's output is checked by the
// workload itself (testdata/chaos.sh) and every guest must stay alive.
//
// An injection survives when no check failed and no workload died between
// it and the next one. The short run (40 injections) needs all of them to
// survive. The long run is one command:
//
//	LX_CHAOS_INJECTIONS=2000 go test ./cmd/lx -run TestChaos -v -timeout 60m
//
// It reports injections, survivals and the survival rate, and fails below
// 99%.
func TestChaos(t *testing.T) {
	need(t, "make", "gcc", "python3", "curl", "git", "tar", "sha256sum")
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

	dir := chaosSetup(t)
	hold(t)
	port := freePort(t)
	work := map[string]*chaosWork{}
	start := func(mode string) {
		w := &chaosWork{mode: mode, log: filepath.Join(dir, "log."+mode), done: make(chan struct{})}
		f, err := os.Create(w.log)
		if err != nil {
			t.Fatal(err)
		}
		w.cmd = exec.Command(lxBin, "run", "--", "sh", "chaos.sh", mode, strconv.Itoa(port))
		w.cmd.Dir, w.cmd.Stdout, w.cmd.Stderr = dir, f, f
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		go func() { w.err = w.cmd.Wait(); w.end = time.Now(); close(w.done) }()
		work[mode] = w
	}
	stopAll := func() {
		os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644)
		for _, w := range work {
			select {
			case <-w.done:
			case <-time.After(chaosStall):
				w.hung = true
				w.cmd.Process.Kill()
				<-w.done
			}
		}
	}
	t.Cleanup(stopAll)
	start("server")
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if i == 300 {
			t.Fatalf("the guest's HTTP server never listened on %d:\n%s", port, readFile(t, filepath.Join(dir, "log.server")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, m := range []string{"client", "make", "git", "tar"} {
		start(m)
	}
	// Every loop must have checked one iteration before the chaos starts.
	for _, w := range work {
		if w.mode == "server" {
			continue
		}
		for i := 0; w.oks(t) == 0; i++ {
			if i == 600 || w.exited() {
				t.Fatalf("workload %s never finished an iteration:\n%s", w.mode, readFile(t, w.log))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := map[string]int{}
	for _, c := range status(t).Instances[0].Components {
		before[c.Name] = c.Restarts
	}

	type injection struct {
		at     time.Time
		victim string
	}
	var injected []injection
	for len(injected) < injections {
		time.Sleep(time.Duration(100+rng.IntN(401)) * time.Millisecond)
		victim := chaosComponents[rng.IntN(len(chaosComponents))]
		pid := component(t, victim).Pid
		if pid == 0 {
			continue // between incarnations: pick again
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			continue // it died meanwhile
		}
		injected = append(injected, injection{time.Now(), victim})
		for _, w := range work {
			if w.exited() {
				t.Errorf("workload %s died after injection %d (%s): %v", w.mode, len(injected), victim, w.err)
			}
			if st, err := os.Stat(w.log); w.mode != "server" && err == nil && time.Since(st.ModTime()) > chaosStall {
				t.Errorf("workload %s hung: no line since %s (injection %d)", w.mode, st.ModTime().Format("15:04:05.000"), len(injected))
			}
		}
		if t.Failed() {
			break
		}
		if len(injected)%100 == 0 {
			t.Logf("chaos: %d injections", len(injected))
		}
	}
	time.Sleep(time.Second) // the last injection's window
	stopped := time.Now()
	stopAll()

	// Attribute every failed check, and every workload that ended before
	// the stop, to the injection before it.
	failedAfter := map[int][]string{}
	blame := func(at time.Time, what string) {
		k := sort.Search(len(injected), func(i int) bool { return injected[i].at.After(at) }) - 1
		failedAfter[k] = append(failedAfter[k], what)
	}
	oks := map[string]int{}
	for _, w := range work {
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
	for k := range injected {
		if len(failedAfter[k]) == 0 {
			survived++
			continue
		}
		t.Errorf("injection %d (SIGKILL %s at %s) not survived:\n  %s", k+1, injected[k].victim,
			injected[k].at.Format("15:04:05.000"), strings.Join(failedAfter[k], "\n  "))
	}
	if l := failedAfter[-1]; len(l) > 0 {
		t.Errorf("failures before the first injection:\n  %s", strings.Join(l, "\n  "))
	}
	restarts := map[string]int{}
	for _, c := range status(t).Instances[0].Components {
		restarts[c.Name] = c.Restarts - before[c.Name]
	}
	recovered := chaosRecoveries(t)
	rate := float64(survived) / float64(len(injected))
	t.Logf("chaos report: %d injections, %d survived, survival rate %.2f%%; restarts %v; checked iterations %v; in-flight calls recovered %v",
		len(injected), survived, 100*rate, restarts, oks, recovered)
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

func (w *chaosWork) oks(t *testing.T) int {
	n := 0
	for _, l := range w.lines(t) {
		if strings.HasPrefix(l, "ok ") {
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
		"sending its answer":         "answer re-sent",
		"answered EIO, not replayed": "answered EIO",
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
