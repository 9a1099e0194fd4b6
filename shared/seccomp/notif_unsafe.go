package seccomp

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
)

// The listener ioctls (seccomp_unotify(2)). Recv blocks and so goes through
// unix.Syscall, which lets the Go scheduler run other goroutines meanwhile;
// the others never block and use RawSyscall.

func ioctl(fd int, req uintptr, arg unsafe.Pointer) (uintptr, error) {
	r, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return r, e
	}
	return r, nil
}

// Recv waits for the next notification. ENOENT means the calling task died
// before it could be received; EINTR that a signal interrupted the wait.
func Recv(listener int, n *abi.SeccompNotif) error {
	*n = abi.SeccompNotif{}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
	if e != 0 {
		return e
	}
	return nil
}

// Send answers a notification. ENOENT means the call is gone (the task died
// or a signal interrupted the call and it was restarted or abandoned).
func Send(listener int, r *abi.SeccompNotifResp) error {
	_, err := ioctl(listener, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
	return err
}

// AddFD installs srcfd into the calling task of notification a.ID and
// returns the guest's fd number.
func AddFD(listener int, a *abi.SeccompNotifAddfd) (int, error) {
	r, err := ioctl(listener, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(a))
	return int(r), err
}

// IDValid reports whether notification id is still pending: the task that
// made it is alive and waiting, so what was read from its memory is its own.
func IDValid(listener int, id uint64) error {
	_, err := ioctl(listener, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id))
	return err
}

// SetSyncWakeup asks the kernel to wake the receiver synchronously, on the
// CPU of the trapped task (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6).
func SetSyncWakeup(listener int) error {
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if e != 0 {
		return e
	}
	return nil
}
