package distro

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The importer's tests unpack crafted tarballs with unpack, the whole of
// lx import but the command line, into a data directory of the test's own.

// ballTime is the time of the test tarballs' entries.
var ballTime = time.Unix(1700000000, 0)

// member is one tar entry and its content.
type member struct {
	h    tar.Header
	body string
}

// tarball writes the members as a plain tar.
func tarball(t *testing.T, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := m.h
		if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = ballTime
		}
		h.Size = int64(len(m.body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		io.WriteString(tw, m.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// importBall unpacks ball as distro "t" in a data directory of its own and
// returns the distro's root (also when the import failed, to look at what
// is left) and the import's error.
func importBall(t *testing.T, ball []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { makeWritable(dir) }) // before TempDir's RemoveAll
	if err := os.MkdirAll(filepath.Join(dir, "distros"), 0o700); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "ball.tar")
	if err := os.WriteFile(src, ball, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = unpack(dir, &Registry{Distros: map[string]*Distro{}}, "t", f)
	return filepath.Join(dir, "distros", "t", "rootfs"), err
}

// hostFile is a file outside every root a test imports: a tarball's
// symlinks point at it, and its metadata must never change.
type hostFile struct {
	path   string
	before unix.Stat_t
}

func newHostFile(t *testing.T) *hostFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(p, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644) // whatever the umask
	old := time.Unix(1600000000, 0)
	os.Chtimes(p, old, old)
	h := &hostFile{path: p}
	if err := unix.Lstat(p, &h.before); err != nil {
		t.Fatal(err)
	}
	return h
}

// unchanged fails the test if anything of the host file changed: type,
// mode, owner, link count, size, times, content or xattrs.
func (h *hostFile) unchanged(t *testing.T) {
	t.Helper()
	var now unix.Stat_t
	if err := unix.Lstat(h.path, &now); err != nil {
		t.Fatalf("host file: %v", err)
	}
	b, a := h.before, now
	if a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Nlink != b.Nlink || a.Size != b.Size || a.Mtim != b.Mtim {
		t.Errorf("the import changed a host file: mode %o -> %o, owner %d:%d -> %d:%d, links %d -> %d, size %d -> %d, mtime %v -> %v",
			b.Mode, a.Mode, b.Uid, b.Gid, a.Uid, a.Gid, b.Nlink, a.Nlink, b.Size, a.Size, b.Mtim, a.Mtim)
	}
	if c, _ := os.ReadFile(h.path); string(c) != "host\n" {
		t.Errorf("the import wrote into a host file: %q", c)
	}
	if n, _ := unix.Listxattr(h.path, make([]byte, 1024)); n > 0 {
		t.Errorf("the import set xattrs on a host file")
	}
}

// hostile is the metadata a hostile entry asks for: set-user-ID and
// writable by all, another owner, a time, an xattr.
func hostile(name string, typ byte) tar.Header {
	return tar.Header{Name: name, Typeflag: typ, Mode: 0o4777, Uid: 4321, Gid: 4321,
		ModTime: time.Unix(1234567890, 0), PAXRecords: map[string]string{"SCHILY.xattr.user.lx-test": "hostile"}}
}

func lstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("%v", err)
	}
	return st
}

// TestImportSymlinkThenDir: a symlink to a host file, then a directory of
// the same name. Tar replaces the symlink with a directory (GNU tar does
// by default); the importer once went through it and chmodded the host
// file 04777.
func TestImportSymlinkThenDir(t *testing.T) {
	host := newHostFile(t)
	root, err := importBall(t, tarball(t,
		member{h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: host.path}},
		member{h: hostile("x/", tar.TypeDir)},
	))
	host.unchanged(t)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if st := lstat(t, filepath.Join(root, "x")); st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o7777 != 0o4777 {
		t.Errorf("x is %o, want a directory of mode 04777", st.Mode)
	}
}

