package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lxEnv runs lx with extra environment (XDG_DATA_HOME for a registry of
// the test's own).
func lxEnv(t *testing.T, env []string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lxBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "/"
	cmd.Stdin = stdin
	return runCmd(t, cmd)
}

// rootfsTarball is a small distro: static busybox and its applets, files
// of another owner, a hard link, a device node, a FIFO, a read-only dir.
func rootfsTarball(t *testing.T, escape bool) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("skipped: /bin/busybox is missing (.ci/run installs busybox-static)")
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mt := time.Unix(1700000000, 0)
	add := func(h *tar.Header, data []byte) {
		h.ModTime = mt
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for _, d := range []string{"bin", "etc", "home", "home/user", "var", "var/empty", "opt", "opt/t", "mnt", "mnt/later", "mnt/c", "mnt/d"} {
		add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "var/empty/", Typeflag: tar.TypeDir, Mode: 0o555}, nil)
	add(&tar.Header{Name: "root/", Typeflag: tar.TypeDir, Mode: 0o700}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "ls", "cat", "stat", "id", "echo", "sleep", "true", "pwd"} {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"))
	add(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("NAME=lxtest\n"))
	add(&tar.Header{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/os-release"}, nil)
	add(&tar.Header{Name: "home/user/notes", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1000}, []byte("mine\n"))
	add(&tar.Header{Name: "etc/fifo", Typeflag: tar.TypeFifo, Mode: 0o644}, nil)
	add(&tar.Header{Name: "etc/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, nil)
	if escape {
		add(&tar.Header{Name: "../../escape-attempt", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x"))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestDistroLifecycle(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data}
	ball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	os.WriteFile(ball, rootfsTarball(t, true), 0o644)

	if _, errs, code := lxEnv(t, env, nil, "import", "bb", ball); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(data), "escape-attempt")); err == nil {
		t.Fatal("a ../ entry was written outside the distro")
	}
	out, errs, code := lxEnv(t, env, nil, "run", "-d", "bb", "--", "/bin/sh", "-c",
		"cat /etc/os-release /etc/hard; stat -c '%a %U %F' /home/user/notes /var/empty /etc/fifo; stat -c '%t,%T' /etc/null; pwd")
	want := "NAME=lxtest\nNAME=lxtest\n600 user regular file\n555 root directory\n644 root fifo\n1,3\n/root\n"
	if code != 0 || out != want {
		t.Fatalf("run in the distro: exit %d\n%s\nwant\n%s\nstderr %s", code, out, want, errs)
	}

	// -u runs as a user of the distro, in its home.
	if os.Geteuid() == 0 {
		out, errs, code = lxEnv(t, env, nil, "run", "-d", "bb", "-u", "user", "--", "/bin/sh", "-c", "id -u; id -g; pwd; echo $HOME; cat /home/user/notes")
		if code != 0 || out != "1000\n1000\n/home/user\n/home/user\nmine\n" {
			t.Fatalf("run -u user: exit %d %q %s", code, out, errs)
		}
	}
	if _, errs, code := lxEnv(t, env, nil, "run", "-d", "bb", "-u", "nosuch", "--", "true"); code != 125 || !strings.Contains(errs, "no user nosuch") {
		t.Fatalf("run -u nosuch: exit %d %q", code, errs)
	}

	// Export keeps owners, links and the device; a re-import from stdin of
	// the xz export is the same distro.
	exported := filepath.Join(t.TempDir(), "bb.tar.xz")
	if _, errs, code := lxEnv(t, env, nil, "export", "bb", exported); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	listing, err := exec.Command("tar", "tvJf", exported).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"1000/1000", "home/user/notes", "link to", "1,3", "etc/fifo"} {
		if !bytes.Contains(listing, []byte(w)) {
			t.Errorf("export lacks %q:\n%s", w, listing)
		}
	}
	f, _ := os.Open(exported)
	defer f.Close()
	if _, errs, code := lxEnv(t, env, f, "import", "bb2", "-"); code != 0 {
		t.Fatalf("re-import: %s", errs)
	}
	if out, _, _ := lxEnv(t, env, nil, "run", "-d", "bb2", "--", "cat", "/home/user/notes"); out != "mine\n" {
		t.Fatalf("re-imported distro: %q", out)
	}

	// list, set-default, unregister.
	var rows []listed
	out, _, _ = lxEnv(t, env, nil, "list", "--json")
	if json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[1].Name != "bb" || rows[1].Default || !rows[0].Default {
		t.Fatalf("list --json: %s", out)
	}
	if _, errs, code := lxEnv(t, env, nil, "set-default", "bb2"); code != 0 {
		t.Fatal(errs)
	}
	if out, _, _ := lxEnv(t, env, nil, "run", "--", "cat", "/etc/os-release"); out != "NAME=lxtest\n" {
		t.Fatalf("run without -d after set-default: %q", out)
	}
	root2 := rows[2].Location
	if _, errs, code := lxEnv(t, env, nil, "unregister", "bb2"); code != 0 {
		t.Fatal(errs)
	}
	if _, err := os.Stat(root2); err == nil {
		t.Fatalf("unregister left %s", root2)
	}
	if _, errs, code := lxEnv(t, env, nil, "run", "-d", "bb2", "--", "true"); code == 0 || !strings.Contains(errs, "no distro named bb2") {
		t.Fatalf("run of an unregistered distro: %d %q", code, errs)
	}
	lxEnv(t, env, nil, "unregister", "bb")
}

func TestImportTruncatedLeavesNothing(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data}
	ball := rootfsTarball(t, false)
	before, _, _ := lxEnv(t, env, nil, "list", "--json")
	_, errs, code := lxEnv(t, env, bytes.NewReader(ball[:len(ball)/2]), "import", "broken", "-")
	if code == 0 || !strings.Contains(errs, "truncated") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("truncated import: exit %d, stderr %q (want one line saying truncated)", code, errs)
	}
	after, _, _ := lxEnv(t, env, nil, "list", "--json")
	if before != after {
		t.Fatalf("list changed:\n%s\n%s", before, after)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "lx", "distros", "*")); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
	if _, errs, code := lxEnv(t, env, strings.NewReader("this is not a tarball at all, not even close..........."), "import", "junk", "-"); code == 0 {
		t.Fatalf("garbage imported: %s", errs)
	}
}

func TestImportInPlace(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data}
	dir := t.TempDir()
	cmd := exec.Command("tar", "xzf", "-", "-C", dir, "--exclude=etc/null") // no mknod for an unprivileged tester
	cmd.Stdin = bytes.NewReader(rootfsTarball(t, false))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	if _, errs, code := lxEnv(t, env, nil, "import", "--in-place", "mine", dir); code != 0 {
		t.Fatal(errs)
	}
	if out, errs, code := lxEnv(t, env, nil, "run", "-d", "mine", "--", "/bin/sh", "-c", "echo made-inside > /made; cat /etc/os-release"); code != 0 || out != "NAME=lxtest\n" {
		t.Fatalf("run in place: %d %q %s", code, out, errs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "made")); string(b) != "made-inside\n" {
		t.Fatalf("the in-place root did not get the guest's file: %q", b)
	}
	lxEnv(t, env, nil, "unregister", "mine")
	if _, err := os.Stat(filepath.Join(dir, "etc/os-release")); err != nil {
		t.Fatal("unregister removed the files of an in-place distro")
	}
}

// TestConcurrentImportsOneWins and TestLaunchWaitsForImport: the per-user
// lock serializes imports; a launch of a distro being imported waits, says
// so, then runs.
func TestConcurrentImportsOneWins(t *testing.T) {
	env := []string{"XDG_DATA_HOME=" + t.TempDir()}
	ball := rootfsTarball(t, false)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	errs := make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = lxEnv(t, env, bytes.NewReader(ball), "import", "same", "-")
		}()
	}
	wg.Wait()
	if (codes[0] == 0) == (codes[1] == 0) || !strings.Contains(errs[0]+errs[1], "exists already") {
		t.Fatalf("two imports: codes %v stderr %q", codes, errs)
	}
}

