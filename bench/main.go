// Command bench measures syscall micro-benchmarks natively and under lx in
// the same run and prints the lx/native ratios.
//
//	go run ./bench [-lx PATH] [-ops a,b] [-rounds N] [-native-only]
//
// It compiles micro.c (embedded) with gcc into a temp dir under
// ./bench/out (lx bind-mounts the caller's cwd, so the binary and its temp
// files must live below it), then, for each op and each round, runs
// "./micro OP" natively and "LX run -- ./micro OP" back to back. The
// figures are informational only; nothing asserts them.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"lx/shared/idmap"
)

//go:embed micro.c
var microSrc []byte

// allOps lists the ops of micro.c in table order.
var allOps = []string{"getppid", "stat", "openclose", "read4k", "forkwait", "forkexec", "pipe", "tcprr", "tcpbulk", "udpsendto", "python20", "makej2", "gitstatus", "tarx"}

// workloads are ops measured by a shell script instead of micro: each
// prints "OP ns" once per repetition (timed inside the run, so lx run's
// own start-up is not counted) and the median is taken.
var workloads = map[string]string{
	// python3 -c pass, 20 times in a row; $PY is the interpreter that
	// python3 names (not a pyenv shim script, which would measure pyenv)
	"python20": `for r in 1 2 3 4 5; do t0=$(date +%s%N); for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "$PY" -c pass; done; echo python20 $(( $(date +%s%N) - t0 )); done`,
	// make -j2 of the 11-file C project of cmd/lx/testdata/cproj
	"makej2": `cd cproj && for r in 1 2 3; do make -s clean; t0=$(date +%s%N); make -s -j2 CC=gcc; echo makej2 $(( $(date +%s%N) - t0 )); done; make -s clean`,
	// git status of a committed repository of 1,000 files (one modified);
	// as root the work directory belongs to the instance's ids
	// (giveToInstance), so git is told it is safe, and neither side reads
	// a user's config; a failing git fails the run
	"gitstatus": `cd gitrepo && for r in 1 2 3 4 5; do t0=$(date +%s%N); HOME=$PWD/.. git -c safe.directory='*' status --porcelain >/dev/null || exit 1; echo gitstatus $(( $(date +%s%N) - t0 )); done`,
	// tar xf of 60 MB in 7,000 files into an empty directory
	"tarx": `for r in 1 2 3; do rm -rf tx; mkdir tx; t0=$(date +%s%N); tar -C tx -xf big.tar; echo tarx $(( $(date +%s%N) - t0 )); done; rm -rf tx`,
}

// aim is the target for an op under lx: either a ratio to native or an
// absolute lx time.
type aim struct {
	ratio float64 // lx/native must be <= ratio (0: unused)
	absNs float64 // lx ns/op must be <= absNs (0: unused)
}

var aims = map[string]aim{
	"getppid":   {ratio: 1.05},
	"read4k":    {ratio: 1.05},
	"stat":      {absNs: 6000},
	"openclose": {absNs: 10000},
	"forkwait":  {ratio: 1.2},
	"forkexec":  {ratio: 1.2},
	"python20":  {ratio: 1.1},
	"makej2":    {ratio: 1.05},
	"gitstatus": {ratio: 1.2},
	"tarx":      {ratio: 1.1},
	"tcprr":     {ratio: 1.05},
	"tcpbulk":   {ratio: 1.05},
}

func (a aim) String() string {
	switch {
	case a.ratio > 0:
		return fmt.Sprintf("≤%g×", a.ratio)
	case a.absNs > 0:
		return fmt.Sprintf("≤%g µs", a.absNs/1000)
	}
	return "-"
}

func (a aim) met(lxNs, ratio float64) bool {
	if a.ratio > 0 && ratio > a.ratio {
		return false
	}
	if a.absNs > 0 && lxNs > a.absNs {
		return false
	}
	return true
}

