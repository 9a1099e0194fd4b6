// Package router is the instance's router (DESIGN §2): it receives every
// notification of the instance's seccomp listener and writes it as a frame
// to the ring of the server that owns the call, answering itself the calls
// no server serves (unknown numbers: ENOSYS) and, in a --trap-paths
// instance, the path calls fssrv would only continue while nobody traces
// it.
//
// Runs in: the router process of each instance. Owns: the notification it
// is routing, recorded in its control page so
// that the next router finishes it (recoverInflight). Waits on: the
// listener, and a full ring's server.
package router

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
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/seccomp"
	"lx/shared/wire"
)

// Config is what the router process is started with.
type Config struct {
	Listener int
	Rings    map[routes.Kind]*ring.Ring // one per server kind
	Control  *control.Control
	// Servers are the servers' control pages, by kind.
	Servers map[routes.Kind]*control.Control
	// Pass are the calls the instance's profile sends to a server that
	// only answers them CONTINUE unseen (routes.Profile.PassCalls): the
	// router answers them itself while their server is not tracing, one
	// hand-off saved (and they go on while the server restarts).
	Pass map[int32]bool
	Log  *zap.Logger
	// Spin is how long the router polls the listener, yielding, before it
	// sleeps in poll (control.HeartbeatPeriod at a time).
	Spin time.Duration
}

// Route receives every notification of the instance and writes it as a frame
// to the ring of the server that owns the call (DESIGN §2). Numbers no
// syscall has are answered ENOSYS here, with one log line per number.
func Route(cfg Config) error {
	runtime.LockOSThread()
	cfg.Control.SetPid(os.Getpid())
	if err := seccomp.SetSyncWakeup(cfg.Listener); err != nil {
		cfg.Log.Warn("no synchronous wake-up on the listener", zap.Error(err))
	}
	enc := wire.NewEncoder()
	if err := recoverInflight(cfg, enc); err != nil {
		cfg.Log.Error("recover the notification in flight", zap.Error(err))
	}
	var n abi.SeccompNotif
	rec := cfg.Control.Inflight()
	var kinds []routes.Kind
	for k := range cfg.Rings {
		if int(k) >= len(rec.Heads) {
			return fmt.Errorf("ring kind %d out of range", k)
		}
		kinds = append(kinds, k)
	}
	pfd := []unix.PollFd{{Fd: int32(cfg.Listener), Events: unix.POLLIN}}
	for {
		if cfg.Control.ExitRequested() {
			cfg.Log.Info("exiting on request")
			return nil
		}
		ready := false
		if cfg.Spin > 0 {
			deadline := time.Now().Add(cfg.Spin)
			for {
				if k, _ := unix.Poll(pfd, 0); k > 0 || time.Now().After(deadline) {
					ready = k > 0 && pfd[0].Revents == unix.POLLIN
					break
				}
				unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
		}
		// Wait in poll rather than in NOTIF_RECV: the router beats every
		// control.HeartbeatPeriod while idle, so the broker can tell idle from
		// hung, and a listener nobody uses any more hangs up (NOTIF_RECV
		// would wait forever). The synchronous wake-up applies to poll.
		for !ready {
			cfg.Control.Beat()
			pfd[0].Revents = 0
			k, err := unix.Poll(pfd, int(control.HeartbeatPeriod/time.Millisecond))
			if err != nil && err != unix.EINTR {
				return fmt.Errorf("poll the listener: %w", err)
			}
			if k > 0 && pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
				cfg.Log.Info("no task uses the filter any more: the instance is gone")
				return nil
			}
			ready = k > 0
			if !ready && cfg.Control.ExitRequested() {
				cfg.Log.Info("exiting on request")
				return nil
			}
		}
		cfg.Control.Beat()
		// Receive into the control page, flagged first: from the moment
		// the kernel hands the notification over, the next router can
		// find it (recoverInflight).
		rec.Notif = abi.SeccompNotif{}
		for _, k := range kinds {
			rec.Heads[k] = cfg.Rings[k].Head()
		}
		cfg.Control.SetInflight(1)
		err := seccomp.Recv(cfg.Listener, &rec.Notif)
		if err != nil {
			cfg.Control.SetInflight(0)
			if err == unix.EINTR || err == unix.ENOENT {
				continue
			}
			return err
		}
		cfg.Control.AddCall()
		n = rec.Notif
		dispatch(cfg, enc, &n)
		cfg.Control.SetInflight(0)
	}
}

