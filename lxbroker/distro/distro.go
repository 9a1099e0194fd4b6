package distro

import (
	"archive/tar"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"lx/fssrv/recorded"
	"lx/lxbroker/client"
	"lx/lxbroker/proto"
)

// ImportInPlace registers an existing root directory without copying it.
// The host's own root is refused (it would be registered writable), and
// so, unless force, is a directory with no executable /bin/sh in it (no
// root filesystem, most likely).
func ImportInPlace(name, root string, force bool) (*Distro, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	defer unix.Close(fd)
	var st, host unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if unix.Stat("/", &host) == nil && st.Dev == host.Dev && st.Ino == host.Ino {
		return nil, fmt.Errorf("%s is the host's root: lx runs it read-only as the distro 'default' already (lx run -d default)", root)
	}
	if !force {
		if err := hasShell(fd); err != nil {
			return nil, fmt.Errorf("%s does not look like a root filesystem (%v); 'lx import --in-place --force %s %s' registers it anyway", root, err, name, root)
		}
	}
	var made []string
	var etc unix.Stat_t
	hasEtc := unix.Fstatat(fd, "etc", &etc, unix.AT_SYMLINK_NOFOLLOW) == nil && etc.Mode&unix.S_IFMT == unix.S_IFDIR
	for _, m := range append(slices.Clone(MountPoints), NetFiles...) {
		var s unix.Stat_t
		if strings.HasPrefix(m, "etc/") && !hasEtc {
			continue
		}
		if unix.Fstatat(fd, m, &s, unix.AT_SYMLINK_NOFOLLOW) != nil {
			made = append(made, m)
		}
	}
	var d *Distro
	err = withRegistry("registering "+name, func(dir string, reg *Registry) error {
		if err := reg.free(name); err != nil {
			return err
		}
		d = &Distro{Name: name, Root: abs, InPlace: true, Created: time.Now().UTC(), Made: made}
		reg.Distros[name] = d
		return reg.Save(dir)
	})
	return d, err
}