func TestLaunchWaitsForImport(t *testing.T) {
	env := []string{"XDG_DATA_HOME=" + t.TempDir()}
	ball := rootfsTarball(t, false)
	pr, pw := io.Pipe()
	imp := exec.Command(lxBin, "import", "slow", "-")
	imp.Env = append(os.Environ(), env...)
	imp.Stdin = pr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Write(ball[:1024])
	time.Sleep(300 * time.Millisecond) // the import holds the lock now
	type res struct {
		out, errs string
		code      int
	}
	done := make(chan res)
	go func() {
		out, errs, code := lxEnv(t, env, nil, "run", "-d", "slow", "--", "cat", "/etc/os-release")
		done <- res{out, errs, code}
	}()
	time.Sleep(500 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("the launch did not wait for the import: %+v", r)
	default:
	}
	pw.Write(ball[1024:])
	pw.Close()
	if err := imp.Wait(); err != nil {
		t.Fatalf("import: %v", err)
	}
	r := <-done
	if r.code != 0 || r.out != "NAME=lxtest\n" || !strings.Contains(r.errs, "waiting for a pending import") {
		t.Fatalf("launch after the import: %+v", r)
	}
}

// TestImportKilledLeavesNothing: an import killed half way (a crash, or ^C)
// leaves no distro registered; the next import cleans up what it left.
func TestImportKilledLeavesNothing(t *testing.T) {
	data := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + data}
	ball := rootfsTarball(t, false)
	pr, pw := io.Pipe()
	imp := exec.Command(lxBin, "import", "half", "-")
	imp.Env = append(os.Environ(), env...)
	imp.Stdin = pr
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Write(ball[:len(ball)/2])
	time.Sleep(300 * time.Millisecond)
	imp.Process.Kill()
	pw.Close() // Wait waits for the copy into the import's stdin
	imp.Wait()
	out, _, _ := lxEnv(t, env, nil, "list")
	if strings.Contains(out, "half") {
		t.Fatalf("a killed import is listed:\n%s", out)
	}
	if _, errs, code := lxEnv(t, env, bytes.NewReader(ball), "import", "half", "-"); code != 0 {
		t.Fatalf("import after a killed one: %s", errs)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "lx", "distros", ".import-*")); len(left) != 0 {
		t.Fatalf("staging left behind: %v", left)
	}
}

