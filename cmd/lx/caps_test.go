package main

import (
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCapsTellTheTruth: guest root does not hold the capabilities the
// kernel checks in the initial user namespace for what guests do with
// them, so a program that lowers its oom_score_adj, as LTP's library and
// OOM-shy daemons do, sees a refusal it can explain (EACCES without
// CAP_SYS_RESOURCE) and takes its unprivileged path.
func TestCapsTellTheTruth(t *testing.T) {
	out := guest(t, t.TempDir(), "sh", "-c", `grep -E '^Cap(Eff|Bnd):' /proc/self/status; echo -1000 > /proc/self/oom_score_adj && echo lowered || echo refused`)
	var eff, bnd uint64
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			t.Fatalf("status line %q: %v", line, err)
		}
		switch f[0] {
		case "CapEff:":
			eff = v
		case "CapBnd:":
			bnd = v
		}
	}
	if eff&(1<<unix.CAP_SYS_ADMIN) == 0 {
		t.Fatalf("guest root lost CAP_SYS_ADMIN in its own namespace: %q", out)
	}
	for _, c := range []uint{unix.CAP_SYS_RESOURCE, unix.CAP_IPC_LOCK} {
		if eff&(1<<c) != 0 || bnd&(1<<c) != 0 {
			t.Errorf("guest root holds capability %d, which the kernel does not honour for it: %q", c, out)
		}
	}
	if lowered := strings.Contains(out, "lowered"); lowered == (eff&(1<<unix.CAP_SYS_RESOURCE) == 0) {
		t.Errorf("oom_score_adj -1000 and CAP_SYS_RESOURCE disagree: %q", out)
	}
}
