// Package ring is lx's single-producer single-consumer queue over a memfd.
//
// One process maps the ring as producer, one as consumer (DESIGN §5). The
// broker creates every ring and keeps a reference, so a restarted consumer
// maps the same memfd and finds the frames that were waiting, including the
// one it had taken but not committed.
//
// Layout (all little endian, each single-writer word on its own cache line):
//
//	0    header: magic, version, slot count, slot size
//	64   head      (written by the producer only)
//	128  tail      (written by the consumer only)
//	192  sleeping  (futex word: the consumer sets it before it sleeps)
//	256  dropped   (frames the consumer rejected; consumer only)
//	4096 slots: each a little-endian uint32 length, then the frame bytes
//
// Waking costs a syscall only when the consumer said it sleeps: the producer
// publishes head and then clears sleeping (waking only if it was set); the
// consumer publishes sleeping and then re-reads head. Go's atomics are
// sequentially consistent, so one of the two always sees the other.
//
// Runs in: the broker (which makes the rings), the router (producer of
// the servers' rings) and the servers (their consumers, and producers of
// the trace rings the broker consumes). Owns: the layout. Waits on: the
// other side, on the futex word only.
package ring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	magic      = 0x6c78726e // "lxrn"
	version    = 1
	offHead    = 64
	offTail    = 128
	offSleep   = 192
	offDropped = 256
	offSlots   = 4096
	lenPrefix  = 4
)

// ErrFull is returned by Push when every slot holds an unconsumed frame.
var ErrFull = errors.New("ring full")

// Ring is one mapping of a ring memfd.
type Ring struct {
	mem      []byte
	slots    uint64
	slotSize uint64
	head     *atomic.Uint64
	tail     *atomic.Uint64
	sleeping *atomic.Uint32
	dropped  *atomic.Uint64
	// Spin is how long Wait polls before it sleeps on the futex.
	Spin time.Duration
	// Yield makes each poll of Wait a sched_yield, so that a task woken on
	// this CPU (the guest a server has just answered) runs at once.
	Yield bool
}