func main() {
	lxFlag := flag.String("lx", "", "path to the lx binary (default: build ./cmd/lx into a temp dir)")
	opsFlag := flag.String("ops", strings.Join(allOps, ","), "comma-separated ops to run")
	rounds := flag.Int("rounds", 3, "rounds per op; native and lx runs are interleaved")
	nativeOnly := flag.Bool("native-only", false, "run natively only (no lx)")
	static := flag.Bool("static", false, "link micro statically")
	timeout := flag.Duration("timeout", 10*time.Minute, "time limit for one run of micro")
	flag.BoolVar(&give, "give", true, "as root, give the work directory to the instance's ids before each lx run (-give=false for an lx older than its subordinate ids, whose guest root was root)")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected arguments: %s", strings.Join(flag.Args(), " "))
	}
	if *rounds < 1 {
		fail("-rounds must be >= 1")
	}
	ops, err := parseOps(*opsFlag)
	if err != nil {
		fail("%v", err)
	}

	gcc, err := exec.LookPath("gcc")
	if err != nil {
		fail("gcc not found in PATH; install gcc to build micro.c")
	}

	cwd, err := os.Getwd()
	if err != nil {
		fail("getwd: %v", err)
	}
	root, _ := moduleRoot(cwd)

	// Work dir under the cwd so that lx (which bind-mounts the cwd) sees it.
	base := filepath.Join(cwd, "lxbench-out")
	if root == cwd {
		base = filepath.Join(cwd, "bench", "out")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		fail("mkdir %s: %v", base, err)
	}
	work, err := os.MkdirTemp(base, "run-")
	if err != nil {
		fail("mkdtemp: %v", err)
	}
	os.Chmod(work, 0o755) // a guest of another id than its owner's goes in too
	code := 0
	defer func() {
		os.RemoveAll(work)
		os.Remove(base) // only if empty
		os.Exit(code)
	}()
	// On ^C/SIGTERM the children get the signal too (micro removes its own
	// files); remove the work dir and stop.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		time.Sleep(200 * time.Millisecond)
		os.RemoveAll(work)
		os.Remove(base)
		fmt.Fprintf(os.Stderr, "bench: %v\n", s)
		os.Exit(1)
	}()
	failf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
		code = 1
	}

	// Build micro.
	src := filepath.Join(work, "micro.c")
	if err := os.WriteFile(src, microSrc, 0o644); err != nil {
		failf("write micro.c: %v", err)
		return
	}
	gccArgs := []string{"-O2", "-o", "micro", "micro.c"}
	if *static {
		gccArgs = append([]string{"-static"}, gccArgs...)
	}
	if out, err := runIn(work, gcc, gccArgs...); err != nil {
		failf("gcc %s: %v: %s", strings.Join(gccArgs, " "), err, firstLine(out))
		return
	}

	if slices.Contains(ops, "python20") {
		out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		if err != nil {
			failf("python20 needs python3: %v", err)
			return
		}
		py := strings.TrimSpace(string(out))
		if os.Geteuid() == 0 && !othersMayRun(py) && othersMayRun("/usr/bin/python3") {
			// Root's guests are not root: an interpreter under /root (pyenv)
			// is not theirs to run. Both sides run the system's.
			fmt.Fprintf(os.Stderr, "bench: python20 uses /usr/bin/python3 (%s is root's alone, and root's guests are not root)\n", py)
			py = "/usr/bin/python3"
		}
		os.Setenv("PY", py)
	}

	// The C project for makej2.
	if slices.Contains(ops, "makej2") {
		if root == "" {
			failf("makej2 needs the module's cmd/lx/testdata/cproj; run from the module root")
			return
		}
		if out, err := runIn(work, "cp", "-r", filepath.Join(root, "cmd/lx/testdata/cproj"), "cproj"); err != nil {
			failf("copy the C project: %v: %s", err, firstLine(out))
			return
		}
	}

	if slices.Contains(ops, "gitstatus") {
		if err := makeGitRepo(filepath.Join(work, "gitrepo"), 1000); err != nil {
			failf("gitstatus: %v", err)
			return
		}
	}
	if slices.Contains(ops, "tarx") {
		if err := makeTarball(filepath.Join(work, "big.tar"), 7000, 60<<20); err != nil {
			failf("tarx: %v", err)
			return
		}
	}

	// Find or build lx.
	lx := *lxFlag
	if !*nativeOnly && lx == "" {
		if root == "" {
			failf("no go.mod for module lx above %s; pass -lx PATH", cwd)
			return
		}
		tmp, err := os.MkdirTemp("", "lxbench-lx-")
		if err != nil {
			failf("mkdtemp: %v", err)
			return
		}
		defer os.RemoveAll(tmp)
		lx = filepath.Join(tmp, "lx")
		fmt.Fprintf(os.Stderr, "bench: building lx (go build -o %s ./cmd/lx)\n", lx)
		if out, err := runIn(root, "go", "build", "-o", lx, "./cmd/lx"); err != nil {
			failf("building lx failed: %v: %s", err, firstLine(out))
			return
		}
	}
	if !*nativeOnly {
		// micro runs with cmd.Dir = work, so make the path absolute.
		p, err := exec.LookPath(lx)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			failf("lx: %v", err)
			return
		}
		lx = p
		// A broker of its own: one already running (perhaps from an older
		// lx) must not serve these runs. Stopped at the end.
		rt, err := os.MkdirTemp("", "lxbench-run-")
		if err != nil {
			failf("mkdtemp: %v", err)
			return
		}
		os.Setenv("XDG_RUNTIME_DIR", rt)
		os.Setenv("XDG_STATE_HOME", rt)
		defer func() {
			exec.Command(lx, "shutdown").Run()
			os.RemoveAll(rt)
		}()
	}

	printHeader(lx, *nativeOnly, *rounds, *static)

	type result struct{ native, lx, ratio []float64 }
	results := map[string]*result{}
	for _, op := range ops {
		r := &result{}
		results[op] = r
		for i := 0; i < *rounds; i++ {
			// Alternate which side goes first to spread drift evenly.
			lxFirst := !*nativeOnly && i%2 == 1
			var nat, lxv float64
			if lxFirst {
				if lxv, err = measure(work, *timeout, op, lx); err != nil {
					failf("lx run failed (%s): %v", op, err)
					return
				}
			}
			if nat, err = measure(work, *timeout, op, ""); err != nil {
				failf("native run failed (%s): %v", op, err)
				return
			}
			if !*nativeOnly && !lxFirst {
				if lxv, err = measure(work, *timeout, op, lx); err != nil {
					failf("lx run failed (%s): %v", op, err)
					return
				}
			}
			r.native = append(r.native, nat)
			if !*nativeOnly {
				r.lx = append(r.lx, lxv)
				r.ratio = append(r.ratio, lxv/nat)
			}
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	w := len("op")
	for _, op := range ops {
		w = max(w, len(op))
	}
	fmt.Fprintf(tw, "%-*s\tnative ns\tlx ns\tlx/native\taim\tok\t\n", w, "op")
	for _, op := range ops {
		r := results[op]
		a, hasAim := aims[op]
		nat := fmtNs(median(r.native))
		lxs, ratio, mark := "-", "-", "-"
		if !*nativeOnly {
			l, q := median(r.lx), median(r.ratio)
			lxs, ratio = fmtNs(l), fmt.Sprintf("%.2f×", q)
			if hasAim {
				mark = "✗"
				if a.met(l, q) {
					mark = "✓"
				}
			}
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t\n", w, op, nat, lxs, ratio, a, mark)
	}
	tw.Flush()
	fmt.Printf("\n(median of %d rounds; each figure is micro's median batch; ratio = median of per-round lx/native)\n", *rounds)
}

func parseOps(s string) ([]string, error) {
	known := map[string]bool{}
	for _, op := range allOps {
		known[op] = true
	}
	var ops []string
	for _, op := range strings.Split(s, ",") {
		op = strings.TrimSpace(op)
		if op == "" {
			continue
		}
		if !known[op] {
			return nil, fmt.Errorf("unknown op %q (known: %s)", op, strings.Join(allOps, ","))
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil, errors.New("no ops selected")
	}
	return ops, nil
}

// give is -give.
var give bool

// giveToInstance hands the work directory to host root's instances, whose
// guests are host ids no user has (shared/idmap/subids.go): to them root's
// directory would be a stranger's. The native run may have made files as
// root since, so it is done before every lx run (outside the timing).
func giveToInstance(dir string) error {
	if os.Geteuid() != 0 || !give {
		return nil
	}
	ids, err := idmap.Instance()
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, int(ids.UID), int(ids.GID))
		}
		return nil
	})
}

