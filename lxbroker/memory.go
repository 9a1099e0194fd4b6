package lxbroker

import (
	"fmt"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
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

// joinMemory refuses a run that asks for another memory bound than the
// running instance has (as a run asking for another network mode is).
func (in *Instance) joinMemory(memory int64) error {
	if memory != 0 && memory != in.memory {
		return fmt.Errorf("instance %s runs with --memory %s; stop it first (lx terminate %s) to run with --memory %s",
			in.name, proto.FormatSize(in.memory), in.name, proto.FormatSize(memory))
	}
	return nil
}
