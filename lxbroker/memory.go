package lxbroker

import (
	"fmt"
	"strconv"
	"strings"

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

// MemoryEnv is the default of lx run --memory.
const MemoryEnv = "LX_MEMORY"

// minMemory is the least bound an instance may be given: its own processes
// (init, lx-enter) and tmpfs need some.
const minMemory = 32 << 20

// ParseSize reads a memory size: a number of bytes with an optional K, M,
// G or T (powers of 1024; B, KB, KiB... alike).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a memory size (e.g. 512M, 4G)", s)
	}
	if v*mult < minMemory {
		return 0, fmt.Errorf("memory size %s is below the least an instance needs, %dM", s, minMemory>>20)
	}
	return v * mult, nil
}

// FormatSize prints a memory size as ParseSize reads it.
func FormatSize(b int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b%u.m == 0 {
			return strconv.FormatInt(b/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(b, 10)
}

// joinMemory refuses a run that asks for another memory bound than the
// running instance has (as a run asking for another network mode is).
func (in *Instance) joinMemory(m *Msg) error {
	if m.Memory != 0 && m.Memory != in.memory {
		return fmt.Errorf("instance %s runs with --memory %s; stop it first (lx terminate %s) to run with --memory %s",
			in.name, FormatSize(in.memory), in.name, FormatSize(m.Memory))
	}
	return nil
}
