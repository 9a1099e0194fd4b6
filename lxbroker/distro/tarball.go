package distro

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

	"lx/fssrv/recorded"
)

// Ownership and device nodes an unprivileged user cannot create are kept in
// xattrs of the extracted file (recorded.OwnerXattr, recorded.DevXattr).
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

// extractor writes tar entries below one root, never outside it. The
// tarball chooses every name, and an earlier entry can make any name a
// symlink (x -> /usr/bin/passwd, say) that a later entry of the same name
// would go through. So:
//   - parent directories are resolved with openat2(RESOLVE_IN_ROOT|
//     RESOLVE_NO_MAGICLINKS): a symlink on the way, absolute or with "..",
//     resolves inside the root as it would in the instance;
//   - the last component is never followed: an entry replaces what is
//     there (a symlink, a file; a directory is kept for a directory entry),
//     is made with an *at call that does not follow it, then opened
//     O_PATH|O_NOFOLLOW and checked with fstat, and its owner, mode, xattrs
//     and times are applied through that fd, never by a second lookup of
//     its name. A directory's wait for the end (finish), which opens it
//     the same way and checks that it is still the directory made.
type extractor struct {
	root       int
	privileged bool
	dirs       []pendingDir // modes and times applied last
	kept       int          // xattrs that could not be set
}

// pendingDir is a directory entry whose metadata finish applies. Its
// inode says whether its name still leads to the directory that was made.
type pendingDir struct {
	h        *tar.Header
	dev, ino uint64
	gone     bool // a later entry removed the directory
}

// gnuVolumeHeader is a GNU tar volume label ('V'): it names the archive
// and makes no file. archive/tar has no constant for it.
const gnuVolumeHeader = 'V'

// xattrMax is the largest xattr value Linux stores (XATTR_SIZE_MAX).
const xattrMax = 64 << 10

func cleanName(name string) (string, error) {
	p := path.Clean("/" + name)
	if p == "/" {
		return "", nil
	}
	return p[1:], nil
}

// openDir opens directory dir of the root ("" is the root itself). A
// symlink on the way resolves inside the root; a magic link (/proc/N/fd/M,
// should the root hold one) is refused.
func (x *extractor) openDir(dir string) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	for range 8 {
		fd, err := unix.Openat2(x.root, "/"+dir, how)
		if err != unix.EAGAIN { // EAGAIN: a rename raced the walk
			return fd, err
		}
	}
	return -1, unix.EAGAIN
}

// parent opens (making it if needed) the directory of rel.
func (x *extractor) parent(rel string) (int, string, error) {
	dir, base := path.Split(rel)
	fd, err := x.openDir(dir)
	if err == unix.ENOENT {
		if err := x.mkdirAll(strings.TrimSuffix(dir, "/")); err != nil {
			return -1, "", err
		}
		fd, err = x.openDir(dir)
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
	// What exists already is left to openDir: a directory, or a symlink
	// that resolves in the root; anything else fails there.
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// openAs opens what is at base in pfd, without following it, and checks
// that it is of type typ (unix.S_IFDIR, ...): the entry just made, not
// what a symlink of that name leads to.
func openAs(pfd int, base string, typ uint32) (int, *unix.Stat_t, error) {
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	if st.Mode&unix.S_IFMT != typ {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("changed type while it was unpacked (mode %o, want %o)", st.Mode&unix.S_IFMT, typ)
	}
	return fd, &st, nil
}

// replace makes room at base for a new entry: a later entry replaces an
// earlier one, as tar does. A directory is removed only if empty, and its
// pending metadata with it. Nothing is followed.
func (x *extractor) replace(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == unix.ENOENT {
		return nil
	} else if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(pfd, base, 0)
	}
	if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("replace a directory: %w", err)
	}
	for i := range x.dirs {
		if x.dirs[i].dev == st.Dev && x.dirs[i].ino == st.Ino {
			x.dirs[i].gone = true
		}
	}
	return nil
}

// entry makes one tar entry. The types it does not handle fail the import:
// skipping them would report success for a tree that lacks files.
// (archive/tar turns the old '\x00' type into TypeReg or TypeDir, and
// consumes pax and GNU long-name headers itself.)
func (x *extractor) entry(h *tar.Header, body io.Reader) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader, gnuVolumeHeader:
		return nil // a pax global header or a GNU volume label: nothing to make
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink,
		tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
	default: // GNU dumpdirs ('D'), multi-volume parts ('M'), unknown ones
		return fmt.Errorf("entry type %q is not one lx can unpack", h.Typeflag)
	}
	rel, err := cleanName(h.Name)
	if err != nil || rel == "" {
		return err
	}
	pfd, base, err := x.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if h.Typeflag == tar.TypeDir {
		return x.dir(pfd, base, h)
	}
	if err := x.replace(pfd, base); err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
			return err
		}
		return x.metaAt(pfd, base, h, unix.S_IFLNK)
	case tar.TypeLink:
		return x.link(pfd, base, h)
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
		return x.metaAt(pfd, base, h, unix.S_IFIFO)
	case tar.TypeChar, tar.TypeBlock:
		return x.device(pfd, base, h)
	}
	return x.file(pfd, base, h, body) // regular, contiguous, sparse
}