// hasShell checks that root (a directory fd) has an executable /bin/sh,
// resolved inside it (a usr-merged /bin -> usr/bin included).
func hasShell(root int) error {
	fd, err := unix.Openat2(root, "bin/sh", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return fmt.Errorf("no /bin/sh: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return errors.New("/bin/sh is not an executable file")
	}
	return nil
}

// removeMade removes what lx made in an in-place root: each mount point
// that is still an empty directory (rmdir removes nothing else), each
// /etc file that is still an empty regular file. The instance is stopped.
func removeMade(d *Distro) {
	fd, err := unix.Open(d.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for _, m := range d.Made {
		switch {
		case slices.Contains(MountPoints, m):
			unix.Unlinkat(fd, m, unix.AT_REMOVEDIR)
		case slices.Contains(NetFiles, m):
			etc, err := unix.Openat(fd, "etc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			name := strings.TrimPrefix(m, "etc/")
			var st unix.Stat_t
			if unix.Fstatat(etc, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 {
				unix.Unlinkat(etc, name, 0)
			}
			unix.Close(etc)
		}
	}
}

// Resolve returns the distro a launch runs in: name's entry, the
// registry's default for "", else the host root (only a Name). It waits
// while an import, export or unregister is pending.
func Resolve(name string) (Distro, error) {
	if name == proto.DefaultDistro {
		return Distro{Name: proto.DefaultDistro}, nil
	}
	dir, err := proto.DataDir()
	if err != nil {
		if name == "" {
			return Distro{Name: proto.DefaultDistro}, nil
		}
		return Distro{}, err
	}
	l, err := Shared(dir, "starting "+name)
	if err != nil {
		return Distro{}, err
	}
	defer l.Unlock()
	reg, err := LoadRegistry(dir)
	if err != nil {
		return Distro{}, err
	}
	if name == "" {
		if reg.Default == "" {
			return Distro{Name: proto.DefaultDistro}, nil
		}
		name = reg.Default
	}
	d := reg.Distros[name]
	if d == nil {
		return Distro{}, fmt.Errorf("no distro named %s; 'lx list' shows them, 'lx import %s TARBALL' adds it", name, name)
	}
	return *d, nil
}

// Target is what a run needs of the distro (client.Run).
func (d Distro) Target() client.Target {
	return client.Target{Name: d.Name, Root: d.Root, Mounts: d.Mounts, Memory: d.Memory}
}

// Lookup returns the registry entry of distro name.
func Lookup(name string) (Distro, error) {
	var d Distro
	err := withRegistry("reading "+name, func(_ string, reg *Registry) error {
		e, err := reg.get(name)
		if err == nil {
			d = *e
		}
		return err
	})
	return d, err
}

// SetDefault makes name the distro that `lx run` uses without -d.
func SetDefault(name string) error {
	return withRegistry("changing the default", func(dir string, reg *Registry) error {
		if name == proto.DefaultDistro {
			name = ""
		} else if _, err := reg.get(name); err != nil {
			return err
		}
		reg.Default = name
		return reg.Save(dir)
	})
}

// SetMemory sets the memory bound of distro name's instance (0: the
// default).
func SetMemory(name string, bytes int64) error {
	return withRegistry("changing the settings of "+name, func(dir string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		d.Memory = bytes
		return reg.Save(dir)
	})
}

// SetMounts sets the host directories every run of distro name mounts.
func SetMounts(name string, mounts []proto.Mount) error {
	return withRegistry("changing the mounts of "+name, func(dir string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		d.Mounts = mounts
		return reg.Save(dir)
	})
}

// Unregister stops the distro's instance and removes it from the registry,
// with its files unless it was registered in place.
func Unregister(name string) error {
	return withRegistry("unregistering "+name, func(dir string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		if err := client.Terminate(name); err != nil {
			return err
		}
		delete(reg.Distros, name)
		if reg.Default == name {
			reg.Default = ""
		}
		if err := reg.Save(dir); err != nil {
			return err
		}
		if !d.InPlace {
			files := filepath.Dir(d.Root)
			makeWritable(files)
			return os.RemoveAll(files)
		}
		removeMade(d)
		return nil
	})
}

// Compressions are the formats export writes, by name (--format).
var Compressions = []string{"none", "gzip", "xz", "zstd"}

// suffixes map file suffixes to compressions.
var suffixes = []struct{ suffix, format string }{
	{".tar", "none"}, {".tar.gz", "gzip"}, {".tgz", "gzip"}, {".tar.xz", "xz"}, {".txz", "xz"},
	{".tar.zst", "zstd"}, {".tar.zstd", "zstd"}, {".tzst", "zstd"},
}

// CompressionFor is the compression of an export to file: format if set
// (one of Compressions), else what file's suffix says; "-" (stdout) is a
// plain tar. An unknown suffix is an error naming the known ones.
func CompressionFor(file, format string) (string, error) {
	if format != "" {
		if !slices.Contains(Compressions, format) {
			return "", fmt.Errorf("unknown --format %q (formats: %s)", format, strings.Join(Compressions, ", "))
		}
		return format, nil
	}
	if file == "-" {
		return "none", nil
	}
	for _, s := range suffixes {
		if strings.HasSuffix(file, s.suffix) {
			return s.format, nil
		}
	}
	var known []string
	for _, s := range suffixes {
		known = append(known, s.suffix)
	}
	return "", fmt.Errorf("cannot tell how to compress %s from its name: known suffixes are %s (bzip2 and lz4 are not written); --format %s says it", file, strings.Join(known, " "), strings.Join(Compressions, "|"))
}

// Export writes the distro's root as a tarball to w, compressed with
// compression (CompressionFor), with a progress display on stderr when it
// is a terminal. gzip and zstd compress on every CPU; xz on one (the Go xz
// writer has no multi-threaded mode).
func Export(name, compression string, w io.Writer) error {
	return withRegistry("exporting "+name, func(_ string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		return export(d, compression, w)
	})
}

func export(d *Distro, compression string, w io.Writer) error {
	var err error
	var zw io.WriteCloser
	switch compression {
	case "gzip":
		gz := pgzip.NewWriter(w)
		if err := gz.SetConcurrency(1<<20, runtime.GOMAXPROCS(0)); err != nil {
			return err
		}
		zw = gz
	case "xz":
		if zw, err = xz.NewWriter(w); err != nil {
			return err
		}
	case "zstd":
		if zw, err = zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0))); err != nil {
			return err
		}
	case "none":
	default:
		return fmt.Errorf("unknown compression %q", compression)
	}
	out := w
	if zw != nil {
		out = zw
	}
	p := newProgress(os.Stderr, "exporting "+d.Name, func() int64 { return treeSize(d.Root) })
	tw := tar.NewWriter(io.MultiWriter(out, p))
	if err := writeTree(tw, d.Root); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	p.finish()
	return nil
}

// treeSize estimates the tar stream of the tree at root for the progress
// display: each entry's header and its data rounded to 512-byte blocks.
// The tree is a guest's: it is walked by fds as writeTree walks it
// (O_NOFOLLOW at every step, entries looked at with AT_SYMLINK_NOFOLLOW),
// so a symlink swapped in never leads it out. -1 if root cannot be opened.
func treeSize(root string) int64 {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	defer unix.Close(fd)
	return sizeBelow(fd) + 1024
}

// sizeBelow is treeSize's sum for the entries of the directory open at dfd.
func sizeBelow(dfd int) int64 {
	names, _ := readNames(dfd)
	var n int64
	for _, name := range names {
		var st unix.Stat_t
		if unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		n += 512
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			n += (st.Size + 511) &^ 511
		case unix.S_IFDIR:
			if sub, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				n += sizeBelow(sub)
				unix.Close(sub)
			}
		}
	}
	return n
}