// othersMayRun reports whether a user other than its owner can execute
// the file p: it and every directory above it let others in.
func othersMayRun(p string) bool {
	for d := p; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// measure runs micro for one op in dir, natively if lx == "" or else under
// "lx run --", and returns its ns/op.
func measure(dir string, timeout time.Duration, op, lx string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"./micro", op}
	if w, ok := workloads[op]; ok {
		args = []string{"sh", "-c", w}
	}
	if lx != "" {
		// -d default: the host root, whatever distro lx set-default made the default
		args = append([]string{lx, "run", "-d", "default", "--"}, args...)
		if err := giveToInstance(dir); err != nil {
			return 0, err
		}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return 0, fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		msg := firstLine(stderr.Bytes())
		if msg == "" {
			msg = firstLine(stdout.Bytes())
		}
		if msg == "" {
			return 0, err
		}
		return 0, fmt.Errorf("%v: %s", err, msg)
	}
	var vs []float64
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == op {
			v, err := strconv.ParseFloat(f[1], 64)
			if err == nil && v > 0 {
				vs = append(vs, v)
			}
		}
	}
	if len(vs) > 0 {
		return median(vs), nil
	}
	return 0, fmt.Errorf("no %q line in output: %q", op, firstLine(stdout.Bytes()))
}

