package pid1

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"lx/shared/mountfd"
)

// What runc masks, lx masks. The instance's /proc is its own pid
// namespace's, but much of it is the host kernel's, the same in every
// namespace: its sysctls (/proc/sys: kernel.core_pattern runs a program as
// the host's root), the magic SysRq trigger, interrupt and bus settings,
// kernel memory and symbols, the keys of every keyring, timer lists with
// kernel addresses; and /sys/firmware shows the host's ACPI tables and
// firmware. init covers them before any guest exists, and the guests, whose
// mount namespace copies init's, cannot uncover them (the kernel locks
// what they inherit). A path this kernel lacks is skipped.
var (
	// readOnlyProc are bound read-only over themselves.
	readOnlyProc = []string{"sys", "sysrq-trigger", "irq", "bus", "fs"}
	// maskedProc files read as empty (/dev/null is bound over them) and
	// directories are empty (an empty read-only tmpfs over them).
	maskedProc = []string{"kcore", "keys", "timer_list", "kallsyms", "acpi", "asound", "scsi",
		"latency_stats", "sched_debug", "timer_stats"}
	// maskedSys, likewise below /sys.
	maskedSys = []string{"firmware", "devices/virtual/powercap"}
)

// maskKernelFiles applies the masks to the proc mount proc and the sysfs
// mount sys (-1: none) of the instance root root.
func maskKernelFiles(root, proc, sys int) error {
	null, err := unix.Openat2(root, "dev/null", &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return fmt.Errorf("/dev/null: %w", err)
	}
	defer unix.Close(null)
	for _, p := range readOnlyProc {
		if err := readOnly(proc, p); err != nil {
			return fmt.Errorf("/proc/%s: %w", p, err)
		}
	}
	for _, p := range maskedProc {
		if err := mask(null, proc, p); err != nil {
			return fmt.Errorf("/proc/%s: %w", p, err)
		}
	}
	if sys >= 0 {
		for _, p := range maskedSys {
			if err := mask(null, sys, p); err != nil {
				return fmt.Errorf("/sys/%s: %w", p, err)
			}
		}
	}
	return nil
}

// readOnly binds dir's entry name read-only over itself.
func readOnly(dir int, name string) error {
	src, err := unix.Openat2(dir, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(src)
	return mountfd.BindOver(src, dir, name, mountfd.ROFile)
}

// mask covers dir's entry name: a file with null (/dev/null), a directory
// with an empty read-only tmpfs.
func mask(null, dir int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return mountfd.BindOver(null, dir, name, mountfd.RODevice)
	}
	at, err := mountfd.Beneath(dir, name)
	if err != nil {
		return err
	}
	defer unix.Close(at)
	empty, err := mountfd.New("tmpfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC,
		"mode", "0555", "size", mountfd.SizeOpt(0))
	if err != nil {
		return err
	}
	defer unix.Close(empty)
	return mountfd.Attach(empty, at)
}
