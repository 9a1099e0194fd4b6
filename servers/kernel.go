package servers

import (
	"fmt"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
	"lx/shared/seccomp"
)

// Kernel is what a Call asks of the world outside the server: the caller's
// memory, its /proc entries, its notification and its fds. The live one
// (Config.Kernel nil) works on the seccomp listener, process_vm_readv and
// the host's /proc; package servertest provides a fake, so that a handler
// runs in a unit test without a trapped guest.
//
// The buffers a Call passes are the server's own scratch, never a
// handler's, so that a handler's stack buffer does not escape through the
// interface call.
type Kernel interface {
	// ReadMem reads the memory of task tid at addr into buf. It stops
	// short at the first unmapped byte, and fails with EFAULT when addr
	// itself is unmapped.
	ReadMem(tid int, addr uint64, buf []byte) (int, error)
	// WriteMem writes all of buf to the memory of task tid at addr, or
	// fails with EFAULT.
	WriteMem(tid int, addr uint64, buf []byte) error
	// Proc is the directory that holds the guests' tasks by host tid.
	Proc() string
	// Valid fails with EINTR unless notification id is still pending.
	Valid(id uint64) error
	// AddFD installs a file into the caller of notification a.ID and
	// returns its fd number there.
	AddFD(a abi.SeccompNotifAddfd) (int, error)
	// GuestFd duplicates fd of task tid into the server, once the task is
	// pinned and notification id checked still pending.
	GuestFd(tid int, id uint64, fd int) (int, error)
	// Send answers a notification.
	Send(r abi.SeccompNotifResp) error
}

// live is the Kernel of a running server: its instance's listener.
type live struct{ listener int }

func (k live) ReadMem(tid int, addr uint64, buf []byte) (int, error) { return readMem(tid, addr, buf) }

func (k live) WriteMem(tid int, addr uint64, buf []byte) error { return writeMem(tid, addr, buf) }

func (k live) Proc() string { return "/proc" }

func (k live) Valid(id uint64) error {
	if err := seccomp.IDValid(k.listener, id); err != nil {
		return fmt.Errorf("notification %d no longer valid: %w", id, unix.EINTR)
	}
	return nil
}

func (k live) AddFD(a abi.SeccompNotifAddfd) (int, error) { return seccomp.AddFD(k.listener, &a) }

func (k live) Send(r abi.SeccompNotifResp) error { return seccomp.Send(k.listener, &r) }

// GuestFd takes the fd with pidfd_getfd. The pidfd pins the task; the
// notification, checked after it is open, proves it is the caller and not
// a task that reused its tid.
func (k live) GuestFd(tid int, id uint64, fd int) (int, error) {
	pidfd, err := unix.PidfdOpen(tid, unix.PIDFD_THREAD)
	if err != nil {
		return -1, fmt.Errorf("pidfd of %d: %w", tid, unix.ESRCH)
	}
	defer unix.Close(pidfd)
	if err := k.Valid(id); err != nil {
		return -1, err
	}
	return unix.PidfdGetfd(pidfd, fd, 0)
}
