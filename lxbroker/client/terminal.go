package client

import (
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// terminal joins this process's terminal to a pty of the instance, which
// stands for the stdio streams in mask (proto.Command.Tty) that are the terminal:
// with stdin among them the host terminal goes to raw mode (the instance's
// pty does the line discipline, so ^C, ^Z and job control act on the
// guest's foreground job) and keystrokes are copied in; what the guest
// writes to the pty is copied to the first of stdout, stderr, stdin that
// is the terminal; window size changes are passed on. The guest never
// holds the host's terminal (stdio.go), and what it writes after lx run
// ends goes nowhere.
type terminal struct {
	master  *os.File
	tty     int // the fd of the host terminal
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

func startTerminal(masterFd, mask int) *terminal {
	t := &terminal{master: os.NewFile(uintptr(masterFd), "pty"), outDone: make(chan struct{}), winch: make(chan os.Signal, 1)}
	out := os.Stdout
	switch {
	case mask&2 != 0:
		t.tty = 1
	case mask&4 != 0:
		t.tty, out = 2, os.Stderr
	default:
		t.tty, out = 0, os.Stdin // the echo of what is typed
	}
	if mask&1 == 0 {
		// stdin is not the terminal: its line discipline stays the host's
		go func() {
			io.Copy(out, t.master)
			close(t.outDone)
		}()
		t.watchSize()
		return t
	}
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
		io.Copy(out, t.master) // ends with EIO when the guest side closes
		close(t.outDone)
	}()
	t.watchSize()
	return t
}

// watchSize passes the host terminal's window size changes on to the pty.
func (t *terminal) watchSize() {
	signal.Notify(t.winch, unix.SIGWINCH)
	go func() {
		for range t.winch {
			if ws, err := unix.IoctlGetWinsize(t.tty, unix.TIOCGWINSZ); err == nil {
				unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws)
			}
		}
	}()
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
