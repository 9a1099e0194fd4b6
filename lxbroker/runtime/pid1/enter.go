package pid1

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

//go:generate sh enter/gen.sh

// lxEnter is enter/lx-enter, built from enter/enter.c: a static program
// of a few kilobytes that needs nothing from the instance root.
//
//go:embed enter/lx-enter
var lxEnter []byte

// The guests' namespaces. Init makes them once (makeGuestNamespaces) and
// starts every launched command in them (enterAndExec):
//
//   - a user namespace nested in the instance's, mapping the same ids 1:1,
//     so guest root keeps its uid but has its capabilities only there;
//   - a mount namespace created in it as a copy of the keeper's. Linux
//     locks every mount of such a copy (mount_namespaces(7): mounts that
//     come as a unit from a more privileged mount namespace are locked
//     together, and their read-only, nodev, nosuid and noexec flags cannot
//     be cleared), so guest root, which has CAP_SYS_ADMIN there, may mount
//     tmpfs, devpts and bind mounts of what it sees and unmount its own
//     mounts, but can neither unmount nor remount what the keeper made.
//     The keeper's mounts are shared (enterRoot), so the ones it makes
//     later (lx run --mount, a run's working directory) reach the guests
//     as locked slave copies; the guests' mounts never propagate back.
//
// A Go program cannot join a user namespace (it is multithreaded), and lx
// may be linked against the host's libc, which an imported distro does not
// have: so the process that joins is lx-enter, run from a memfd. The
// holder, lx-enter without arguments, is the first process in both
// namespaces; it only pauses. Init keeps its namespace fds, so launches
// work even if the holder dies; the servers reach the guests' root through
// it (servers.Call.GuestRoot), and sigsrv keeps guests from signalling it,
// as Linux keeps them from signalling init.
type guestNS struct {
	enter     int // memfd holding lx-enter
	user, mnt int // the namespaces, O_RDONLY nsfs fds
	holder    int // the holder's pid
	setgroups bool
	enterPath string
}

// loadEnter puts lx-enter in a sealed memfd, at a high fd number that the
// stdio and namespace fds of a spawn cannot land on.
func loadEnter() (int, error) {
	fd, err := unix.MemfdCreate("lx-enter", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate("lx-enter", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("lx-enter: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, lxEnter); err != nil {
		return -1, fmt.Errorf("lx-enter: %w", err)
	}
	unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
}

// makeGuestNamespaces starts the holder in a new user namespace mapping
// init's ids to themselves and a new mount namespace, and keeps both.
func makeGuestNamespaces(enter int) (*guestNS, error) {
	uids, err := sameIDs("/proc/self/uid_map")
	if err != nil {
		return nil, err
	}
	gids, err := sameIDs("/proc/self/gid_map")
	if err != nil {
		return nil, err
	}
	setgroups, _ := os.ReadFile("/proc/self/setgroups")
	allow := strings.TrimSpace(string(setgroups)) == "allow"
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(null)
	path := "/proc/self/fd/" + strconv.Itoa(enter)
	pid, err := syscall.ForkExec(path, []string{"lx-holder"}, &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null)},
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
			UidMappings: uids,
			GidMappings: gids,
			// A nested user namespace inherits "deny" and cannot undo it.
			GidMappingsEnableSetgroups: allow,
			Setpgid:                    true,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start the holder: %w", err)
	}
	g := &guestNS{enter: enter, holder: pid, setgroups: allow, enterPath: path}
	if g.user, err = unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		g.mnt, err = unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return nil, fmt.Errorf("the holder's namespaces: %w", err)
	}
	return g, nil
}

// sameIDs maps every id of the user namespace's map file to itself.
func sameIDs(mapFile string) ([]syscall.SysProcIDMap, error) {
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return nil, err
	}
	var ids []syscall.SysProcIDMap
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		first, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: %q", mapFile, line)
		}
		ids = append(ids, syscall.SysProcIDMap{ContainerID: first, HostID: first, Size: size})
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s is empty", mapFile)
	}
	return ids, nil
}

// The steps of lx-enter a failure names (enter.c's STEP_*).
const (
	stepCwd  = 4
	stepExec = 5
)

// cwdError is a working directory the command's user could not enter.
type cwdError struct {
	dir string
	err syscall.Errno
}

func (e *cwdError) Error() string { return e.dir + ": " + e.err.Error() }

// enterAndExec forks lx-enter with attr (stdio, session, process group),
// which joins the guests' namespaces, takes on the identity of cred (nil:
// init's, root), changes to cwd as that user and executes path with argv.
// A cwd starting with '?' is a default: "/" if it cannot be entered. It
// returns the pid, a *cwdError, or the errno of the step that failed.
func (g *guestNS) enterAndExec(path string, argv []string, cwd string, cred *syscall.Credential, attr *syscall.ProcAttr) (int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	defer unix.Close(p[0])
	uid, gid, groups := "-", "-", "-"
	if cred != nil {
		uid, gid = strconv.Itoa(int(cred.Uid)), strconv.Itoa(int(cred.Gid))
		if g.setgroups {
			gs := make([]string, len(cred.Groups))
			for i, id := range cred.Groups {
				gs[i] = strconv.Itoa(int(id))
			}
			groups = strings.Join(gs, ",")
		}
	}
	args := append([]string{"lx-enter", cwd, uid, gid, groups, path}, argv...)
	attr.Files = append(attr.Files[:3:3], uintptr(g.user), uintptr(g.mnt), uintptr(p[1]))
	pid, err := syscall.ForkExec(g.enterPath, args, attr)
	unix.Close(p[1])
	if err != nil {
		return 0, err
	}
	var b [8]byte
	n, err := unix.Read(p[0], b[:])
	for err == unix.EINTR {
		n, err = unix.Read(p[0], b[:])
	}
	if n == 8 {
		errno := syscall.Errno(binary.NativeEndian.Uint32(b[:4]))
		if binary.NativeEndian.Uint32(b[4:]) == stepCwd {
			return 0, &cwdError{strings.TrimPrefix(cwd, "?"), errno}
		}
		return 0, errno
	}
	return pid, nil
}
