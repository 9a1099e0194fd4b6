package netsrv

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawBind binds fd to the address in b as the kernel got it.
func rawBind(fd int, b []byte) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return e
	}
	return nil
}
