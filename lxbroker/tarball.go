package lxbroker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"lx/servers"
)

// Ownership and device nodes an unprivileged user cannot create are kept in
// xattrs of the extracted file (servers.OwnerXattr, servers.DevXattr).
// Export restores both. Symlinks cannot carry user xattrs, so a symlink
// owned by another user is exported as owned by root.

// decompress detects gzip, xz, zstd and bzip2 by their magic numbers; any
// other stream is read as a plain tar.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		return z, func() {}, err
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		z, err := xz.NewReader(br)
		return z, func() {}, err
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), func() {}, nil
	}
	return br, func() {}, nil
}

// extractor writes tar entries below one root, never outside it: every
// parent is resolved with openat2(RESOLVE_IN_ROOT), and every entry is made
// with an *at call that does not follow its last component.
type extractor struct {
	root       int
	privileged bool
	dirs       []*tar.Header // modes and times applied last
	kept       int           // xattrs that could not be set
}

func cleanName(name string) (string, error) {
	p := path.Clean("/" + name)
	if p == "/" {
		return "", nil
	}
	return p[1:], nil
}

// parent opens (making it if needed) the directory of rel.
func (x *extractor) parent(rel string) (int, string, error) {
	dir, base := path.Split(rel)
	fd, err := unix.Openat2(x.root, "/"+dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err == unix.ENOENT {
		if err := x.mkdirAll(strings.TrimSuffix(dir, "/")); err != nil {
			return -1, "", err
		}
		fd, err = unix.Openat2(x.root, "/"+dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	}
	if err != nil {
		return -1, "", fmt.Errorf("%s: %w", dir, err)
	}
	return fd, base, nil
}

func (x *extractor) mkdirAll(rel string) error {
	if rel == "" {
		return nil
	}
	pfd, base, err := x.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

func (x *extractor) entry(h *tar.Header, body io.Reader) error {
	rel, err := cleanName(h.Name)
	if err != nil || rel == "" {
		return err
	}
	pfd, base, err := x.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if h.Typeflag != tar.TypeDir {
		unix.Unlinkat(pfd, base, 0) // a later entry replaces an earlier one, as tar does
	}
	mode := uint32(h.Mode) & 0o7777
	switch h.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return err
		}
		x.dirs = append(x.dirs, h)
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("hard link to %q", h.Linkname)
		}
		tfd, tbase, err := x.parent(target)
		if err != nil {
			return err
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		return err // a hard link shares its target's metadata
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock:
		kind, typ := "c", uint32(unix.S_IFCHR)
		if h.Typeflag == tar.TypeBlock {
			kind, typ = "b", unix.S_IFBLK
		}
		dev := int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))
		if !x.privileged || unix.Mknodat(pfd, base, typ|0o600, dev) != nil {
			fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
			if err != nil {
				return err
			}
			unix.Close(fd)
			x.setxattr(pfd, base, servers.DevXattr, servers.FormatDev(kind[0], uint32(h.Devmajor), uint32(h.Devminor)))
		}
	default:
		return nil // pax globals, GNU volume headers: nothing to make
	}
	if h.Typeflag != tar.TypeDir {
		return x.meta(pfd, base, h, mode)
	}
	return nil
}

func (x *extractor) setxattr(pfd int, base, name, value string) {
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		x.kept++
		return
	}
	defer unix.Close(fd)
	if unix.Setxattr("/proc/self/fd/"+strconv.Itoa(fd), name, []byte(value), 0) != nil {
		x.kept++
	}
}

// meta applies ownership, mode, xattrs and times to an entry.
func (x *extractor) meta(pfd int, base string, h *tar.Header, mode uint32) error {
	symlink := h.Typeflag == tar.TypeSymlink
	if x.privileged {
		unix.Fchownat(pfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW)
	} else if (h.Uid != 0 || h.Gid != 0) && !symlink {
		x.setxattr(pfd, base, servers.OwnerXattr, servers.FormatOwner(uint32(h.Uid), uint32(h.Gid)))
	}
	if !symlink {
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				x.setxattr(pfd, base, name, v)
			}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	if !h.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(h.AccessTime.UnixNano())
	}
	unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	return nil
}

