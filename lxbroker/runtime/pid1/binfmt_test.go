package pid1

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRefuse32NotOnTheHost: refuse32 never registers its handler in the
// host's binfmt_misc, which would apply to every process of the host.
func TestRefuse32NotOnTheHost(t *testing.T) {
	if m, _ := os.ReadFile("/proc/self/uid_map"); string(m) != "         0          0 4294967295\n" {
		t.Skipf("skipped: the test runs in a user namespace (uid_map %q), not the host's", m)
	}
	exe, err := unix.Open("/bin/true", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	defer unix.Close(exe)
	mnt, err := refuse32(exe)
	if err == nil {
		t.Error("refuse32 registered a handler in the host's user namespace")
		if fd, err := unix.Openat(mnt, "lx-32bit", unix.O_WRONLY, 0); err == nil {
			unix.Write(fd, []byte("-1"))
			unix.Close(fd)
		}
		unix.Close(mnt)
	}
}
