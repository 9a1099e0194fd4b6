// Package control is the control page: one page of shared memory between
// the broker and one component (a server or the router) of an instance,
// holding the switches the broker writes and the counters, heartbeat and
// recovery marks the component writes (DESIGN §5, §7). The broker creates it
// and keeps it, so what is in it survives a restart of the component.
//
// Runs in: the broker and every component. Owns: the page layout. Waits
// on: nobody.
package control

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
)

// Control is the page the broker shares with one server or the router:
// switches the broker writes and counters the component writes.
type Control struct {
	mem []byte
}

const (
	ctlTrace     = 0    // u32, broker: 1 = stream trace events
	ctlCalls     = 64   // u64, component: calls served
	ctlErrors    = 128  // u64, component: frames dropped, handler panics, failed replies
	ctlHeartbeat = 192  // u64, component: bumped by the loop at least every heartbeat period
	ctlPid       = 256  // u32, component: host pid of the current incarnation
	ctlEffect    = 320  // u64, server: 1 + ring index of the frame whose handler began a side effect
	ctlExit      = 384  // u32, broker: 1 = exit at the next frame boundary (a requested restart)
	ctlAnswer    = 448  // u64 1 + ring index, then i64 value: the answer of a call whose side effects are done
	ctlInflight  = 512  // router only: the notification being routed (see router.go)
	ctlBegun     = 960  // u64 1 + ring index, then u64 count: the frame being served, and how many incarnations began it
	ctlHolder    = 1024 // u32, broker: pid in the instance of the holder of the guests' namespaces, once init made it
	ctlSize      = 4096
)

// HeartbeatPeriod bounds how long a healthy component goes without a beat.
const HeartbeatPeriod = 200 * time.Millisecond

// Create makes a control memfd.
func Create(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate("lx-ctl-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for control %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "ctl-"+name)
	if err := f.Truncate(ctlSize); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Map maps a control memfd.
func Map(fd int) (*Control, error) {
	mem, err := unix.Mmap(fd, 0, ctlSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map control fd %d: %w", fd, err)
	}
	return &Control{mem: mem}, nil
}

func (c *Control) u64(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&c.mem[off])) }
func (c *Control) u32(off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&c.mem[off])) }

// Tracing reports whether the broker switched tracing on: one atomic load.
func (c *Control) Tracing() bool { return c.u32(ctlTrace).Load() != 0 }

// SetTracing switches tracing (broker side).
func (c *Control) SetTracing(on bool) {
	var v uint32
	if on {
		v = 1
	}
	c.u32(ctlTrace).Store(v)
}

func (c *Control) Calls() uint64     { return c.u64(ctlCalls).Load() }
func (c *Control) Errors() uint64    { return c.u64(ctlErrors).Load() }
func (c *Control) Heartbeat() uint64 { return c.u64(ctlHeartbeat).Load() }
func (c *Control) Pid() int          { return int(c.u32(ctlPid).Load()) }

func (c *Control) AddCall()     { c.u64(ctlCalls).Add(1) }
func (c *Control) AddError()    { c.u64(ctlErrors).Add(1) }
func (c *Control) Beat()        { c.u64(ctlHeartbeat).Add(1) }
func (c *Control) SetPid(p int) { c.u32(ctlPid).Store(uint32(p)) }

// SetHolder records the holder's pid in the instance (broker side): init's
// word, never a guest's. Holder is 0 until then.
func (c *Control) SetHolder(pid int) { c.u32(ctlHolder).Store(uint32(pid)) }
func (c *Control) Holder() int       { return int(c.u32(ctlHolder).Load()) }

// RequestExit asks the component to exit between two calls (broker side);
// ClearExit withdraws the request before the next incarnation starts.
func (c *Control) RequestExit()        { c.u32(ctlExit).Store(1) }
func (c *Control) ClearExit()          { c.u32(ctlExit).Store(0) }
func (c *Control) ExitRequested() bool { return c.u32(ctlExit).Load() != 0 }

// Effect notes that the handler of the frame at ring index i began a side
// effect; EffectAt reports whether the note is for that frame.
// A side effect that is the install of a file into the guest also notes
// the file's device and inode, so the next incarnation can look for it.
func (c *Control) Effect(i uint64, dev, ino uint64) {
	c.u64(ctlEffect + 8).Store(dev)
	c.u64(ctlEffect + 16).Store(ino)
	c.u64(ctlEffect).Store(i + 1)
}

func (c *Control) EffectAt(i uint64) bool { return c.u64(ctlEffect).Load() == i+1 }

func (c *Control) EffectFile() (dev, ino uint64) {
	return c.u64(ctlEffect + 8).Load(), c.u64(ctlEffect + 16).Load()
}

// Answer records that the call at ring index i is done and its value is
// val; AnswerAt returns the value recorded for index i.
func (c *Control) Answer(i uint64, val int64) {
	c.u64(ctlAnswer + 8).Store(uint64(val))
	c.u64(ctlAnswer).Store(i + 1)
}

func (c *Control) AnswerAt(i uint64) (int64, bool) {
	if c.u64(ctlAnswer).Load() != i+1 {
		return 0, false
	}
	return int64(c.u64(ctlAnswer + 8).Load()), true
}

// Begin notes that an incarnation begins serving the frame at ring index
// i and returns how many have begun it, this one included: more than one
// means earlier ones died during it.
func (c *Control) Begin(i uint64) uint64 {
	if c.u64(ctlBegun).Load() == i+1 {
		return c.u64(ctlBegun + 8).Add(1)
	}
	c.u64(ctlBegun + 8).Store(1)
	c.u64(ctlBegun).Store(i + 1)
	return 1
}

// InflightRecord is the router's note of the notification it is routing.
// NOTIF_RECV writes Notif straight into this shared page, so a router
// killed at any instant after the kernel handed it a notification leaves
// the notification here; Heads, taken before the receive, tell whether it
// was pushed (DESIGN §7).
type InflightRecord struct {
	Heads [8]uint64 // each ring's head before the receive, by routes.Kind
	Notif abi.SeccompNotif
}

// SetInflight flags (1) or clears (0) the notification in the record as
// being routed; InflightFlagged reads the flag.
func (c *Control) SetInflight(v uint32) { c.u32(ctlInflight).Store(v) }

func (c *Control) InflightFlagged() bool { return c.u32(ctlInflight).Load() != 0 }

func (c *Control) Inflight() *InflightRecord {
	return (*InflightRecord)(unsafe.Pointer(&c.mem[ctlInflight+8]))
}
