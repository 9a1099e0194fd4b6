package lxbroker

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// An instance's tasks and memory are bounded in the kernel by cgroups
// where the broker may make them (root, with the pids and memory
// controllers of cgroup v1 or v2):
//
//   - pids: the kernel fails a fork or a thread beyond the bound with
//     EAGAIN, whatever the guest does, so the filter lets fork, vfork and
//     clone without namespace flags run natively (routes.Profile.NativeForks).
//     Without a pids cgroup RLIMIT_NPROC, set by init before it makes the
//     guests' user namespace, bounds the instance (native.go, forksBound).
//   - memory: memory.max (v2) or memory.limit_in_bytes (v1) is the
//     instance's memory bound (lx run --memory, the distro's setting,
//     LX_MEMORY; half the host's memory by default). It counts the guests'
//     processes and the pages of every tmpfs they write, their own mounts
//     included, which the OOM killer could not free otherwise. The
//     instance's own tmpfs are sized to fit in it (keeper.go).
//
// An unprivileged user gets neither (without systemd's delegation a user
// may not make cgroups): RLIMIT_NPROC bounds its tasks, the instance's own
// tmpfs are sized, and its guests' memory is bounded as the user's own
// processes are, by the host.

// TasksPerProc is the pids.max of an instance per process procsrv admits:
// threads count as tasks.
const TasksPerProc = 4

// cgroupV2 is the unified hierarchy's root.
const cgroupV2 = "/sys/fs/cgroup"

// controllerRoot is the hierarchy where controller ctl may be used by this
// process: its cgroup v1 hierarchy, else the unified root when it offers
// ctl.
func controllerRoot(ctl string) (root string, v2 bool, err error) {
	v1 := filepath.Join(cgroupV2, ctl)
	if _, err := os.Stat(filepath.Join(v1, "cgroup.procs")); err == nil && writable(v1) {
		return v1, false, nil
	}
	b, err := os.ReadFile(filepath.Join(cgroupV2, "cgroup.controllers"))
	if err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " "+ctl+" ") && writable(cgroupV2) {
		return cgroupV2, true, nil
	}
	return "", false, fmt.Errorf("no %s cgroup controller this user can use", ctl)
}

// makeCgroup makes the instance's cgroup of controller ctl and writes
// limit to its file file. It returns the directory. In the unified
// hierarchy a process is in one cgroup: the instance's is made once, in
// *unified, and every controller's limit written there.
func makeCgroup(instance, ctl, file, limit string, unified *string) (string, error) {
	root, v2, err := controllerRoot(ctl)
	if err != nil {
		return "", err
	}
	if v2 && *unified != "" {
		os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+"+ctl), 0)
		os.WriteFile(filepath.Join(root, "lx", "cgroup.subtree_control"), []byte("+"+ctl), 0)
		if err := os.WriteFile(filepath.Join(*unified, file), []byte(limit), 0); err != nil {
			return "", fmt.Errorf("%s: %w", filepath.Join(*unified, file), err)
		}
		return *unified, nil
	}
	parent := filepath.Join(root, "lx")
	if err := os.Mkdir(parent, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if v2 {
		// A child gets the controller only when its parent hands it down.
		os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+"+ctl), 0)
		os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+ctl), 0)
	}
	dir := filepath.Join(parent, fmt.Sprintf("%d-%s-%d", os.Geteuid(), instance, time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(limit), 0); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, file), err)
	}
	if v2 {
		*unified = dir
	}
	return dir, nil
}

// makeCgroups makes what the instance may have of its pids and memory
// cgroups, before init exists; joinCgroups then moves init into them.
func (in *Instance) makeCgroups() {
	var unified string
	if dir, err := makeCgroup(in.name, "pids", "pids.max", strconv.Itoa(TasksPerProc*in.b.knobs.maxProcs), &unified); err == nil {
		in.cgroup = dir
		in.cgroups = append(in.cgroups, dir)
	} else {
		in.log.Info("no pids cgroup", zap.Error(err), zap.String("tasks bounded by", in.forksBound()))
	}
	file := "memory.limit_in_bytes"
	if root, v2, err := controllerRoot("memory"); err == nil && v2 && root == cgroupV2 {
		file = "memory.max"
	}
	if dir, err := makeCgroup(in.name, "memory", file, strconv.FormatInt(in.memory, 10), &unified); err == nil {
		in.memcg = true
		if dir != in.cgroup {
			in.cgroups = append(in.cgroups, dir)
		}
	} else {
		in.log.Info("no memory cgroup: the instance's memory is bounded only by its tmpfs sizes and the host", zap.Error(err))
	}
}

// joinCgroups moves pid (init: every guest descends from it) into the
// instance's cgroups.
func (in *Instance) joinCgroups(pid int) error {
	for _, dir := range in.cgroups {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("move init into %s: %w", dir, err)
		}
	}
	return nil
}

// removeCgroups removes the instance's cgroups once its last task is gone.
func (in *Instance) removeCgroups() {
	for _, dir := range in.cgroups {
		if err := removeCgroup(dir); err != nil {
			in.log.Warn("remove the instance's cgroup", zap.Error(err))
		}
	}
}

func writable(dir string) bool { return unix.Access(dir, unix.W_OK) == nil }

// removeCgroup removes a cgroup directory once its last task is gone.
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
