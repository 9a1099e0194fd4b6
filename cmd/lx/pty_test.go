package main

import (
	"bytes"
	"os"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openHostPty opens a pty pair on the host for a test to drive lx through.
func openHostPty() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	mfd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY)
	if errno != 0 {
		master.Close()
		return nil, nil, errno
	}
	unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 90})
	return master, os.NewFile(r, "slave"), nil
}

// ptyOutput collects what appears on a pty master.
type ptyOutput struct {
	mu   sync.Mutex
	out  bytes.Buffer
	mark int
}

func watchPty(master *os.File) *ptyOutput {
	p := &ptyOutput{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// expect waits up to 15 s for re after the previous match.
func (p *ptyOutput) expect(t *testing.T, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		loc := rx.FindIndex(p.out.Bytes()[p.mark:])
		if loc != nil {
			p.mark += loc[1]
		}
		p.mu.Unlock()
		if loc != nil {
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("no %q in the terminal's output:\n%s", re, p.out.Bytes()[p.mark:])
}