// dispatch routes notification n to the ring of its server, or answers
// ENOSYS for a number no syscall has (logged, as the logger's rate allows:
// a guest may try every number).
func dispatch(cfg Config, enc *wire.Encoder, n *abi.SeccompNotif) {
	r := routes.Lookup(int(n.Data.Nr))
	rg := cfg.Rings[r.Kind]
	if n.Data.Arch != unix.AUDIT_ARCH_X86_64 || rg == nil {
		cfg.Log.Warn("unknown syscall answered ENOSYS", zap.Int32("nr", n.Data.Nr),
			zap.String("route", r.Kind.String()), zap.Uint32("pid", n.Pid))
		seccomp.Send(cfg.Listener, &abi.SeccompNotifResp{ID: n.ID, Error: -int32(unix.ENOSYS)})
		return
	}
	if sc := cfg.Servers[r.Kind]; sc != nil && cfg.Pass[n.Data.Nr] && !sc.Tracing() {
		seccomp.Send(cfg.Listener, &abi.SeccompNotifResp{ID: n.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE})
		return
	}
	route(cfg, enc, rg, n)
}

// route writes notification n as a frame to ring rg.
func route(cfg Config, enc *wire.Encoder, rg *ring.Ring, n *abi.SeccompNotif) {
	c := wire.Call{ID: n.ID, Tid: int32(n.Pid), Nr: n.Data.Nr, Arch: n.Data.Arch, IP: n.Data.IP,
		Args: n.Data.Args, RecvNS: time.Now().UnixNano()}
	frame, err := enc.Call(&c)
	if err != nil {
		cfg.Log.Error("encode call", zap.Error(err))
		seccomp.Send(cfg.Listener, &abi.SeccompNotifResp{ID: n.ID, Error: -int32(unix.EIO)})
		return
	}
	// A full ring means its server is slow or being restarted: the guest
	// waits, as it would for a busy kernel.
	for wait := time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		cfg.Control.Beat()
		err := rg.Push(frame)
		if err == nil {
			return
		}
		if !errors.Is(err, ring.ErrFull) {
			cfg.Log.Error("push", zap.Error(err))
			return
		}
		time.Sleep(wait)
	}
}

// recoverInflight finishes the work of a router that died between
// receiving a notification and routing it: the kernel will not deliver it
// again, and its caller would wait forever. The router is the only
// producer of its rings, so a ring head that has not moved since the
// receive says the frame was never pushed.
func recoverInflight(cfg Config, enc *wire.Encoder) error {
	if !cfg.Control.InflightFlagged() {
		return nil
	}
	defer cfg.Control.SetInflight(0)
	in := cfg.Control.Inflight()
	if in.Notif.ID == 0 && in.Notif.Pid == 0 {
		return nil // it died waiting: nothing was received
	}
	k := routes.Lookup(int(in.Notif.Data.Nr)).Kind
	if rg := cfg.Rings[k]; rg != nil && int(k) < len(in.Heads) && rg.Head() != in.Heads[k] {
		return nil // pushed: its server answers it
	}
	if seccomp.IDValid(cfg.Listener, in.Notif.ID) != nil {
		return nil // answered already, or the caller is gone or was interrupted
	}
	cfg.Log.Info("routing the notification the previous router left", zap.Uint64("id", in.Notif.ID), zap.Int32("nr", in.Notif.Data.Nr))
	n := in.Notif
	dispatch(cfg, enc, &n)
	return nil
}