// importBusybox imports the busybox test root as distro name in a data
// directory of its own, and returns the environment that names it and the
// directory. The instance is ended and the distro unregistered when the
// test ends.
func importBusybox(t *testing.T, name string) (env []string, data string) {
	t.Helper()
	data = t.TempDir()
	env = []string{"XDG_DATA_HOME=" + data}
	ball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	os.WriteFile(ball, rootfsTarball(t, false), 0o644)
	if _, errs, code := lxEnv(t, env, nil, "import", name, ball); code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	t.Cleanup(func() {
		lxEnv(t, env, nil, "terminate", name)
		lxEnv(t, env, nil, "unregister", name)
	})
	return env, data
}

// TestGuestFilesCannotStallLaunches: init reads the instance's /etc/passwd
// and /etc/group to start a command; a guest that replaces them with FIFOs
// (whose open blocks) or devices must not stall every launch after it.
func TestGuestFilesCannotStallLaunches(t *testing.T) {
	env, _ := importBusybox(t, "fifo")
	if out, errs, code := lxEnv(t, env, nil, "run", "-d", "fifo", "--", "sh", "-c",
		"rm -f /etc/passwd /etc/group && mkfifo /etc/passwd && ln -s /dev/zero /etc/group && echo swapped"); code != 0 || out != "swapped\n" {
		t.Fatalf("swap /etc/passwd: exit %d %q %s", code, out, errs)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if out, errs, code := lxEnv(t, env, nil, "run", "-d", "fifo", "--", "echo", "ok"); code != 0 || out != "ok\n" {
			t.Errorf("launch after the swap: exit %d %q %s", code, out, errs)
		}
		if _, errs, code := lxEnv(t, env, nil, "run", "-d", "fifo", "-u", "user", "--", "true"); code != 125 || !strings.Contains(errs, "/etc/passwd") {
			t.Errorf("launch as a user after the swap: exit %d %q, want 125 and a message naming /etc/passwd", code, errs)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("launches stall after a guest made /etc/passwd a FIFO")
	}
}

// isolated is an environment of the test's own for lx import and export,
// and its data directory: HOME and every XDG directory lx could use (the
// runtime and state ones are TestMain's).
func isolated(t *testing.T) (env []string, data string) {
	data = t.TempDir()
	return []string{"HOME=" + t.TempDir(), "XDG_DATA_HOME=" + data,
		"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir()}, data
}

// symlinkThenDir is a tarball whose x is a symlink to target, then a
// directory x/ of mode 04777: an importer that goes through x makes the
// host's target set-user-ID and writable by all.
func symlinkThenDir(t *testing.T, target string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "x", Typeflag: tar.TypeSymlink, Linkname: target, ModTime: time.Unix(1700000000, 0)},
		{Name: "x/", Typeflag: tar.TypeDir, Mode: 0o4777, ModTime: time.Unix(1234567890, 0)},
		{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644, Size: 12, ModTime: time.Unix(1700000000, 0)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(tw, "NAME=hostile")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hostTarget makes file p, mode 0644, owned by uid, and returns a check
// that its mode, owner and times are as they were.
func hostTarget(t *testing.T, p string, uid int) func() {
	t.Helper()
	if err := os.WriteFile(p, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	os.Chown(p, uid, uid)
	var before syscall.Stat_t
	if err := syscall.Lstat(p, &before); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		var now syscall.Stat_t
		syscall.Lstat(p, &now)
		if now.Mode != before.Mode || now.Uid != before.Uid || now.Gid != before.Gid || now.Mtim != before.Mtim {
			t.Errorf("lx import changed host file %s: mode %o -> %o, owner %d -> %d, mtime %v -> %v", p, before.Mode, now.Mode, before.Uid, now.Uid, before.Mtim, now.Mtim)
		}
	}
}

// TestImportSymlinkThenDir: lx import of a symlink x to a host file, then
// a directory x/ of mode 04777, leaves the host file as it was and makes x
// a directory of the new root, as the user who runs lx and as nobody.
func TestImportSymlinkThenDir(t *testing.T) {
	t.Run("self", func(t *testing.T) {
		env, data := isolated(t)
		target := filepath.Join(t.TempDir(), "target")
		unchanged := hostTarget(t, target, os.Geteuid())
		ball := filepath.Join(t.TempDir(), "hostile.tar")
		os.WriteFile(ball, symlinkThenDir(t, target), 0o644)
		_, errs, code := lxEnv(t, env, nil, "import", "hostile", ball)
		unchanged()
		if code != 0 {
			t.Fatalf("import: exit %d %s", code, errs)
		}
		defer lxEnv(t, env, nil, "unregister", "hostile")
		if fi, err := os.Lstat(filepath.Join(data, "lx", "distros", "hostile", "rootfs", "x")); err != nil || !fi.IsDir() || fi.Mode()&os.ModeSetuid == 0 {
			t.Errorf("x in the new root: %v %v, want a set-user-ID directory", fi.Mode(), err)
		}
	})
	t.Run("nobody", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("skipped: running lx as nobody needs root")
		}
		need(t, "setpriv")
		// The data directory is ~/.local/share, in nobody's work directory;
		// the target is nobody's own, so that a chmod through x succeeds.
		work, run := asNobody(t, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "XDG_CACHE_HOME=")
		target := filepath.Join(work, "target")
		unchanged := hostTarget(t, target, 65534)
		ball := filepath.Join(work, "hostile.tar")
		os.WriteFile(ball, symlinkThenDir(t, target), 0o644)
		out, code := run("import", "hostile", ball)
		unchanged()
		if code != 0 {
			t.Fatalf("import as nobody: exit %d %s", code, out)
		}
		if fi, err := os.Lstat(filepath.Join(work, ".local", "share", "lx", "distros", "hostile", "rootfs", "x")); err != nil || !fi.IsDir() {
			t.Errorf("x in nobody's new root: %v %v, want a directory", fi.Mode(), err)
		}
	})
}

// TestExportSymlinkToHostFile: a distro's symlink to a host file is
// exported as a symlink; the host file's content is not in the tarball.
func TestExportSymlinkToHostFile(t *testing.T) {
	env, _ := isolated(t)
	secret := filepath.Join(t.TempDir(), "secret")
	marker := "LX-E2E-SECRET-" + strings.Repeat("s", 32)
	os.WriteFile(secret, []byte(marker), 0o644)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "etc/shadow", Typeflag: tar.TypeSymlink, Linkname: secret})
	tw.Close()
	if _, errs, code := lxEnv(t, env, &buf, "import", "links", "-"); code != 0 {
		t.Fatalf("import: exit %d %s", code, errs)
	}
	defer lxEnv(t, env, nil, "unregister", "links")
	out := filepath.Join(t.TempDir(), "links.tar")
	if _, errs, code := lxEnv(t, env, nil, "export", "links", out); code != 0 {
		t.Fatalf("export: exit %d %s", code, errs)
	}
	b, _ := os.ReadFile(out)
	if bytes.Contains(b, []byte(marker)) {
		t.Fatal("the export holds a host file's content")
	}
	listing, err := exec.Command("tar", "tvf", out).Output()
	if err != nil || !bytes.Contains(listing, []byte("etc/shadow -> "+secret)) {
		t.Fatalf("export lacks the symlink etc/shadow -> %s: %v\n%s", secret, err, listing)
	}
}

