package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// versionText is `lx --version`: lx's version, the commit it was built
// from, the Go that built it, and what lx needs of this kernel, probed.
func versionText() string {
	commit, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && len(s.Value) >= 12:
				commit = s.Value[:12]
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	var b strings.Builder
	fmt.Fprintf(&b, "lx %s (commit %s%s, %s, %s/%s)\n", version, commit, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "kernel %s:\n", unix.ByteSliceToString(uts.Release[:]))
	for _, f := range kernelFeatures() {
		fmt.Fprintf(&b, "  %-32s %s\n", f.name, f.state)
	}
	return b.String()
}

type feature struct{ name, state string }

// kernelFeatures probes what lx uses: each probe is a harmless call or a
// file read, and says what it found.
func kernelFeatures() []feature {
	yesNo := func(ok bool, no string) string {
		if ok {
			return "yes"
		}
		return "no: " + no
	}
	var fs []feature
	userns := "yes"
	if n := readInt("/proc/sys/user/max_user_namespaces"); n == 0 {
		userns = "no: user.max_user_namespaces is 0"
	} else if readInt("/proc/sys/kernel/unprivileged_userns_clone") == 0 {
		userns = "no: kernel.unprivileged_userns_clone is 0"
	} else if readInt("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 {
		userns = "restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns)"
	}
	fs = append(fs, feature{"user namespaces", userns})
	actions, _ := os.ReadFile("/proc/sys/kernel/seccomp/actions_avail")
	fs = append(fs, feature{"seccomp user notification", yesNo(strings.Contains(string(actions), "user_notif"), "lx cannot run")})
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err == nil {
		unix.Close(fd)
	}
	fs = append(fs, feature{"openat2 RESOLVE_IN_ROOT", yesNo(err == nil, "lx cannot run")})
	pfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err == nil {
		unix.Close(pfd)
	}
	fs = append(fs, feature{"pidfd", yesNo(err == nil, "lx cannot run")})
	// mount_setattr with a bad fd: EBADF where the call exists.
	err = unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	fs = append(fs, feature{"mount_setattr (idmapped mounts)", yesNo(err != unix.ENOSYS, "root's distros keep owners only by recording them")})
	_, err = os.Stat("/sys/fs/cgroup/cgroup.controllers")
	fs = append(fs, feature{"cgroup v2", yesNo(err == nil, "memory bounds use cgroup v1 if mounted")})
	return fs
}

// readInt reads a number from a one-line file, -1 if it cannot.
func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}
