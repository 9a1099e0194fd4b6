package fssrv

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"lx/fssrv/recorded"
	"lx/servers"
	"lx/servers/servertest"
	"lx/shared/abi"
	"lx/shared/idmap"
	"lx/shared/launch"
)

type (
	env = servertest.Env
	tc  = servertest.Case
)

var (
	cont  = servertest.Continue
	errno = servertest.Errno
	val   = servertest.Val
)

const capChown, capMknod = 1 << unix.CAP_CHOWN, 1 << unix.CAP_MKNOD

// recordedOpts is an unprivileged user's distro: the host user is guest
// root, and owners it cannot give are recorded in xattrs.
func recordedOpts() servertest.Options {
	u, g := uint32(os.Getuid()), uint32(os.Getgid())
	return servertest.Options{Recorded: true, IDs: idmap.Maps{
		UID: idmap.Map{{Guest: 0, Host: u, Count: 1}}, GID: idmap.Map{{Guest: 0, Host: g, Count: 1}}}}
}

var rec = recordedOpts()

// guestRoot makes the caller guest root with capabilities caps.
func guestRoot(e *env, caps uint64) { e.WriteStatus(servertest.Tid, 0, 0, caps) }

// files puts the files of the tests in the instance root.
func files(e *env) {
	e.File("/etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n")
	e.File("/home/user/file", 0o644, "")
	setxattr(e, "/home/user/file", recorded.OwnerXattr, "1000:100")
	e.File("/dev/null", 0o666, "")
	setxattr(e, "/dev/null", recorded.DevXattr, "c 1 3")
	e.File("/bin/su", 0o4755, "x")
	os.Symlink("passwd", e.InRoot("/etc/link"))
}

func setxattr(e *env, p, name, value string) {
	if err := unix.Setxattr(e.InRoot(p), name, []byte(value), 0); err != nil {
		e.T.Skipf("no user xattrs where the test's files are: %v", err)
	}
}

func xattr(e *env, p, name string) string {
	var buf [64]byte
	n, err := unix.Lgetxattr(e.InRoot(p), name, buf[:])
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// stat is a stat-family call on path with a buffer for a Stat_t; at
// places the buffer's address at index buf.
func stat(path string, buf int, pre ...uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		files(e)
		a := append(append([]uint64(nil), pre...), e.Mem.String(path))
		for len(a) < buf {
			a = append(a, 0)
		}
		a = append(a, e.Mem.Alloc(int(unsafe.Sizeof(unix.Stat_t{}))))
		return a
	}
}

// statWith appends the flags argument to stat's.
func statWith(path string, flags int) func(*env) []uint64 {
	return func(e *env) []uint64 {
		return append(stat(path, 2, atFdcwd)(e), uint64(flags))
	}
}

// statBuf reads the Stat_t the call wrote at addr.
func statBuf(t *testing.T, e *env, addr uint64) unix.Stat_t {
	var st unix.Stat_t
	if !servertest.ReadStruct(e.Mem, addr, &st) {
		t.Fatal("stat buffer unmapped")
	}
	return st
}

// owner checks the owner and type the call wrote in the Stat_t at
// argument i.
func owner(i int, uid, gid, typ uint32) func(*testing.T, *env, servertest.Reply) {
	return func(t *testing.T, e *env, r servertest.Reply) {
		st := statBuf(t, e, r.Args[i])
		if st.Uid != uid || st.Gid != gid || st.Mode&unix.S_IFMT != typ {
			t.Errorf("stat shows %d:%d type %o, want %d:%d type %o", st.Uid, st.Gid, st.Mode&unix.S_IFMT, uid, gid, typ)
		}
	}
}

func statx(path string, flags int, mask uint32) func(*env) []uint64 {
	return func(e *env) []uint64 {
		files(e)
		return []uint64{atFdcwd, e.Mem.String(path), uint64(flags), uint64(mask),
			e.Mem.Alloc(int(unsafe.Sizeof(unix.Statx_t{})))}
	}
}

// chown is chown(path, uid, gid) by guest root with caps.
func chown(path string, uid, gid uint64, caps uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		files(e)
		guestRoot(e, caps)
		return []uint64{e.Mem.String(path), uid, gid}
	}
}

func mknod(path string, mode uint32, dev uint64, caps uint64) func(*env) []uint64 {
	return func(e *env) []uint64 {
		files(e)
		guestRoot(e, caps)
		return []uint64{e.Mem.String(path), uint64(mode), dev}
	}
}

