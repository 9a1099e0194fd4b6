package procsrv

import (
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/shared/procfs"
)

// procCount admits new processes against max, the bound of the
// instance's processes (launch.Config.MaxProcs) where procsrv counts forks
// (an instance whose filter traps them; the kernel bounds every other:
// lxbroker's forksBound), so that a fork bomb ends in EAGAIN, as Linux
// answers at its limits. It counts the instance's processes only when the
// last count plus the forks admitted since could reach the bound, not at
// each fork.
type procCount struct {
	max            int
	counted, since int
	valid          bool
}

// defaultMaxProcs bounds an instance whose config sets no MaxProcs.
const defaultMaxProcs = 4096

var procs = procCount{max: defaultMaxProcs}

func (k *procCount) admit(c *servers.Call) error {
	if k.valid && k.counted+k.since < k.max {
		k.since++
		return nil
	}
	n, err := procfs.CountPids(c.Proc())
	if err != nil {
		k.valid = false
		return nil // no count, no refusal: the kernel's limits still hold
	}
	k.counted, k.since, k.valid = n, 0, true
	if n >= k.max {
		c.Log().Debug("process limit of the instance reached")
		return unix.EAGAIN
	}
	k.since = 1
	return nil
}
