package lxbroker

import (
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// terminal joins this process's terminal to a pty of the instance: the host
// terminal goes to raw mode (the instance's pty does the line discipline,
// so ^C, ^Z and job control act on the guest's foreground job), bytes are
// copied both ways, and window size changes are passed on.
type terminal struct {
	master  *os.File
	saved   *unix.Termios
	outDone chan struct{}
	winch   chan os.Signal
}

func winsize(fd int) (rows, cols int) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0
	}
	return int(ws.Row), int(ws.Col)
}

func startTerminal(masterFd int) *terminal {
	t := &terminal{master: os.NewFile(uintptr(masterFd), "pty"), outDone: make(chan struct{}), winch: make(chan os.Signal, 1)}
	if saved, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		t.saved = saved
		raw := *saved
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(0, unix.TCSETS, &raw)
	}
	go io.Copy(t.master, os.Stdin)
	go func() {
		io.Copy(os.Stdout, t.master) // ends with EIO when the guest side closes
		close(t.outDone)
	}()
	signal.Notify(t.winch, unix.SIGWINCH)
	go func() {
		for range t.winch {
			if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
	}()
	return t
}

// finish lets the last output through and restores the host terminal.
func (t *terminal) finish() {
	if t == nil {
		return
	}
	select {
	case <-t.outDone:
	case <-time.After(time.Second):
	}
	signal.Stop(t.winch)
	if t.saved != nil {
		unix.IoctlSetTermios(0, unix.TCSETS, t.saved)
	}
}