// TestImportSymlinkThenFile: a regular file, FIFO or device entry replaces
// a symlink of its name, and its metadata goes to the new file.
func TestImportSymlinkThenFile(t *testing.T) {
	for typ, kind := range map[byte]string{tar.TypeReg: "file", tar.TypeFifo: "fifo", tar.TypeChar: "char", tar.TypeBlock: "block"} {
		t.Run(kind, func(t *testing.T) {
			host := newHostFile(t)
			h := hostile("x", typ)
			h.Devmajor, h.Devminor = 1, 3
			root, err := importBall(t, tarball(t,
				member{h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: host.path}},
				member{h: h, body: map[byte]string{tar.TypeReg: "new\n"}[typ]},
			))
			host.unchanged(t)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			st := lstat(t, filepath.Join(root, "x"))
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				t.Fatalf("x is still a symlink")
			}
			if st.Mode&0o7777 != 0o4777 || os.Geteuid() == 0 && st.Uid != 4321 {
				t.Errorf("x: mode %o owner %d, want the entry's 04777 and 4321", st.Mode, st.Uid)
			}
		})
	}
}

// TestImportHardLinks: a hard link to a symlink links the symlink, not
// its target; a hard link through a symlinked directory resolves in the
// new root, never in the host's.
func TestImportHardLinks(t *testing.T) {
	host := newHostFile(t)
	root, err := importBall(t, tarball(t,
		member{h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: host.path}},
		member{h: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "x"}},
	))
	host.unchanged(t)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if st := lstat(t, filepath.Join(root, "h")); st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("h is %o, want a link to the symlink x", st.Mode)
	}

	_, err = importBall(t, tarball(t,
		member{h: tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(host.path)}},
		member{h: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "d/" + filepath.Base(host.path)}},
	))
	host.unchanged(t)
	if err == nil {
		t.Errorf("a hard link to %s (outside the new root) was imported", host.path)
	}
}

// TestImportThroughSymlinkedParent: x -> /, then x/etc/...: the entry
// lands in the new root's /etc, not the host's.
func TestImportThroughSymlinkedParent(t *testing.T) {
	name := "lx-test-" + rand.Text()
	root, err := importBall(t, tarball(t,
		member{h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: "/"}},
		member{h: tar.Header{Name: "x/etc/" + name, Typeflag: tar.TypeReg, Mode: 0o644}, body: "inside\n"},
	))
	if _, serr := os.Lstat("/etc/" + name); serr == nil {
		os.Remove("/etc/" + name)
		t.Fatal("the import wrote into the host's /etc")
	}
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc", name)); string(b) != "inside\n" {
		t.Errorf("x/etc/%s did not land in the new root's /etc: %q %v", name, b, err)
	}

	host := newHostFile(t)
	importBall(t, tarball(t,
		member{h: tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(host.path)}},
		member{h: hostile("d/"+filepath.Base(host.path), tar.TypeReg), body: "evil\n"},
		member{h: hostile("d/"+filepath.Base(host.path)+"/", tar.TypeDir)},
	))
	host.unchanged(t)
}

// TestImportDirRedirected: a directory's metadata is applied at the end;
// by then a later entry made its path lead to a symlink to a host file
// (l/x, with l now -> b and b/x -> the host file). The importer reports
// that, and does not follow it.
func TestImportDirRedirected(t *testing.T) {
	host := newHostFile(t)
	_, err := importBall(t, tarball(t,
		member{h: tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}},
		member{h: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "a"}},
		member{h: hostile("l/x/", tar.TypeDir)},
		member{h: tar.Header{Name: "b/", Typeflag: tar.TypeDir, Mode: 0o755}},
		member{h: tar.Header{Name: "b/x", Typeflag: tar.TypeSymlink, Linkname: host.path}},
		member{h: tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "b"}},
	))
	host.unchanged(t)
	if err == nil || !strings.Contains(err.Error(), "l/x") {
		t.Errorf("import of a redirected directory: %v, want an error naming l/x", err)
	}
}