// finish applies the directories' metadata, deepest first, so that a
// read-only directory is made read-only after its contents.
func (x *extractor) finish() error {
	done := map[string]bool{}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		h := x.dirs[i]
		rel, _ := cleanName(h.Name)
		if done[rel] {
			continue // a later entry for the same directory wins
		}
		done[rel] = true
		pfd, base, err := x.parent(rel)
		if err != nil {
			return err
		}
		err = x.meta(pfd, base, h, uint32(h.Mode)&0o7777)
		unix.Close(pfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// progress counts bytes read and, on a terminal, draws a one-line bar.
type progress struct {
	r     io.Reader
	n     int64
	total int64
	name  string
	tty   bool
	last  time.Time
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.tty && time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return n, err
}

func (p *progress) draw() {
	const mib = 1 << 20
	if p.total > 0 {
		pct := float64(p.n) * 100 / float64(p.total)
		w := int(pct / 5)
		fmt.Fprintf(os.Stderr, "\rimporting %s [%-20s] %5.1f%% %.1f/%.1f MiB", p.name, strings.Repeat("#", w), pct, float64(p.n)/mib, float64(p.total)/mib)
	} else {
		fmt.Fprintf(os.Stderr, "\rimporting %s %.1f MiB", p.name, float64(p.n)/mib)
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// Import unpacks tarball src into a new distro NAME and registers it. The
// files go to a temporary directory that is renamed into place at the end,
// and the registry is written only then: an import that fails or is
// interrupted leaves no distro behind.
func Import(name string, src *os.File) (*Distro, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var d *Distro
	err := withRegistry("importing "+name, func(dir string, reg *Registry) (err error) {
		if err := reg.free(name); err != nil {
			return err
		}
		d, err = unpack(dir, reg, name, src)
		return err
	})
	return d, err
}

// unpack does Import's work with the lock held and the registry loaded.
func unpack(dir string, reg *Registry, name string, src *os.File) (*Distro, error) {
	removeStale(dir)
	stage, err := os.MkdirTemp(filepath.Join(dir, "distros"), ".import-"+name+"-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			makeWritable(stage)
			os.RemoveAll(stage)
		}
	}()
	rootPath := filepath.Join(stage, "rootfs")
	if err := os.Mkdir(rootPath, 0o755); err != nil {
		return nil, err
	}
	root, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	p := &progress{r: src, name: name, tty: isTerminal(2)}
	if st, err := src.Stat(); err == nil && st.Mode().IsRegular() {
		p.total = st.Size()
	}
	in, closeIn, err := decompress(p)
	if err != nil {
		return nil, fmt.Errorf("%s is not a tarball lx can read: %w", src.Name(), err)
	}
	defer closeIn()
	x := &extractor{root: root, privileged: os.Geteuid() == 0}
	tr := tar.NewReader(in)
	entries := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is truncated or damaged after %d entries (%v); nothing was imported", src.Name(), entries, err)
		}
		if err := x.entry(h, tr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%s is truncated in %s; nothing was imported", src.Name(), h.Name)
			}
			return nil, fmt.Errorf("unpack %s: %w; nothing was imported", h.Name, err)
		}
		entries++
	}
	if entries == 0 {
		return nil, fmt.Errorf("%s holds no files; nothing was imported", src.Name())
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	if p.tty {
		p.draw()
		fmt.Fprintln(os.Stderr)
	}
	final := filepath.Join(dir, "distros", name)
	if err := os.Rename(stage, final); err != nil {
		return nil, err
	}
	d := &Distro{Name: name, Root: filepath.Join(final, "rootfs"), Created: time.Now().UTC()}
	reg.Distros[name] = d
	if reg.Default == "" {
		reg.Default = name
	}
	if err := reg.Save(dir); err != nil {
		makeWritable(final)
		os.RemoveAll(final)
		return nil, err
	}
	ok = true
	if x.kept > 0 {
		fmt.Fprintf(os.Stderr, "lx: %d extended attributes could not be set (they need privileges this user lacks)\n", x.kept)
	}
	return d, nil
}

// removeStale removes what interrupted imports left. Hold the lock.
func removeStale(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, "distros", ".import-*"))
	for _, s := range stale {
		makeWritable(s)
		os.RemoveAll(s)
	}
}

// makeWritable gives the owner write and search permission on every
// directory below dir, so that RemoveAll can empty read-only ones.
func makeWritable(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if fi, err := d.Info(); err == nil {
				os.Chmod(p, fi.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}