// dir makes a directory entry; its metadata waits for finish. An existing
// directory is kept, as tar keeps it; anything else of that name (a
// symlink to a host directory, say) is replaced, never entered.
func (x *extractor) dir(pfd int, base string, h *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err = unix.Unlinkat(pfd, base, 0); err == nil {
				err = unix.Mkdirat(pfd, base, 0o700)
			}
		}
	}
	if err != nil {
		return err
	}
	fd, st, err := openAs(pfd, base, unix.S_IFDIR)
	if err != nil {
		return err
	}
	unix.Close(fd)
	x.dirs = append(x.dirs, pendingDir{h: h, dev: st.Dev, ino: st.Ino})
	return nil
}

// file makes a regular file with the entry's content. archive/tar expands
// GNU sparse members (old GNU 'S', PAX 0.0, 0.1, 1.0) into their whole
// content; their holes stay holes.
func (x *extractor) file(pfd int, base string, h *tar.Header, body io.Reader) error {
	sparse, err := sparseMember(h)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if sparse {
		err = copySparse(f, body)
	} else {
		_, err = io.Copy(f, body)
	}
	if err != nil {
		return err
	}
	return x.meta(fd, h, unix.S_IFREG)
}

// sparseMember says whether h is a GNU sparse member, and fails for a PAX
// sparse version archive/tar does not expand (it would hand over the map
// and the data as the file's content).
func sparseMember(h *tar.Header) (bool, error) {
	if h.Typeflag == tar.TypeGNUSparse {
		return true, nil
	}
	major, minor := h.PAXRecords["GNU.sparse.major"], h.PAXRecords["GNU.sparse.minor"]
	switch v := major + "." + minor; {
	case v == "0.0" || v == "0.1" || v == "1.0":
		return true, nil
	case v != ".":
		return false, fmt.Errorf("GNU sparse format %s is not one lx can unpack", v)
	}
	return h.PAXRecords["GNU.sparse.map"] != "", nil // 0.0 and 0.1 may not say their version
}

// copySparse copies r to f, seeking over blocks of zeros so that a
// sparse member, however large it says it is, does not fill the disk.
func copySparse(f *os.File, r io.Reader) error {
	buf, zero := make([]byte, 64<<10), make([]byte, 64<<10)
	var size int64
	for {
		n, err := r.Read(buf)
		var werr error
		if bytes.Equal(buf[:n], zero[:n]) {
			_, werr = f.Seek(int64(n), io.SeekCurrent)
		} else {
			_, werr = f.Write(buf[:n])
		}
		size += int64(n)
		switch {
		case werr != nil:
			return werr
		case err == io.EOF:
			return f.Truncate(size)
		case err != nil:
			return err
		}
	}
}

// link makes a hard link to an earlier entry. The target is resolved in
// the root and its last component is not followed (linkat without
// AT_SYMLINK_FOLLOW): a link to a symlink links the symlink, and nothing
// outside the root can be reached. A hard link shares its target's
// metadata, so none is applied.
func (x *extractor) link(pfd int, base string, h *tar.Header) error {
	target, err := cleanName(h.Linkname)
	if err != nil || target == "" {
		return fmt.Errorf("hard link to %q", h.Linkname)
	}
	dir, tbase := path.Split(target)
	tfd, err := x.openDir(dir)
	if err != nil {
		return fmt.Errorf("hard link to %s: %w", h.Linkname, err)
	}
	defer unix.Close(tfd)
	return unix.Linkat(tfd, tbase, pfd, base, 0)
}

// device makes a device node; an unprivileged user, who cannot, gets an
// empty file that records the device in recorded.DevXattr.
func (x *extractor) device(pfd int, base string, h *tar.Header) error {
	kind, typ := byte('c'), uint32(unix.S_IFCHR)
	if h.Typeflag == tar.TypeBlock {
		kind, typ = 'b', unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor)))
	if x.privileged && unix.Mknodat(pfd, base, typ|0o600, dev) == nil {
		return x.metaAt(pfd, base, h, typ)
	}
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	x.setxattr(fd, recorded.DevXattr, recorded.FormatDev(kind, uint32(h.Devmajor), uint32(h.Devminor)))
	return x.meta(fd, h, unix.S_IFREG)
}

