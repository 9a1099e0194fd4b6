package abi

import (
	"strconv"
	"testing"
)

func TestSyscallNames(t *testing.T) {
	for nr, want := range map[int]string{
		0:   "read",
		59:  "execve",
		156: "_sysctl",
		257: "openat",
		262: "newfstatat",
		424: "pidfd_send_signal",
		435: "clone3",
	} {
		if got := SyscallName(nr); got != want {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, want)
		}
	}
	for _, nr := range []int{-1, 400, NSyscalls, 1 << 30} {
		if got, want := SyscallName(nr), "syscall_"+strconv.Itoa(nr); got != want {
			t.Errorf("SyscallName(%d) = %q, want %q", nr, got, want)
		}
	}
}

func TestSyscallNamesUnique(t *testing.T) {
	seen := make(map[string]int)
	for nr, name := range SyscallNames {
		if name == "" {
			continue
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("%q is both syscall %d and %d", name, prev, nr)
		}
		seen[name] = nr
	}
	if SyscallNames[NSyscalls-1] == "" {
		t.Errorf("NSyscalls = %d, but the last number has no name", NSyscalls)
	}
}

// TestSyscallNumber: every name maps back to its number; others do not.
func TestSyscallNumber(t *testing.T) {
	for nr, name := range SyscallNames {
		if name == "" {
			continue
		}
		if got, ok := SyscallNumber(name); !ok || got != nr {
			t.Errorf("SyscallNumber(%q) = %d, %v, want %d", name, got, ok, nr)
		}
	}
	if _, ok := SyscallNumber("bogus_call_x"); ok {
		t.Error("SyscallNumber knows bogus_call_x")
	}
}