// Create makes a ring memfd with slots (a power of two) slots of slotSize
// bytes each (frame plus its 4-byte length).
func Create(name string, slots, slotSize int) (*os.File, error) {
	if slots <= 0 || slots&(slots-1) != 0 {
		return nil, fmt.Errorf("ring %s: slot count %d is not a power of two", name, slots)
	}
	if slotSize < 16 || slotSize%8 != 0 {
		return nil, fmt.Errorf("ring %s: slot size %d must be a multiple of 8, at least 16", name, slotSize)
	}
	fd, err := unix.MemfdCreate("lx-ring-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd for ring %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "ring-"+name)
	size := offSlots + slots*slotSize
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("size ring %s: %w", name, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("map ring %s: %w", name, err)
	}
	putU32(mem, 4, version)
	putU32(mem, 8, uint32(slots))
	putU32(mem, 12, uint32(slotSize))
	atomicU32(mem, 0).Store(magic)
	unix.Munmap(mem)
	return f, nil
}

// Map maps the ring in fd. The fd may be closed afterwards.
func Map(fd int) (*Ring, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("ring fd %d: %w", fd, err)
	}
	if st.Size < offSlots {
		return nil, fmt.Errorf("ring fd %d: %d bytes is too small", fd, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring fd %d: %w", fd, err)
	}
	if atomicU32(mem, 0).Load() != magic || getU32(mem, 4) != version {
		unix.Munmap(mem)
		return nil, fmt.Errorf("ring fd %d: bad magic or version", fd)
	}
	slots, slotSize := uint64(getU32(mem, 8)), uint64(getU32(mem, 12))
	if slots == 0 || slots&(slots-1) != 0 || offSlots+slots*slotSize != uint64(st.Size) {
		unix.Munmap(mem)
		return nil, fmt.Errorf("ring fd %d: inconsistent header", fd)
	}
	return &Ring{
		mem:      mem,
		slots:    slots,
		slotSize: slotSize,
		head:     atomicU64(mem, offHead),
		tail:     atomicU64(mem, offTail),
		sleeping: atomicU32(mem, offSleep),
		dropped:  atomicU64(mem, offDropped),
		Spin:     20 * time.Microsecond,
	}, nil
}

// Close unmaps the ring.
func (r *Ring) Close() error { return unix.Munmap(r.mem) }

// MaxFrame is the largest frame Push accepts.
func (r *Ring) MaxFrame() int { return int(r.slotSize) - lenPrefix }

func (r *Ring) slot(i uint64) []byte {
	off := offSlots + (i&(r.slots-1))*r.slotSize
	return r.mem[off : off+r.slotSize]
}

// Push copies frame into the next slot and wakes a sleeping consumer.
// Producer side only.
func (r *Ring) Push(frame []byte) error {
	if len(frame) > r.MaxFrame() {
		return fmt.Errorf("frame of %d bytes exceeds slot of %d", len(frame), r.MaxFrame())
	}
	h := r.head.Load()
	if h-r.tail.Load() >= r.slots {
		return ErrFull
	}
	s := r.slot(h)
	putU32(s, 0, uint32(len(frame)))
	copy(s[lenPrefix:], frame)
	r.head.Store(h + 1)
	// Clearing the word before the wake makes a wake that lands before the
	// consumer enters FUTEX_WAIT still count: its wait then sees 0, not 1.
	if r.sleeping.Load() != 0 && r.sleeping.CompareAndSwap(1, 0) {
		futexWake(r.sleeping)
	}
	return nil
}

// Peek returns the oldest unconsumed frame without consuming it. The bytes
// stay valid until Commit. A length that does not fit the slot is reported
// as a frame of nil bytes with ok true, so the caller drops it.
// Consumer side only.
func (r *Ring) Peek() (frame []byte, ok bool) {
	t := r.tail.Load()
	if t == r.head.Load() {
		return nil, false
	}
	s := r.slot(t)
	n := uint64(getU32(s, 0))
	if n > r.slotSize-lenPrefix {
		return nil, true
	}
	return s[lenPrefix : lenPrefix+n], true
}

// Commit consumes the frame Peek returned. Consumer side only.
func (r *Ring) Commit() { r.tail.Add(1) }

// Drop consumes a frame that did not decode and counts it.
func (r *Ring) Drop() {
	r.dropped.Add(1)
	r.Commit()
}

// Dropped is the number of frames dropped by consumers of this ring.
func (r *Ring) Dropped() uint64 { return r.dropped.Load() }

// Head is the number of frames ever pushed: the producer's index.
func (r *Ring) Head() uint64 { return r.head.Load() }

// Tail is the index of the oldest frame not yet committed: the consumer's
// index.
func (r *Ring) Tail() uint64 { return r.tail.Load() }

// Pending is the number of frames not yet committed.
func (r *Ring) Pending() uint64 { return r.head.Load() - r.tail.Load() }

// Wait blocks until a frame is available or timeout passes (0: forever).
// It polls for r.Spin first, then sleeps on the futex. Consumer side only.
func (r *Ring) Wait(timeout time.Duration) bool {
	if r.tail.Load() != r.head.Load() {
		return true
	}
	if r.Spin > 0 {
		deadline := time.Now().Add(r.Spin)
		for i := 0; ; i++ {
			if r.tail.Load() != r.head.Load() {
				return true
			}
			if r.Yield {
				schedYield()
				if time.Now().After(deadline) {
					break
				}
			} else if i&63 == 63 && time.Now().After(deadline) {
				break
			}
		}
	}
	r.sleeping.Store(1)
	defer r.sleeping.Store(0)
	if r.tail.Load() != r.head.Load() {
		return true
	}
	futexWait(r.sleeping, 1, timeout)
	return r.tail.Load() != r.head.Load()
}