// TestImportKeepsTheDefault (finding 3): an import does not become the
// default distro; plain lx run stays in the host root and this directory,
// and import says how to make it the default.
func TestImportKeepsTheDefault(t *testing.T) {
	env, data := isolated(t)
	ball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	os.WriteFile(ball, rootfsTarball(t, false), 0o644)
	_, errs, code := lxEnv(t, env, nil, "import", "first", ball)
	if code != 0 || !strings.Contains(errs, "'lx set-default first' makes it the default") {
		t.Fatalf("import: exit %d %q", code, errs)
	}
	defer lxEnv(t, env, nil, "unregister", "first")
	out, _, _ := lxEnv(t, env, nil, "list", "--json")
	var rows []struct {
		Name    string `json:"name"`
		Default bool   `json:"default"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("lx list --json: %v %q", err, out)
	}
	for _, r := range rows {
		if r.Default != (r.Name == "default") {
			t.Errorf("after an import, %s default=%v", r.Name, r.Default)
		}
	}
	dir := t.TempDir()
	giveToInstance(t, dir)
	cmd := exec.Command(lxBin, "run", "--", "pwd")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	if b, err := cmd.Output(); err != nil || strings.TrimSpace(string(b)) != dir {
		t.Errorf("lx run pwd after an import: %v %q, want %s", err, b, dir)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "lx", "registry.json")); bytes.Contains(b, []byte(`"default"`)) {
		t.Errorf("the registry names a default: %s", b)
	}
}

// TestExportFormats (finding 6): the suffix (or --format) chooses the
// compression, an unknown suffix is refused and leaves no file, and each
// format imports back.
func TestExportFormats(t *testing.T) {
	env, _ := importBusybox(t, "exp")
	dir := t.TempDir()
	magic := map[string][]byte{"gzip": {0x1f, 0x8b}, "xz": {0xfd, '7', 'z', 'X', 'Z', 0}, "zstd": {0x28, 0xb5, 0x2f, 0xfd}}
	for _, c := range []struct{ file, format, want string }{
		{"a.tar.gz", "", "gzip"}, {"a.tgz", "", "gzip"}, {"a.tar.xz", "", "xz"}, {"a.tar.zst", "", "zstd"},
		{"a.tar", "", "none"}, {"b.tar", "zstd", "zstd"}, {"b.tar.gz", "none", "none"},
	} {
		f := filepath.Join(dir, c.file)
		args := []string{"export", "exp", f}
		if c.format != "" {
			args = []string{"export", "--format", c.format, "exp", f}
		}
		if _, errs, code := lxEnv(t, env, nil, args...); code != 0 || errs != "" {
			t.Fatalf("%v: exit %d %q (quiet without a terminal)", args, code, errs)
		}
		b, _ := os.ReadFile(f)
		if m := magic[c.want]; (m != nil && !bytes.HasPrefix(b, m)) || (c.want == "none" && (len(b) < 512 || string(b[257:262]) != "ustar")) {
			t.Errorf("%v: not %s: % x", args, c.want, b[:min(len(b), 8)])
		}
		name := "back" + strconv.Itoa(len(c.file)) + c.want
		if _, errs, code := lxEnv(t, env, nil, "import", name, f); code != 0 {
			t.Errorf("import of %s: exit %d %s", c.file, code, errs)
		}
		if out, _, code := lxEnv(t, env, nil, "run", "-d", name, "--", "cat", "/etc/os-release"); code != 0 || out != "NAME=lxtest\n" {
			t.Errorf("run in the import of %s: exit %d %q", c.file, code, out)
		}
		lxEnv(t, env, nil, "unregister", name)
	}
	for _, f := range []string{"c.tar.bz2", "c.tar.lz4", "c.zip", "c"} {
		_, errs, code := lxEnv(t, env, nil, "export", "exp", filepath.Join(dir, f))
		if code != 125 || !strings.Contains(errs, "cannot tell how to compress") || strings.Count(errs, "\n") != 1 {
			t.Errorf("export to %s: exit %d %q, want a refusal", f, code, errs)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "c*")); len(m) != 0 {
			t.Errorf("a refused export left %v", m)
		}
	}
	if _, errs, code := lxEnv(t, env, nil, "export", "--format", "rar", "exp", "-"); code != 125 || !strings.Contains(errs, "unknown --format") {
		t.Errorf("--format rar: exit %d %q", code, errs)
	}
	// On a terminal, one progress line: the tar bytes, rate, time left.
	need(t, "script")
	cmd := exec.Command("script", "-qec", lxBin+" export exp "+filepath.Join(dir, "p.tar.gz"), "/dev/null")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !regexp.MustCompile(`exporting exp 100% .*\d+(\.\d+)? [KMG]?i?B/s`).Match(out) {
		t.Errorf("export on a terminal: %v %q", err, out)
	}
}

// TestInPlaceRefusals (finding 7): --in-place refuses the host root and a
// directory that is no root filesystem (unless --force), leaves nothing
// it made behind at unregister, and import of a directory without it
// points to it.
func TestInPlaceRefusals(t *testing.T) {
	env, _ := isolated(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--in-place", "h", "/"}, "is the host's root"},
		{[]string{"import", "--in-place", "h", "/./"}, "is the host's root"},
		{[]string{"import", "--in-place", "h", "/etc"}, "'lx import --in-place --force h /etc' registers it anyway"},
		{[]string{"import", "h", "/etc"}, "/etc is a directory; 'lx import --in-place h /etc' registers it"},
	} {
		if _, errs, code := lxEnv(t, env, nil, c.args...); code != 125 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("lx %s: exit %d %q, want 125 and %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
	if out, _, _ := lxEnv(t, env, nil, "list"); strings.Contains(out, " h ") {
		t.Fatalf("a refused import registered h: %s", out)
	}
	empty := t.TempDir()
	if _, errs, code := lxEnv(t, env, nil, "import", "--in-place", "--force", "e", empty); code != 0 {
		t.Errorf("--force: exit %d %q", code, errs)
	}
	lxEnv(t, env, nil, "unregister", "e")
	// A real root: a run makes the mount points it lacks; unregister
	// takes them away again, and leaves the rest as it was.
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("skipped: /bin/busybox is missing (.ci/run installs busybox-static)")
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755)
	os.Symlink("busybox", filepath.Join(root, "bin", "sh"))
	os.Mkdir(filepath.Join(root, "tmp"), 0o1777) // one it has: kept
	os.Mkdir(filepath.Join(root, "etc"), 0o755)  // the keeper makes its hosts, hostname, resolv.conf
	os.WriteFile(filepath.Join(root, "etc", "hosts"), []byte("127.0.0.1 mine\n"), 0o644)
	before := entries(t, root)
	if _, errs, code := lxEnv(t, env, nil, "import", "--in-place", "ip", root); code != 0 {
		t.Fatalf("import --in-place: exit %d %q", code, errs)
	}
	if out, errs, code := lxEnv(t, env, nil, "run", "-d", "ip", "--", "/bin/sh", "-c", "echo ran"); code != 0 || out != "ran\n" {
		t.Fatalf("run in place: exit %d %q %s", code, out, errs)
	}
	if after := entries(t, root); len(after) <= len(before) {
		t.Logf("the run made no mount point (%v)", after)
	}
	if _, errs, code := lxEnv(t, env, nil, "unregister", "ip"); code != 0 {
		t.Fatalf("unregister: exit %d %q", code, errs)
	}
	if after := entries(t, root); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("unregister left the root %v, it was %v", after, before)
	}
}

// entries lists every path below dir, with its size for files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		names = append(names, fmt.Sprintf("%s %v %d", strings.TrimPrefix(p, dir), fi.Mode(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