// treeWriter writes a distro's tree into a tarball. The tree is the
// guest's, and a running guest can change it while it is read: swap a
// file and a symlink to a host file (renameat2(RENAME_EXCHANGE)) between
// a check and an open by name, and the host file's content would go into
// the tarball. So the tree is walked by fds and nothing is followed:
// each directory is opened O_DIRECTORY|O_NOFOLLOW relative to its
// parent's fd, and its entries are read from that fd; each header comes
// from fstat of an O_PATH|O_NOFOLLOW fd of the entry; a regular file is
// read through an fd opened O_NOFOLLOW relative to its directory and
// checked to be the inode its header describes; a symlink is written as
// a symlink.
type treeWriter struct {
	tw         *tar.Writer
	links      map[[2]uint64]string // the first name of each file of several links
	privileged bool
}

// errChanged says an entry changed between two looks at it.
var errChanged = errors.New("changed while it was exported")

// xattrSmall bounds the recorded owners and devices read back: their
// values are a few bytes, and the guest may write anything there.
const xattrSmall = 256

func writeTree(tw *tar.Writer, root string) error {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	defer unix.Close(fd)
	w := &treeWriter{tw: tw, links: map[[2]uint64]string{}, privileged: os.Geteuid() == 0}
	return w.dir(fd, "")
}

// dir writes the entries of the directory open at dfd, in name order;
// prefix is the directory's name in the tarball ("" or ending in "/").
func (w *treeWriter) dir(dfd int, prefix string) error {
	names, err := readNames(dfd)
	if err != nil {
		return fmt.Errorf("read %s: %w", cmp.Or(prefix, "/"), err)
	}
	for _, name := range names {
		if err := w.entry(dfd, name, prefix+name); err != nil {
			return err
		}
	}
	return nil
}

// readNames reads the names in the directory open at dfd, sorted.
func readNames(dfd int) ([]string, error) {
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(dfd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	slices.Sort(names)
	return names, nil
}

// entry writes entry name of the directory open at dfd, and what is below
// it; rel is its name in the tarball. An entry that changes between the
// looks at it is tried again, a few times.
func (w *treeWriter) entry(dfd int, name, rel string) error {
	for range 3 {
		if err := w.entryOnce(dfd, name, rel); err != errChanged {
			return err
		}
	}
	return fmt.Errorf("%s kept changing while it was exported; stop its instance (lx terminate) and export again", rel)
}

func (w *treeWriter) entryOnce(dfd int, name, rel string) error {
	fd, err := unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil // removed since its directory was read
	}
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	h, err := w.header(fd, &st, rel)
	if err != nil || h == nil {
		return err
	}
	switch {
	case h.Typeflag == tar.TypeDir:
		return w.subdir(dfd, name, &st, h)
	case h.Typeflag == tar.TypeReg && h.Size > 0:
		return w.file(dfd, name, &st, h)
	}
	return w.tw.WriteHeader(h)
}