// metaAt applies h's metadata to the entry of type typ just made at base.
func (x *extractor) metaAt(pfd int, base string, h *tar.Header, typ uint32) error {
	fd, _, err := openAs(pfd, base, typ)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return x.meta(fd, h, typ)
}

// meta applies ownership, xattrs, mode and times to fd, which refers to
// the entry itself (an O_PATH fd, but for regular files); typ is its type.
// A symlink has no mode and no user xattrs: only its owner and times are
// set, on the link itself (AT_EMPTY_PATH on its fd never follows it).
// Xattrs go before the mode, which may forbid writing them; chown before
// both, as it clears set-user-ID and security.capability.
func (x *extractor) meta(fd int, h *tar.Header, typ uint32) error {
	symlink := typ == unix.S_IFLNK
	if x.privileged {
		unix.Fchownat(fd, "", h.Uid, h.Gid, unix.AT_EMPTY_PATH)
	} else if (h.Uid != 0 || h.Gid != 0) && !symlink {
		x.setxattr(fd, recorded.OwnerXattr, recorded.FormatOwner(uint32(h.Uid), uint32(h.Gid)))
	}
	if !symlink {
		for k, v := range h.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				x.setxattr(fd, name, v)
			}
		}
		if err := fchmod(fd, uint32(h.Mode)&0o7777); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(h.ModTime.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	if !h.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(h.AccessTime.UnixNano())
	}
	unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
	return nil
}

// procFd names fd in /proc/self/fd: a magic link to the file fd refers to,
// with no lookup of its name.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// fchmod changes the mode of what fd refers to, an O_PATH fd included:
// fchmodat2(AT_EMPTY_PATH) (Linux 6.6), else chmod of /proc/self/fd/N.
// Neither works on a symlink, and neither follows one.
func fchmod(fd int, mode uint32) error {
	err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	if err == unix.ENOSYS || err == unix.EOPNOTSUPP { // x/sys says EOPNOTSUPP for a kernel without fchmodat2
		err = unix.Chmod(procFd(fd), mode)
	}
	return err
}

// setxattr sets an xattr on what fd refers to (fsetxattr, or setxattr of
// /proc/self/fd/N for an O_PATH fd), and counts those it could not set.
func (x *extractor) setxattr(fd int, name, value string) {
	if len(value) > xattrMax {
		x.kept++
		return
	}
	err := unix.Fsetxattr(fd, name, []byte(value), 0)
	if err == unix.EBADF {
		err = unix.Setxattr(procFd(fd), name, []byte(value), 0)
	}
	if err != nil {
		x.kept++
	}
}

// finish applies the directories' metadata, deepest first (tar order is
// parents first), so that a read-only directory is made read-only after
// its contents. Each directory is resolved again and must be the very one
// its entry made: a later entry may have changed where its path leads.
func (x *extractor) finish() error {
	done := map[[2]uint64]bool{}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		key := [2]uint64{d.dev, d.ino}
		if d.gone || done[key] {
			continue // removed by a later entry, or a later entry for the same directory wins
		}
		done[key] = true
		if err := x.dirMeta(d); err != nil {
			return fmt.Errorf("unpack %s: %w", d.h.Name, err)
		}
	}
	return nil
}

func (x *extractor) dirMeta(d pendingDir) error {
	rel, _ := cleanName(d.h.Name)
	dir, base := path.Split(rel)
	pfd, err := x.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	fd, st, err := openAs(pfd, base, unix.S_IFDIR)
	if err == nil && (st.Dev != d.dev || st.Ino != d.ino) {
		unix.Close(fd)
		err = errors.New("a later entry made its path lead to another directory")
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return x.meta(fd, d.h, unix.S_IFDIR)
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
	p := newProgress(os.Stderr, "importing "+name, nil)
	var size int64
	if st, err := src.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	in, closeIn, err := decompress(p.source(src, size))
	if err != nil {
		return nil, fmt.Errorf("%s is not a tarball lx can read: %w", src.Name(), err)
	}
	defer closeIn()
	x := &extractor{root: root, privileged: os.Geteuid() == 0}
	tr := tar.NewReader(io.TeeReader(in, p))
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
		return nil, fmt.Errorf("%w; nothing was imported", err)
	}
	p.finish()
	final := filepath.Join(dir, "distros", name)
	if err := os.Rename(stage, final); err != nil {
		return nil, err
	}
	d := &Distro{Name: name, Root: filepath.Join(final, "rootfs"), Created: time.Now().UTC()}
	reg.Distros[name] = d
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
