package lxbroker

import (
	"golang.org/x/sys/unix"
)

// memoryBound is an instance's memory bound in bytes: what its starting
// run asked for (lx run --memory, the distro's setting, LX_MEMORY), else
// half of the host's memory, as WSL's default.
func memoryBound(asked int64) int64 {
	if asked > 0 {
		return asked
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil || si.Totalram == 0 {
		return 4 << 30
	}
	return int64(si.Totalram) * int64(si.Unit) / 2
}
