package procsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/procfs"
)

// MaxProcs bounds the processes of one instance (LX_MAX_PROCS for the
// server) where procsrv counts forks (an instance whose filter traps them;
// the kernel bounds every other: lxbroker's forksBound), so a fork bomb
// ends in EAGAIN, as Linux answers at its limits.
var MaxProcs = 4096

// procCount admits new processes against MaxProcs without reading /proc
// for each fork: it counts the instance's processes only when the last
// count plus the forks admitted since could reach the bound.
type procCount struct {
	counted, since int
	valid          bool
}

var procs procCount

func (k *procCount) admit(c *servers.Call) error {
	if k.valid && k.counted+k.since < MaxProcs {
		k.since++
		return nil
	}
	n, err := procfs.CountPids(c.Proc())
	if err != nil {
		k.valid = false
		return nil // no count, no refusal: the kernel's limits still hold
	}
	k.counted, k.since, k.valid = n, 0, true
	if n >= MaxProcs {
		c.Log().Debug("process limit of the instance reached")
		return unix.EAGAIN
	}
	k.since = 1
	return nil
}