func printHeader(lx string, nativeOnly bool, rounds int, static bool) {
	nproc := strings.TrimSpace(cmdOut("nproc"))
	if nproc == "" {
		nproc = strconv.Itoa(runtime.NumCPU())
	}
	kernel := strings.TrimSpace(cmdOut("uname", "-r"))
	if kernel == "" {
		b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
		kernel = strings.TrimSpace(string(b))
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("date:    %s\n", time.Now().Format(time.RFC3339))
	fmt.Printf("machine: %s, nproc %s, kernel %s", host, nproc, kernel)
	if cpu != "" {
		fmt.Printf(", %s", cpu)
	}
	fmt.Println()
	link := "dynamic"
	if static {
		link = "static"
	}
	if nativeOnly {
		fmt.Printf("lx:      - (native only)\n")
	} else {
		fmt.Printf("lx:      %s\n", lx)
	}
	fmt.Printf("micro:   gcc -O2, %s; %d rounds\n\n", link, rounds)
}

func moduleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == "lx" {
					return d, nil
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", errors.New("module lx not found")
		}
	}
}

func runIn(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtNs(ns float64) string {
	if ns >= 1000 {
		return strconv.FormatFloat(ns, 'f', 0, 64)
	}
	return strconv.FormatFloat(ns, 'f', 1, 64)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// makeGitRepo makes a repository of n files in 10 directories, commits them
// and modifies one.
func makeGitRepo(dir string, n int) error {
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%04d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(strings.Repeat("line\n", i%50+1)), 0o644); err != nil {
			return err
		}
	}
	git := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-c", "user.name=b", "-c", "user.email=b@x"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, firstLine(out))
		}
		return nil
	}
	if err := git("init", "-q"); err != nil {
		return err
	}
	if err := git("add", "."); err != nil {
		return err
	}
	if err := git("commit", "-qm", "files"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "d0", "f0000.txt"), []byte("changed\n"), 0o644)
}

// makeTarball writes a tar of n files totalling about size bytes, in 100
// directories, with sizes spread from a few hundred bytes to 4× the mean.
func makeTarball(path string, n int, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	mean := size / int64(n)
	buf := bytes.Repeat([]byte("0123456789abcdef"), int(4*mean/16)+1)
	for i := 0; i < n; i++ {
		if i%70 == 0 {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%03d/", i/70), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return err
			}
		}
		sz := mean/4 + int64(i*7919)%(mean*3/2)
		h := &tar.Header{Name: fmt.Sprintf("d%03d/f%05d", i/70, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: sz}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(buf[:sz]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
