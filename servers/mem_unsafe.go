package servers

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Guest memory: process_vm_readv/writev on the calling thread. A range that
// is not mapped in the guest gives EFAULT, as the kernel would give the
// guest for the same pointer.

const pageSize = 4096

func readMem(tid int, addr uint64, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	local := unix.Iovec{Base: &buf[0]}
	local.SetLen(len(buf))
	remote := unix.RemoteIovec{Base: uintptr(addr), Len: len(buf)}
	n, err := unix.ProcessVMReadv(tid, []unix.Iovec{local}, []unix.RemoteIovec{remote}, 0)
	if err != nil {
		if err == unix.EFAULT || err == unix.EINVAL {
			return 0, unix.EFAULT
		}
		return 0, err
	}
	return n, nil
}

func writeMem(tid int, addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := unix.Iovec{Base: &buf[0]}
	local.SetLen(len(buf))
	remote := unix.RemoteIovec{Base: uintptr(addr), Len: len(buf)}
	n, err := unix.ProcessVMWritev(tid, []unix.Iovec{local}, []unix.RemoteIovec{remote}, 0)
	if err != nil {
		if err == unix.EINVAL {
			return unix.EFAULT
		}
		return err
	}
	if n != len(buf) {
		return unix.EFAULT
	}
	return nil
}

// bytesOf views a plain struct as bytes for a guest write.
func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}