const none = uint64(^uint32(0))

const atFdcwd uint64 = 1<<64 + unix.AT_FDCWD

var cases = []tc{
	// The stat family with recorded owners.
	{Name: "a recorded owner", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/home/user/file", 1), Want: val(0),
		Check: owner(1, 1000, 100, unix.S_IFREG)},
	{Name: "guest root's file", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/etc/passwd", 1), Want: val(0),
		Check: owner(1, 0, 0, unix.S_IFREG)},
	{Name: "a recorded device", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/dev/null", 1), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			st := statBuf(t, e, r.Args[1])
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
				t.Errorf("mode %o rdev %d:%d, want a character device 1:3", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
		}},
	{Name: "through a symlink", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/etc/link", 1), Want: val(0),
		Check: owner(1, 0, 0, unix.S_IFREG)},
	{Name: "missing: the kernel's answer", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/etc/nothing", 1), Want: cont},
	{Name: "a /proc name", Nr: unix.SYS_STAT, Opt: rec, Args: stat("/proc/self/status", 1), Want: cont},
	{Name: "path unmapped", Nr: unix.SYS_STAT, Opt: rec, Args: func(e *env) []uint64 { return []uint64{servertest.Unmapped, e.Mem.Alloc(144)} }, Want: errno(unix.EFAULT)},
	{Name: "path too long", Nr: unix.SYS_STAT, Opt: rec,
		Args: func(e *env) []uint64 {
			return []uint64{e.Mem.String("/" + strings.Repeat("a", unix.PathMax)), e.Mem.Alloc(144)}
		}, Want: errno(unix.ENAMETOOLONG)},
	{Name: "buffer unmapped", Nr: unix.SYS_STAT, Opt: rec,
		Args: func(e *env) []uint64 { files(e); return []uint64{e.Mem.String("/etc/passwd"), servertest.Unmapped} }, Want: errno(unix.EFAULT)},
	{Name: "buffer too short", Nr: unix.SYS_STAT, Opt: rec,
		Args: func(e *env) []uint64 { files(e); return []uint64{e.Mem.String("/etc/passwd"), e.Mem.Alloc(100)} }, Want: errno(unix.EFAULT)},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_STAT, Args: stat("/etc/passwd", 1), Want: cont},

	{Name: "a symlink itself", Nr: unix.SYS_LSTAT, Opt: rec, Args: stat("/etc/link", 1), Want: val(0),
		Check: owner(1, 0, 0, unix.S_IFLNK)},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_LSTAT, Args: stat("/etc/link", 1), Want: cont},

	{Name: "a recorded owner", Nr: unix.SYS_NEWFSTATAT, Opt: rec, Args: statWith("/home/user/file", 0), Want: val(0),
		Check: owner(2, 1000, 100, unix.S_IFREG)},
	{Name: "AT_SYMLINK_NOFOLLOW", Nr: unix.SYS_NEWFSTATAT, Opt: rec, Args: statWith("/etc/link", unix.AT_SYMLINK_NOFOLLOW), Want: val(0),
		Check: owner(2, 0, 0, unix.S_IFLNK)},
	{Name: "unknown flag", Nr: unix.SYS_NEWFSTATAT, Opt: rec, Args: statWith("/etc/passwd", 0x10000), Want: errno(unix.EINVAL)},
	{Name: "empty path, AT_EMPTY_PATH", Nr: unix.SYS_NEWFSTATAT, Opt: rec, Args: statWith("", unix.AT_EMPTY_PATH), Want: cont},
	{Name: "empty path", Nr: unix.SYS_NEWFSTATAT, Opt: rec, Args: statWith("", 0), Want: errno(unix.ENOENT)},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_NEWFSTATAT, Args: statWith("/etc/passwd", 0), Want: cont},

	{Name: "a recorded owner", Nr: unix.SYS_STATX, Opt: rec, Args: statx("/home/user/file", 0, unix.STATX_BASIC_STATS), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			var stx unix.Statx_t
			servertest.ReadStruct(e.Mem, r.Args[4], &stx)
			if stx.Uid != 1000 || stx.Gid != 100 || stx.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Errorf("statx shows %d:%d mode %o, want 1000:100, a regular file", stx.Uid, stx.Gid, stx.Mode)
			}
		}},
	{Name: "a recorded device", Nr: unix.SYS_STATX, Opt: rec, Args: statx("/dev/null", 0, unix.STATX_BASIC_STATS), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			var stx unix.Statx_t
			servertest.ReadStruct(e.Mem, r.Args[4], &stx)
			if stx.Mode&unix.S_IFMT != unix.S_IFCHR || stx.Rdev_major != 1 || stx.Rdev_minor != 3 {
				t.Errorf("statx mode %o rdev %d:%d, want a character device 1:3", stx.Mode, stx.Rdev_major, stx.Rdev_minor)
			}
		}},
	{Name: "unknown flag", Nr: unix.SYS_STATX, Opt: rec, Args: statx("/etc/passwd", 0x10000, 0), Want: errno(unix.EINVAL)},
	{Name: "both sync flags", Nr: unix.SYS_STATX, Opt: rec, Args: statx("/etc/passwd", atStatxSyncType, 0), Want: errno(unix.EINVAL)},
	{Name: "reserved mask bit", Nr: unix.SYS_STATX, Opt: rec, Args: statx("/etc/passwd", 0, unix.STATX__RESERVED), Want: errno(unix.EINVAL)},
	{Name: "buffer unmapped", Nr: unix.SYS_STATX, Opt: rec, Args: func(e *env) []uint64 {
		a := statx("/etc/passwd", 0, unix.STATX_BASIC_STATS)(e)
		a[4] = servertest.Unmapped
		return a
	}, Want: errno(unix.EFAULT)},
	{Name: "empty path, AT_EMPTY_PATH", Nr: unix.SYS_STATX, Opt: rec, Args: statx("", unix.AT_EMPTY_PATH, 0), Want: cont},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_STATX, Args: statx("/etc/passwd", 0, 0), Want: cont},

	// chown records.
	{Name: "guest root records an owner", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/etc/passwd", 7, 8, capChown), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/etc/passwd", recorded.OwnerXattr); v != "7:8" {
				t.Errorf("owner record %q, want 7:8", v)
			}
		}},
	{Name: "to root:root, the record goes", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/home/user/file", 0, 0, capChown), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/home/user/file", recorded.OwnerXattr); v != "" {
				t.Errorf("owner record %q left", v)
			}
		}},
	{Name: "-1 keeps the recorded group", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/home/user/file", 5, none, capChown), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/home/user/file", recorded.OwnerXattr); v != "5:100" {
				t.Errorf("owner record %q, want 5:100", v)
			}
		}},
	{Name: "set-user-ID is dropped", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/bin/su", 0, 5, capChown), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			fi, err := os.Stat(e.InRoot("/bin/su"))
			if err != nil || fi.Mode()&os.ModeSetuid != 0 {
				t.Errorf("mode %v after chown, want set-user-ID cleared", fi.Mode())
			}
		}},
	{Name: "without CAP_CHOWN", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/etc/passwd", 7, 8, capMknod), Want: errno(unix.EPERM),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/etc/passwd", recorded.OwnerXattr); v != "" {
				t.Errorf("owner recorded (%q) for a caller without CAP_CHOWN", v)
			}
		}},
	{Name: "caller gone", Nr: unix.SYS_CHOWN, Opt: rec, Args: func(e *env) []uint64 {
		e.Gone = true
		return chown("/etc/passwd", 7, 8, capChown)(e)
	}, Want: errno(unix.EINTR), Check: func(t *testing.T, e *env, r servertest.Reply) {
		if v := xattr(e, "/etc/passwd", recorded.OwnerXattr); v != "" {
			t.Errorf("owner recorded (%q) for a caller that is gone", v)
		}
	}},
	{Name: "missing: the kernel's answer", Nr: unix.SYS_CHOWN, Opt: rec, Args: chown("/etc/nothing", 7, 8, capChown), Want: cont},
	{Name: "path unmapped", Nr: unix.SYS_CHOWN, Opt: rec, Args: args(servertest.Unmapped, 1, 1), Want: errno(unix.EFAULT)},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_CHOWN, Args: chown("/etc/passwd", 7, 8, 0), Want: cont},

	{Name: "a symlink: no record, no error", Nr: unix.SYS_LCHOWN, Opt: rec, Args: chown("/etc/link", 7, 8, capChown), Want: val(0),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/etc/passwd", recorded.OwnerXattr); v != "" {
				t.Errorf("lchown recorded %q on the link's target", v)
			}
		}},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_LCHOWN, Args: chown("/etc/link", 7, 8, 0), Want: cont},

	{Name: "records an owner", Nr: unix.SYS_FCHOWNAT, Opt: rec, Args: func(e *env) []uint64 {
		a := chown("/etc/passwd", 7, 8, capChown)(e)
		return []uint64{atFdcwd, a[0], a[1], a[2], 0}
	}, Want: val(0), Check: func(t *testing.T, e *env, r servertest.Reply) {
		if v := xattr(e, "/etc/passwd", recorded.OwnerXattr); v != "7:8" {
			t.Errorf("owner record %q, want 7:8", v)
		}
	}},
	{Name: "unknown flag", Nr: unix.SYS_FCHOWNAT, Opt: rec, Args: func(e *env) []uint64 {
		a := chown("/etc/passwd", 7, 8, capChown)(e)
		return []uint64{atFdcwd, a[0], a[1], a[2], 0x8000}
	}, Want: errno(unix.EINVAL)},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_FCHOWNAT, Args: args(atFdcwd, servertest.Unmapped, 1, 1, 0), Want: cont},

	// mknod records devices.
	{Name: "guest root makes a device", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/dev/zero", unix.S_IFCHR|0o666, unix.Mkdev(1, 5), capMknod),
		Want: val(0), Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/dev/zero", recorded.DevXattr); v != "c 1 5" {
				t.Errorf("device record %q, want c 1 5", v)
			}
			if fi, err := os.Stat(e.InRoot("/dev/zero")); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("placeholder %v (%v), want mode 0644 (0666 less umask 022)", fi, err)
			}
			if !r.Effect || !r.Done || r.Answer != 0 {
				t.Errorf("effect %v done %v answer %d: want the side effect marked and its answer recorded", r.Effect, r.Done, r.Answer)
			}
		}},
	{Name: "a block device", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/dev/sda", unix.S_IFBLK|0o660, unix.Mkdev(8, 0), capMknod),
		Want: val(0), Check: func(t *testing.T, e *env, r servertest.Reply) {
			if v := xattr(e, "/dev/sda", recorded.DevXattr); v != "b 8 0" {
				t.Errorf("device record %q, want b 8 0", v)
			}
		}},
	{Name: "without CAP_MKNOD", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/dev/zero", unix.S_IFCHR|0o666, unix.Mkdev(1, 5), capChown),
		Want: errno(unix.EPERM), Check: func(t *testing.T, e *env, r servertest.Reply) {
			if _, err := os.Lstat(e.InRoot("/dev/zero")); err == nil {
				t.Error("device made for a caller without CAP_MKNOD")
			}
		}},
	{Name: "the name exists", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/dev/null", unix.S_IFCHR|0o666, unix.Mkdev(1, 3), capMknod), Want: errno(unix.EEXIST)},
	{Name: "the root", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/", unix.S_IFCHR|0o666, 0, capMknod), Want: errno(unix.EEXIST)},
	{Name: "dot-dot", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/dev/..", unix.S_IFCHR|0o666, 0, capMknod), Want: errno(unix.EEXIST)},
	{Name: "no parent: the kernel's answer", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/nodir/zero", unix.S_IFCHR|0o666, 0, capMknod), Want: cont},
	{Name: "empty path", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("", unix.S_IFCHR|0o666, 0, capMknod), Want: errno(unix.ENOENT)},
	{Name: "caller gone", Nr: unix.SYS_MKNOD, Opt: rec, Args: func(e *env) []uint64 {
		e.Gone = true
		return mknod("/dev/zero", unix.S_IFCHR|0o666, unix.Mkdev(1, 5), capMknod)(e)
	}, Want: errno(unix.EINTR), Check: func(t *testing.T, e *env, r servertest.Reply) {
		if _, err := os.Lstat(e.InRoot("/dev/zero")); err == nil || r.Effect {
			t.Error("device made for a caller that is gone")
		}
	}},
	{Name: "a FIFO is the kernel's", Nr: unix.SYS_MKNOD, Opt: rec, Args: mknod("/tmp/fifo", unix.S_IFIFO|0o644, 0, capMknod), Want: cont},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_MKNOD, Args: mknod("/dev/zero", unix.S_IFCHR|0o666, unix.Mkdev(1, 5), capMknod), Want: cont},

	{Name: "relative to a dirfd", Nr: unix.SYS_MKNODAT, Opt: rec, Args: func(e *env) []uint64 {
		a := mknod("zero", unix.S_IFCHR|0o600, unix.Mkdev(1, 5), capMknod)(e)
		e.Symlink(strconv.Itoa(servertest.Tid)+"/fd/4", "/dev")
		return []uint64{4, a[0], a[1], a[2]}
	}, Want: val(0), Check: func(t *testing.T, e *env, r servertest.Reply) {
		if v := xattr(e, "/dev/zero", recorded.DevXattr); v != "c 1 5" {
			t.Errorf("device record %q, want c 1 5", v)
		}
	}},
	{Name: "the kernel's, without recorded owners", Nr: unix.SYS_MKNODAT, Args: args(4, servertest.Unmapped, unix.S_IFCHR, 0), Want: cont},

	{Name: "refused", Nr: unix.SYS_QUOTACTL, Args: func(e *env) []uint64 { return []uint64{0, e.Mem.String("/dev/sda"), 0, 0} }, Want: errno(unix.EPERM)},
	{Name: "refused, traced", Nr: unix.SYS_QUOTACTL, Opt: servertest.Options{Trace: true},
		Args: func(e *env) []uint64 { return []uint64{0, e.Mem.String("/dev/sda"), 0, 0} }, Want: errno(unix.EPERM),
		Check: func(t *testing.T, e *env, r servertest.Reply) {
			if !strings.Contains(r.Trace, `"/dev/sda"`) {
				t.Errorf("trace %q lacks the device name", r.Trace)
			}
		}},
}

func args(a ...uint64) func(*env) []uint64 { return func(*env) []uint64 { return a } }

// mountPaths are the path arguments of the mount family, which runs in the
// kernel (mount.go).
var mountPaths = map[int][]int{
	unix.SYS_MOUNT:          {0, 1},
	unix.SYS_UMOUNT2:        {0},
	unix.SYS_PIVOT_ROOT:     {0, 1},
	unix.SYS_OPEN_TREE:      {1},
	unix.SYS_OPEN_TREE_ATTR: {1},
	unix.SYS_MOVE_MOUNT:     {1, 3},
	unix.SYS_FSOPEN:         {},
	unix.SYS_FSCONFIG:       {},
	unix.SYS_FSMOUNT:        {},
	unix.SYS_FSPICK:         {1},
	unix.SYS_MOUNT_SETATTR:  {1},
}

// inKernelCases: every call the kernel resolves is answered CONTINUE
// unseen, its names read only for a tracer's line, and a name that cannot
// be read is the kernel's to answer too.
func inKernelCases() []tc {
	var out []tc
	add := func(nr int, paths []int) {
		named := func(e *env) []uint64 {
			a := make([]uint64, 6)
			for _, i := range paths {
				a[i] = e.Mem.String("/name" + strconv.Itoa(i))
			}
			return a
		}
		out = append(out,
			tc{Name: "continued", Nr: nr, Args: named, Want: cont},
			tc{Name: "traced", Nr: nr, Opt: servertest.Options{Trace: true}, Args: named, Want: cont,
				Check: func(t *testing.T, e *env, r servertest.Reply) {
					if !strings.HasPrefix(r.Trace, abi.SyscallName(nr)+"(") {
						t.Errorf("trace %q", r.Trace)
					}
					for _, i := range paths {
						if !strings.Contains(r.Trace, `"/name`+strconv.Itoa(i)+`"`) {
							t.Errorf("trace %q lacks the name at argument %d", r.Trace, i)
						}
					}
				}})
		if len(paths) > 0 {
			out = append(out, tc{Name: "unreadable name: the kernel's answer", Nr: nr, Opt: servertest.Options{Trace: true},
				Args: func(e *env) []uint64 {
					a := make([]uint64, 6)
					for _, i := range paths {
						a[i] = servertest.Unmapped
					}
					return a
				}, Want: cont})
		}
	}
	for _, m := range []map[int][]int{kernelPaths, mountPaths} {
		nrs := make([]int, 0, len(m))
		for nr := range m {
			nrs = append(nrs, nr)
		}
		sort.Ints(nrs)
		for _, nr := range nrs {
			add(nr, m[nr])
		}
	}
	return out
}

func table(*env) servers.Table { return Table(&launch.Config{Name: "fssrv"}) }

func TestHandlers(t *testing.T) { servertest.Run(t, table, cases) }

func TestKernelHandlers(t *testing.T) { servertest.Run(t, table, inKernelCases()) }

func TestEveryHandlerHasCases(t *testing.T) {
	servertest.Covered(t, table(nil), append(cases, inKernelCases()...))
}
