package servers

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/abi"
	"lx/shared/control"
	"lx/shared/idmap"
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/seccomp"
	"lx/shared/wire"
)

// Config is what a server process is started with.
type Config struct {
	Name     string
	Table    Table
	Listener int        // duplicate of the instance's seccomp listener
	Ring     *ring.Ring // router → this server
	Control  *control.Control
	Trace    *ring.Ring // this server → tracer; lossy
	Root     int        // O_PATH fd of the instance root
	// Proc is the fd of the root of the instance's proc mount, which init
	// made for the instance's pid namespace: every look at a guest by its
	// pid in the instance goes through it, never through a path below the
	// instance root.
	Proc    int
	IDs     idmap.Maps
	InitPid int // host pid of the instance's init
	// Profile is what the instance runs natively (routes.Profile): among
	// others, whether the root may hold owners and devices recorded in
	// xattrs (an unprivileged distro).
	Profile routes.Profile
	Log     *zap.Logger
	// Kernel is what calls ask of the kernel about their callers; nil is
	// the live one, on Listener. Tests give servertest's fake.
	Kernel Kernel
}

// Server runs one server's loop.
type Server struct {
	cfg Config
	dec *wire.Decoder
	enc *wire.Encoder

	kern Kernel
	proc string // Kernel.Proc
	buf  []byte // guest memory passes through it (Kernel)

	guestRoot int // O_PATH fd of the guests' root (GuestRoot); 0 until found

	// While tracing (tracepid.go): the level of the instance's pid
	// namespace, lx-enter's file.
	initLevel int
	enter     [2]uint64
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Table == nil || cfg.Ring == nil || cfg.Control == nil || cfg.Log == nil {
		return nil, fmt.Errorf("server %s: incomplete config", cfg.Name)
	}
	s := &Server{cfg: cfg, dec: wire.NewDecoder(), enc: wire.NewEncoder(), kern: cfg.Kernel, buf: make([]byte, pageSize)}
	if s.kern == nil {
		s.kern = live{cfg.Listener}
	}
	s.proc = s.kern.Proc()
	return s, nil
}

// scratch is the server's buffer for n bytes of guest memory, grown to
// the largest read so far. Handlers run one at a time on the loop.
func (s *Server) scratch(n int) []byte {
	if n > len(s.buf) {
		s.buf = make([]byte, n)
	}
	return s.buf[:n]
}

// Serve consumes the ring until stop is closed. A frame taken but not
// answered when the previous incarnation died is still at the ring's tail:
// Serve starts with it. Its notification id is checked before anything is
// done, so a call that was answered already is not served twice. A call
// whose handler had begun a side effect (Call.Effect) is not replayed: it
// gets the answer the handler recorded when done (Call.Done), else EIO, as
// a kernel call that failed midway can.
func (s *Server) Serve(stop <-chan struct{}) error {
	runtime.LockOSThread()
	s.cfg.Control.SetPid(os.Getpid())
	s.cfg.Log.Info("serving", zap.Int("handlers", len(s.cfg.Table)), zap.Uint64("pending", s.cfg.Ring.Pending()), zap.Any("ids", s.cfg.IDs))
	var c Call
	c.s = s
	if s.cfg.Ring.Pending() > 0 && s.cfg.Control.EffectAt(s.cfg.Ring.Tail()) {
		s.interrupted(&c)
	}
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if s.cfg.Control.ExitRequested() {
			s.cfg.Log.Info("exiting on request", zap.Uint64("pending", s.cfg.Ring.Pending()))
			return nil
		}
		s.cfg.Control.Beat()
		if !s.cfg.Ring.Wait(control.HeartbeatPeriod) {
			if s.cfg.Listener >= 0 && seccomp.ListenerGone(s.cfg.Listener) {
				s.cfg.Log.Info("no task uses the filter any more: the instance is gone")
				return nil
			}
			continue
		}
		if !s.take(&c) {
			continue
		}
		if n := s.cfg.Control.Begin(s.cfg.Ring.Tail()); n > MaxBegins {
			// Each incarnation that took this call died serving it (a
			// crash the handler cannot recover from, such as a call off
			// the sandbox's list): replaying it again would only kill
			// the next one.
			s.cfg.Control.AddError()
			s.cfg.Log.Error("the call killed every incarnation that served it: answered EIO, not replayed",
				zap.String("call", c.text()), zap.Int32("tid", c.Call.Tid), zap.Uint64s("args", c.Args[:]), zap.Uint64("incarnations", n-1))
			s.reply(&c, 0, unix.EIO)
		} else {
			s.serve(&c)
		}
		s.cfg.Ring.Commit()
	}
}

// MaxBegins is how many incarnations may begin serving one call. A server
// killed from outside (a restart, a hang, chaos) dies during a call rarely,
// and twice in a row during the same call almost never; a call that kills
// its server each time would, replayed forever, keep the server down.
const MaxBegins = 3

// take decodes the frame at the ring's tail into c. A frame that does not
// decode is dropped and counted, and take reports false.
func (s *Server) take(c *Call) bool {
	frame, _ := s.cfg.Ring.Peek()
	if frame == nil {
		s.reject(frame, errors.New("slot length out of range"))
		return false
	}
	if err := s.dec.Call(frame, &c.Call); err != nil {
		s.reject(frame, err)
		return false
	}
	return true
}

