// Package abi holds the x86-64 Linux ABI lx speaks: syscall numbers, structs and constants.
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