// TestImportDirThenSymlink: a later symlink replaces an empty directory of
// its name, as tar does; the directory's metadata then applies to nothing.
func TestImportDirThenSymlink(t *testing.T) {
	host := newHostFile(t)
	root, err := importBall(t, tarball(t,
		member{h: hostile("x/", tar.TypeDir)},
		member{h: tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: host.path}},
	))
	host.unchanged(t)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(root, "x")); l != host.path {
		t.Errorf("x: %q %v, want the symlink", l, err)
	}
}

// TestImportUnknownType: an entry the importer cannot make fails the
// import with one line naming it and its type; a pax global header, which
// makes nothing, does not.
func TestImportUnknownType(t *testing.T) {
	_, err := importBall(t, tarball(t,
		member{h: tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}},
		member{h: tar.Header{Name: "etc/odd", Typeflag: 'Z', Mode: 0o644}, body: "?"},
	))
	if err == nil || !strings.Contains(err.Error(), "etc/odd") || !strings.Contains(err.Error(), "'Z'") || strings.Contains(err.Error(), "\n") {
		t.Errorf("import of an entry of type 'Z': %v, want one line naming etc/odd and 'Z'", err)
	}
	_, err = importBall(t, tarball(t,
		member{h: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}}},
		member{h: tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}},
	))
	if err != nil {
		t.Errorf("import with a pax global header: %v", err)
	}
}

// TestImportSparse: GNU tar's sparse members, old GNU ('S') and PAX
// (0.0, 0.1, 1.0), are imported with their whole content.
func TestImportSparse(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("skipped: no tar to make sparse members with")
	}
	src := t.TempDir()
	want := sparseFile(t, filepath.Join(src, "holes"))
	for _, args := range [][]string{
		{"--format=gnu"},
		{"--format=pax", "--sparse-version=0.0"},
		{"--format=pax", "--sparse-version=0.1"},
		{"--format=pax", "--sparse-version=1.0"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := exec.Command("tar", append(append([]string{"-C", src, "--sparse", "-cf", "-"}, args...), "holes")...).Output()
			if err != nil {
				t.Fatalf("tar: %v", err)
			}
			if !hasSparseMember(out) {
				t.Fatal("tar made no sparse member")
			}
			root, err := importBall(t, out)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(root, "holes"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("imported sparse file: %d bytes %v, want %d bytes as made", len(got), err, len(want))
			}
			if st := lstat(t, filepath.Join(root, "holes")); st.Blocks*512 >= 1<<20 {
				t.Errorf("the imported sparse file takes %d bytes of disk; its holes were filled", st.Blocks*512)
			}
		})
	}
}

// sparseFile makes a file of 3 MiB with data at three places and holes
// between them, and returns its content.
func sparseFile(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int64{0, 1 << 20, 3<<20 - 4096} {
		f.WriteAt(bytes.Repeat([]byte(hex.EncodeToString([]byte{byte(off >> 20)})), 2048), off)
	}
	f.Truncate(3 << 20)
	b, _ := os.ReadFile(p)
	return b
}

// hasSparseMember says whether ball has a member in a GNU sparse format.
func hasSparseMember(ball []byte) bool {
	tr := tar.NewReader(bytes.NewReader(ball))
	for {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if h.Typeflag == tar.TypeGNUSparse || h.PAXRecords["GNU.sparse.major"] != "" || h.PAXRecords["GNU.sparse.map"] != "" || h.PAXRecords["GNU.sparse.numblocks"] != "" {
			return true
		}
	}
}

