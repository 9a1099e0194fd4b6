// Package abi holds the x86-64 Linux ABI lx speaks: syscall numbers, structs and constants.
//
// Runs in: every lx process that speaks seccomp's notification interface
// or names a syscall: init, the router, the servers, the broker and the lx
// client. Owns: nothing. Waits on: nobody.
package abi

import "fmt"

//go:generate go run ./gen

// SyscallName returns the Linux name of syscall nr, or "syscall_NR" when no
// x86-64 syscall has that number.
func SyscallName(nr int) string {
	if nr >= 0 && nr < NSyscalls && SyscallNames[nr] != "" {
		return SyscallNames[nr]
	}
	return fmt.Sprintf("syscall_%d", nr)
}
