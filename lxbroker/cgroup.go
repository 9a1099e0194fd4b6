package lxbroker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"lx/procsrv"
)

// An instance's tasks are bounded in the kernel by a pids cgroup where the
// broker may make one (root, with the pids controller of cgroup v1 or v2).
// The kernel then fails a fork or a thread beyond the bound with EAGAIN,
// whatever the guest does: procsrv's own count (LX_MAX_PROCS) sees forks
// only, not threads, and only while procsrv runs. So in an instance with
// such a cgroup the filter lets fork, vfork and clone without namespace
// flags run natively (routes.NativeForks), which saves a trip to procsrv
// per fork. An unprivileged user gets no such cgroup: RLIMIT_NPROC, set by
// init before it makes the guests' user namespace, bounds the instance
// there, and forks run natively as well (native.go, forksBound).

// TasksPerProc is the pids.max of an instance per process procsrv admits:
// threads count as tasks.
const TasksPerProc = 4

// pidsRoots are where the pids controller may be mounted: cgroup v1's
// hierarchy, then the unified (v2) root.
var pidsRoots = []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"}

// pidsCgroup makes a pids cgroup for the instance, bounded to max tasks.
// It returns the cgroup's directory, or "" with the reason when there is
// none to make. The instance's init joins it with joinCgroup before any
// guest exists.
func pidsCgroup(instance string, max int) (string, error) {
	for _, root := range pidsRoots {
		if _, err := os.Stat(filepath.Join(root, "pids.max")); err == nil {
			continue // a child cgroup's file: not a root
		}
		if !pidsController(root) {
			continue
		}
		parent := filepath.Join(root, "lx")
		if err := os.Mkdir(parent, 0o755); err != nil && !os.IsExist(err) {
			return "", err
		}
		if root == "/sys/fs/cgroup" {
			// cgroup v2: a child gets the controller only when its parent
			// hands it down.
			os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+pids"), 0)
			os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+pids"), 0)
		}
		dir := filepath.Join(parent, fmt.Sprintf("%d-%s-%d", os.Geteuid(), instance, time.Now().UnixNano()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0); err != nil {
			os.Remove(dir)
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("no pids cgroup controller this user can use")
}

// joinCgroup moves pid (init: every guest descends from it) into the
// cgroup dir.
func joinCgroup(dir string, pid int) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

// pidsController reports whether root is a cgroup hierarchy with the pids
// controller that this process may write to.
func pidsController(root string) bool {
	if filepath.Base(root) == "pids" {
		_, err := os.Stat(filepath.Join(root, "cgroup.procs"))
		return err == nil && writable(root)
	}
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	return err == nil && strings.Contains(" "+string(b)+" ", " pids ") && writable(root)
}

func writable(dir string) bool { return unix.Access(dir, unix.W_OK) == nil }

// removeCgroup removes an instance's cgroup once its last task is gone.
func removeCgroup(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// maxProcs is procsrv's bound, LX_MAX_PROCS (procsrv.MaxProcs's default
// otherwise).
func maxProcs() int {
	if n, err := strconv.Atoi(os.Getenv("LX_MAX_PROCS")); err == nil && n > 0 {
		return n
	}
	return procsrv.MaxProcs
}
