// Package abi holds the x86-64 Linux ABI lx speaks: syscall numbers, structs and constants.
//
// Runs in: every lx process that speaks seccomp's notification interface
// or names a syscall: init, the router, the servers, the broker and the lx
// client. Owns: nothing. Waits on: nobody.
package abi

import (
	"fmt"
	"sync"
)

//go:generate go run ./gen

// SyscallName returns the Linux name of syscall nr, or "syscall_NR" when no
// x86-64 syscall has that number.
func SyscallName(nr int) string {
	if nr >= 0 && nr < NSyscalls && SyscallNames[nr] != "" {
		return SyscallNames[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// SyscallNumber returns the number of the x86-64 syscall named name.
func SyscallNumber(name string) (int, bool) {
	nr, ok := syscallNumbers()[name]
	return nr, ok
}

var syscallNumbers = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, NSyscalls)
	for nr, name := range SyscallNames {
		if name != "" {
			m[name] = nr
		}
	}
	return m
})
