package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"lx/lxbroker/proto"
	"lx/servers/components"
)

// TestComponentsSandboxed: every running component is under a seccomp
// filter (Seccomp: 2 in /proc/PID/status) and names its threads lx-NAME.
func TestComponentsSandboxed(t *testing.T) {
	hold(t)
	in, _ := instance(t, proto.DefaultDistro)
	seen := 0
	for _, c := range in.Components {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid))
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !strings.Contains(string(b), "\nSeccomp:\t2\n") || !strings.Contains(string(b), "\nNoNewPrivs:\t1\n") {
			t.Errorf("%s (pid %d) is not sandboxed:\n%s", c.Name, c.Pid, b)
		}
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.Pid)); string(comm) != "lx-"+c.Name+"\n" {
			t.Errorf("%s: comm %q", c.Name, comm)
		}
		seen++
	}
	if seen != len(components.Table) {
		t.Fatalf("checked %d components, want %d", seen, len(components.Table))
	}
}