// interrupted answers the frame at the ring's tail, whose handler died
// after it began a side effect: with the answer it recorded (Call.Done) if
// it got that far; for an fd install, with the fd the guest got or, if it
// got none, by serving the call again; else EIO.
func (s *Server) interrupted(c *Call) {
	if !s.take(c) {
		return
	}
	c.decoded, c.nargs = [6]string{}, -1
	if val, ok := s.cfg.Control.AnswerAt(s.cfg.Ring.Tail()); ok {
		s.cfg.Log.Info("the previous incarnation died before it answered a finished call: sending its answer",
			zap.String("call", c.text()), zap.Int32("tid", c.Call.Tid), zap.Int64("val", val))
		s.reply(c, val, nil)
	} else if dev, ino := s.cfg.Control.EffectFile(); ino != 0 {
		if fd, ok := c.installed(dev, ino); ok {
			s.cfg.Log.Info("the previous incarnation died after it installed an fd: sending its number",
				zap.String("call", c.text()), zap.Int32("tid", c.Call.Tid), zap.Int("fd", fd))
			s.reply(c, int64(fd), nil)
		} else {
			s.cfg.Log.Info("the previous incarnation died before it installed an fd: serving the call again",
				zap.String("call", c.text()), zap.Int32("tid", c.Call.Tid))
			s.serve(c)
		}
	} else {
		s.cfg.Log.Warn("the previous incarnation died during this call's side effects: answered EIO, not replayed",
			zap.String("call", c.text()), zap.Int32("tid", c.Call.Tid))
		s.reply(c, 0, unix.EIO)
	}
	s.cfg.Ring.Commit()
}

func (s *Server) reject(frame []byte, err error) {
	s.cfg.Ring.Drop()
	s.cfg.Control.AddError()
	s.cfg.Log.Warn("dropped frame", zap.Error(err), zap.Binary("frame", frame))
}

// Handle serves one call as the loop serves the frame at the ring's tail:
// the handler runs and the answer is sent through the Kernel. It is how
// servertest drives a server.
func (s *Server) Handle(w *wire.Call) {
	c := Call{Call: *w, s: s}
	s.serve(&c)
}

func (s *Server) serve(c *Call) {
	c.decoded, c.nargs = [6]string{}, -1
	s.cfg.Control.AddCall()
	h := s.cfg.Table[int(c.Nr)]
	var val int64
	var err error
	if h == nil {
		err = fmt.Errorf("%s has no handler for %s: %w", s.cfg.Name, abi.SyscallName(int(c.Nr)), unix.ENOSYS)
	} else {
		val, err = s.call(h, c)
	}
	s.reply(c, val, err)
}

// call runs h, turning a panic into EIO.
func (s *Server) call(h Handler, c *Call) (val int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Control.AddError()
			s.cfg.Log.Error("handler panicked", zap.String("call", c.text()), zap.Any("panic", p),
				zap.Int32("tid", c.Call.Tid), zap.Uint64s("args", c.Args[:]), zap.Stack("stack"))
			val, err = 0, fmt.Errorf("handler panic: %v: %w", p, unix.EIO)
		}
	}()
	return h(c)
}

// Errno is the errno err carries, EIO for an error that carries none.
func Errno(err error) unix.Errno {
	e, _ := errnoOf(err)
	return e
}

func errnoOf(err error) (unix.Errno, bool) {
	var e unix.Errno
	if errors.As(err, &e) && e != 0 {
		return e, true
	}
	return unix.EIO, false
}

func (s *Server) reply(c *Call, val int64, err error) {
	resp := abi.SeccompNotifResp{ID: c.ID}
	switch {
	case err == nil:
		resp.Val = val
	case errors.Is(err, ErrContinue):
		resp.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	default:
		e, ok := errnoOf(err)
		if !ok {
			s.cfg.Log.Error("call failed without an errno", zap.String("call", c.text()), zap.Error(err))
		}
		resp.Error = -int32(e)
	}
	// The trace event is made before the answer, while the caller is
	// still stopped in its call: its memory is what the call saw.
	var ev []byte
	if c.Tracing() {
		ev = s.traceEvent(c, val, resp)
	}
	if serr := s.kern.Send(resp); serr != nil && serr != unix.ENOENT {
		s.cfg.Control.AddError()
		s.cfg.Log.Warn("send reply", zap.String("call", c.text()), zap.Error(serr))
	}
	if ev != nil {
		s.cfg.Trace.Push(ev) // lossy: a full trace ring drops the event
	}
}

// traceEvent encodes the trace event of c, answered resp: nil for a call
// of lx's own (Server.launcher).
func (s *Server) traceEvent(c *Call, val int64, resp abi.SeccompNotifResp) []byte {
	gpid, own := s.traced(c.Tid())
	if own {
		return nil
	}
	answered := resp.Flags == 0 && resp.Error == 0
	c.decodeArgs(answered)
	t := wire.Trace{Pid: c.Call.Tid, Nr: c.Nr, Text: c.text(), Ret: val, Errno: -resp.Error,
		Continue: resp.Flags != 0, NS: time.Now().UnixNano() - c.RecvNS, GuestPid: int32(gpid)}
	b, err := s.enc.Trace(&t)
	if err != nil {
		return nil
	}
	return b
}