// header makes the tar header of the entry open at fd (O_PATH), whose
// fstat is st; nil for a socket, which a tarball cannot hold (GNU tar
// skips them too).
func (w *treeWriter) header(fd int, st *unix.Stat_t, rel string) (*tar.Header, error) {
	h := &tar.Header{Name: rel, Mode: int64(st.Mode & 0o7777), ModTime: time.Unix(st.Mtim.Unix())}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag, h.Name = tar.TypeDir, rel+"/"
	case unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		h.Typeflag = tar.TypeSymlink
		target, err := readlink(fd)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		h.Linkname = target
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	default:
		return nil, nil
	}
	w.owner(fd, st, h)
	if h.Typeflag == tar.TypeReg {
		w.recorded(fd, st, h)
	}
	return h, nil
}

// owner sets h's owner: the file's for root, else the one recorded in
// recorded.OwnerXattr (none is root's; symlinks cannot carry one).
func (w *treeWriter) owner(fd int, st *unix.Stat_t, h *tar.Header) {
	if w.privileged {
		h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		return
	}
	if h.Typeflag == tar.TypeSymlink {
		return
	}
	if v, err := getxattr(fd, recorded.OwnerXattr); err == nil {
		if u, g, ok := recorded.ParseOwner(v); ok {
			h.Uid, h.Gid = int(u), int(g)
		}
	}
}

// recorded turns a regular file's header into what the file stands for:
// a device recorded in recorded.DevXattr, or a hard link to the first name
// of a file of several links.
func (w *treeWriter) recorded(fd int, st *unix.Stat_t, h *tar.Header) {
	if v, err := getxattr(fd, recorded.DevXattr); err == nil {
		if kind, major, minor, ok := recorded.ParseDev(v); ok {
			h.Typeflag, h.Size = tar.TypeChar, 0
			h.Devmajor, h.Devminor = int64(major), int64(minor)
			if kind == 'b' {
				h.Typeflag = tar.TypeBlock
			}
			return
		}
	}
	if st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := w.links[key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else {
			w.links[key] = h.Name
		}
	}
}

// subdir writes directory name of dfd and its entries; st is the fstat
// the header h came from. The directory is opened without following a
// symlink, and must be the inode st describes.
func (w *treeWriter) subdir(dfd int, name string, st *unix.Stat_t, h *tar.Header) error {
	sfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR || err == unix.ENOENT {
		return errChanged // a symlink or a file now, or gone
	}
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	defer unix.Close(sfd)
	if err := sameInode(sfd, st); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	return w.dir(sfd, h.Name)
}

// file writes regular file name of dfd, whose header h came from fstat
// st. It is opened without following a symlink (O_NONBLOCK and O_NOCTTY
// in case a FIFO or a terminal was swapped in) and must be the inode st
// describes. Exactly h.Size bytes are written, as the header says: a file
// that grew since its fstat is cut there, one that shrank is padded with
// zeros, so the tarball stays well formed.
func (w *treeWriter) file(dfd int, name string, st *unix.Stat_t, h *tar.Header) error {
	rfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOENT {
		return errChanged // a symlink now, or gone
	}
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	f := os.NewFile(uintptr(rfd), h.Name)
	defer f.Close()
	if err := sameInode(rfd, st); err != nil {
		return err
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(w.tw, io.LimitReader(f, h.Size))
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	_, err = io.CopyN(w.tw, zeros{}, h.Size-n)
	return err
}

// sameInode fails with errChanged unless fd is the file st describes,
// of the same type.
func sameInode(fd int, st *unix.Stat_t) error {
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino || now.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT {
		return errChanged
	}
	return nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// readlink reads the target of the symlink open at fd (O_PATH|O_NOFOLLOW),
// the very link its header describes; a target of PATH_MAX bytes or more
// is refused rather than cut.
func readlink(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	if n >= len(buf) {
		return "", errors.New("symlink target too long")
	}
	return string(buf[:n]), nil
}

// getxattr reads a small xattr of the file open at fd, an O_PATH fd,
// through /proc/self/fd/N (fgetxattr refuses O_PATH fds). A value longer
// than xattrSmall is an error (ERANGE), never read in full.
func getxattr(fd int, name string) (string, error) {
	buf := make([]byte, xattrSmall)
	n, err := unix.Getxattr(procFd(fd), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