// secret is a host file outside every distro root: an export must never
// hold its content, which is its marker repeated.
func secret(t *testing.T) (path, marker string) {
	t.Helper()
	marker = "LX-SECRET-" + rand.Text()
	dir := t.TempDir()
	path = filepath.Join(dir, "secret")
	if err := os.WriteFile(path, bytes.Repeat([]byte(marker), 4096/len(marker)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, marker
}

// exportTree exports root as a plain tarball; a failed export returns what
// it wrote before it failed.
func exportTree(root string) ([]byte, error) {
	var buf bytes.Buffer
	err := export(&Distro{Name: "t", Root: root}, "none", &buf)
	return buf.Bytes(), err
}

// TestExportSymlinkToHostFile: symlinks of a distro are exported as
// symlinks, whatever they point at; the host file's content is not.
func TestExportSymlinkToHostFile(t *testing.T) {
	p, marker := secret(t)
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "plain"), []byte("plain\n"), 0o644)
	os.Symlink(p, filepath.Join(root, "etc", "abs"))
	os.Symlink(strings.Repeat("../", 20)+p[1:], filepath.Join(root, "etc", "rel"))
	os.Symlink(filepath.Dir(p), filepath.Join(root, "dir"))
	ball, err := exportTree(root)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if bytes.Contains(ball, []byte(marker)) {
		t.Fatal("the export holds a host file's content")
	}
	got := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(ball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = string(h.Typeflag) + " " + h.Linkname
	}
	want := map[string]string{"etc/": "5 ", "etc/plain": "0 ", "etc/abs": "2 " + p, "etc/rel": "2 " + strings.Repeat("../", 20) + p[1:], "dir": "2 " + filepath.Dir(p)}
	if len(got) != len(want) {
		t.Errorf("exported %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: exported as %q, want %q", k, got[k], v)
		}
	}
}

// TestExportRace: a guest swaps a regular file with a symlink to a host
// file, and a directory with a symlink to a host directory
// (renameat2(RENAME_EXCHANGE)), while the distro is exported. No export
// may hold the host file's content. The exporter once checked a name with
// lstat, then opened it by name, through the symlink swapped in between.
func TestExportRace(t *testing.T) {
	p, marker := secret(t)
	root := t.TempDir()
	size := len(marker) * (4096 / len(marker))
	os.WriteFile(filepath.Join(root, "f"), bytes.Repeat([]byte("p"), size), 0o644)
	os.Symlink(p, filepath.Join(root, "s"))
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d", "secret"), bytes.Repeat([]byte("d"), size), 0o644)
	os.Symlink(filepath.Dir(p), filepath.Join(root, "e"))
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	stop, done := make(chan struct{}), make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			for _, pair := range [][2]string{{"f", "s"}, {"d", "e"}} {
				if err := unix.Renameat2(dfd, pair[0], dfd, pair[1], unix.RENAME_EXCHANGE); err != nil {
					<-stop
					done <- err
					return
				}
			}
		}
	}()
	exports, failed := 0, 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); exports++ {
		ball, err := exportTree(root)
		if err != nil {
			failed++
		}
		if bytes.Contains(ball, []byte(marker)) {
			close(stop)
			<-done
			t.Fatalf("export %d holds the host file's content (export error: %v)", exports, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("renameat2(RENAME_EXCHANGE): %v", err)
	}
	t.Logf("%d exports, %d failed (the tree kept changing)", exports, failed)
}

// TestTreeSize: export's estimate counts headers and data blocks of the
// tree itself, and never what a symlink names (a guest's /usr -> / would
// otherwise have it walk the host).
func TestTreeSize(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a"), make([]byte, 1000), 0o644)
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	os.Symlink("/usr", filepath.Join(root, "d", "l"))
	// entries a, d, d/l: 3 headers; a's 1000 bytes in 2 blocks; the end
	if got, want := treeSize(root), int64(3*512+1024+1024); got != want {
		t.Errorf("treeSize = %d, want %d", got, want)
	}
	if got := treeSize(filepath.Join(root, "d", "l")); got != -1 {
		t.Errorf("treeSize of a symlink = %d, want -1 (not followed)", got)
	}
}
