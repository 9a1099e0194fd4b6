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
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/seccomp"
	"lx/shared/wire"
)

// RouterConfig is what the router process is started with.
type RouterConfig struct {
	Listener int
	Rings    map[routes.Kind]*ring.Ring // one per server kind
	Control  *Control
	Log      *zap.Logger
	// Spin is how long the router polls the listener, yielding, before it
	// blocks in NOTIF_RECV.
	Spin time.Duration
}

// Route receives every notification of the instance and writes it as a frame
// to the ring of the server that owns the call (DESIGN §2). Numbers no
// syscall has are answered ENOSYS here, with one log line per number.
func Route(cfg RouterConfig) error {
	runtime.LockOSThread()
	cfg.Control.setPid(os.Getpid())
	if err := seccomp.SetSyncWakeup(cfg.Listener); err != nil {
		cfg.Log.Warn("no synchronous wake-up on the listener", zap.Error(err))
	}
	enc := wire.NewEncoder()
	logged := map[int32]bool{}
	if err := recoverInflight(cfg, enc); err != nil {
		cfg.Log.Error("recover the notification in flight", zap.Error(err))
	}
	var n abi.SeccompNotif
	pfd := []unix.PollFd{{Fd: int32(cfg.Listener), Events: unix.POLLIN}}
	for {
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
		// A pending notification says the instance is alive; otherwise
		// check before blocking, since NOTIF_RECV would wait forever on a
		// listener nobody uses any more.
		if !ready && InstanceGone(cfg.Listener) {
			cfg.Log.Info("no task uses the filter any more: the instance is gone")
			return nil
		}
		if err := seccomp.Recv(cfg.Listener, &n); err != nil {
			if err == unix.EINTR || err == unix.ENOENT {
				continue
			}
			return err
		}
		cfg.Control.addCall()
		r := routes.Lookup(int(n.Data.Nr))
		rg := cfg.Rings[r.Kind]
		if n.Data.Arch != unix.AUDIT_ARCH_X86_64 || rg == nil {
			if !logged[n.Data.Nr] {
				logged[n.Data.Nr] = true
				cfg.Log.Warn("unknown syscall answered ENOSYS", zap.Int32("nr", n.Data.Nr),
					zap.String("route", r.Kind.String()), zap.Uint32("pid", n.Pid))
			}
			seccomp.Send(cfg.Listener, &abi.SeccompNotifResp{ID: n.ID, Error: -int32(unix.ENOSYS)})
			continue
		}
		inflight := cfg.Control.inflight()
		inflight.Notif, inflight.Kind, inflight.HeadBefore = n, uint32(r.Kind), rg.Head()
		cfg.Control.u32(ctlInflight).Store(1)
		route(cfg, enc, rg, &n)
		cfg.Control.u32(ctlInflight).Store(0)
	}
}

// InstanceGone reports whether the listener hung up: every task that used
// the instance's filter has exited, so no call can come any more.
func InstanceGone(listener int) bool {
	pfd := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	k, _ := unix.Poll(pfd, 0)
	return k > 0 && pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
}

// route writes notification n as a frame to ring rg.
func route(cfg RouterConfig, enc *wire.Encoder, rg *ring.Ring, n *abi.SeccompNotif) {
	c := wire.Call{ID: n.ID, Pid: int32(n.Pid), Nr: n.Data.Nr, Arch: n.Data.Arch, IP: n.Data.IP,
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

// recoverInflight finishes the work of a router that died between receiving
// a notification and routing it: the kernel will not deliver it again, and
// its caller would wait forever. The router is the only producer of its
// rings, so a head that has not moved since the record says the frame was
// never pushed.
func recoverInflight(cfg RouterConfig, enc *wire.Encoder) error {
	if cfg.Control.u32(ctlInflight).Load() == 0 {
		return nil
	}
	defer cfg.Control.u32(ctlInflight).Store(0)
	in := cfg.Control.inflight()
	rg := cfg.Rings[routes.Kind(in.Kind)]
	if rg == nil {
		return fmt.Errorf("in-flight record names no ring (kind %d)", in.Kind)
	}
	if rg.Head() != in.HeadBefore {
		return nil // pushed: its server answers it
	}
	if seccomp.IDValid(cfg.Listener, in.Notif.ID) != nil {
		return nil // the caller is gone or was interrupted
	}
	cfg.Log.Info("routing the notification the previous router left", zap.Uint64("id", in.Notif.ID), zap.Int32("nr", in.Notif.Data.Nr))
	route(cfg, enc, rg, &in.Notif)
	return nil
}
