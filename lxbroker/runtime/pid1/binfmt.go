package pid1

// Native execs. procsrv's exec check (procsrv/exec.go) answers CONTINUE
// for everything the kernel itself refuses with the same errno (ENOEXEC
// for text, truncated and foreign-machine files, EACCES, ELOOP, E2BIG…),
// with one exception: a 32-bit x86 program, which a host with IA32
// emulation would run, and whose int 0x80 calls the filter answers ENOSYS
// (DESIGN §2). The trip to procsrv costs more than a third of a
// fork+exec+wait on these VMs, so where the kernel can make that one
// check too, the instance's filter lets execve and execveat run natively
// (routes.Profile.NativeExecs):
//
// Since Linux 6.7 a user namespace can have a binfmt_misc instance of its
// own, which the kernel consults for the processes of that namespace and
// of the namespaces nested in it, and no longer the host's. init makes
// one for the instance's user namespace (so a guest never reaches the
// host's handlers either: a foreign machine's ELF gets ENOEXEC, whatever
// qemu-user the host registered) and registers one handler, for every
// ELFCLASS32 file, whose interpreter is lx-enter: run so, it says on
// stderr that the file is a 32-bit program and exits 126, as a shell
// does for a file it cannot execute. The kernel tries binfmt_misc before
// its ELF loaders. The difference from a trapped exec: the execve itself
// succeeds and the program exits 126, where procsrv answered ENOEXEC.
//
// The instance's binfmt_misc is mounted nowhere (fsmount without
// move_mount): init keeps the mount fd, which keeps the handler, and no
// guest can see or change it. Guest root may mount a binfmt_misc of its
// own, for the guests' user namespace (mount -t binfmt_misc, as on Linux):
// its handlers then replace this one for the guests, and a 32-bit program
// starts, and the filter answers each of its calls ENOSYS (DESIGN §2).
//
// Where the kernel cannot (older than 6.7, no binfmt_misc), or for an
// instance started with --trap-paths (so that lx trace procsrv sees every
// exec), exec stays trapped.

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// refuse32 makes the binfmt_misc instance of init's user namespace and
// registers lx-enter, the memfd enter, as the interpreter of 32-bit ELF
// files. It returns the mount fd, which must stay open for the handler to
// stay (the instance's is the only mount of it).
func refuse32(enter int) (int, error) {
	// In the host's own user namespace the binfmt_misc would be the
	// host's: never register there.
	m, err := os.ReadFile("/proc/self/uid_map")
	if f := strings.Fields(string(m)); err != nil || len(f) < 3 || f[2] == "4294967295" {
		return -1, fmt.Errorf("binfmt_misc: init is not in a user namespace of its own")
	}
	// Magic "\x7fELF" and ELFCLASS32 at offset 0 (i386 and x32 alike);
	// F: the interpreter is opened now, in init, and not looked up in
	// the caller's mount namespace at each exec.
	return RegisterBinfmt(`:lx-32bit:M::\x7fELF\x01::/proc/self/fd/` + strconv.Itoa(enter) + `:F`)
}

// RegisterBinfmt mounts, nowhere, the binfmt_misc of the caller's user
// namespace (Linux 6.7 and later make one for a namespace that has none;
// in the host's namespace it is the host's) and registers rule in it (the
// format of binfmt-misc.rst). It returns the mount fd: an instance of a
// user namespace lasts while a mount of it does.
func RegisterBinfmt(rule string) (int, error) {
	fs, err := unix.Fsopen("binfmt_misc", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("binfmt_misc of the user namespace (Linux 6.7 or later): %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("binfmt_misc: %w", err)
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return -1, fmt.Errorf("binfmt_misc: %w", err)
	}
	reg, err := unix.Openat(mnt, "register", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(reg, []byte(rule))
		unix.Close(reg)
	}
	if err != nil {
		unix.Close(mnt)
		return -1, fmt.Errorf("binfmt_misc: register %q: %w", rule, err)
	}
	return mnt, nil
}
