package ring

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func newRing(t testing.TB, slots, size int) (*Ring, *Ring) {
	f, err := Create("test", slots, size)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Map(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Map(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); c.Close() })
	return p, c
}

func TestLayout(t *testing.T) {
	for _, off := range []int{offHead, offTail, offSleep, offDropped} {
		if off%64 != 0 {
			t.Errorf("offset %d is not cache-line aligned", off)
		}
	}
	if offSlots%4096 != 0 {
		t.Errorf("slots start at %d, not page aligned", offSlots)
	}
}

func TestCreateRejects(t *testing.T) {
	if _, err := Create("x", 3, 64); err == nil {
		t.Error("3 slots accepted")
	}
	if _, err := Create("x", 4, 10); err == nil {
		t.Error("slot size 10 accepted")
	}
}

func TestFIFOAndFull(t *testing.T) {
	p, c := newRing(t, 4, 64)
	for i := 0; i < 4; i++ {
		if err := p.Push([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Push([]byte{9}); !errors.Is(err, ErrFull) {
		t.Fatalf("push to full ring: %v", err)
	}
	if err := p.Push(make([]byte, 61)); err == nil {
		t.Fatal("oversized frame accepted")
	}
	for i := 0; i < 4; i++ {
		f, ok := c.Peek()
		if !ok || !bytes.Equal(f, []byte{byte(i)}) {
			t.Fatalf("frame %d: %v %v", i, f, ok)
		}
		// Not committed: a restarted consumer sees it again.
		if g, _ := c.Peek(); !bytes.Equal(g, f) {
			t.Fatal("peek is not repeatable")
		}
		c.Commit()
	}
	if _, ok := c.Peek(); ok {
		t.Fatal("empty ring returned a frame")
	}
}

func TestCorruptLength(t *testing.T) {
	p, c := newRing(t, 2, 32)
	p.Push([]byte("ok"))
	putU32(c.slot(0), 0, 1<<30)
	f, ok := c.Peek()
	if !ok || f != nil {
		t.Fatalf("corrupt length: %v %v", f, ok)
	}
	c.Drop()
	if c.Dropped() != 1 {
		t.Fatal("drop not counted")
	}
}

// TestWakeup runs a consumer that sleeps on the futex (no spinning) and
// checks every frame arrives in order.
func TestWakeup(t *testing.T) {
	p, c := newRing(t, 8, 64)
	c.Spin = 0
	const n = 2000
	done := make(chan error)
	go func() {
		for i := 0; i < n; i++ {
			for !c.Wait(time.Second) {
			}
			f, _ := c.Peek()
			if string(f) != fmt.Sprint(i) {
				done <- fmt.Errorf("frame %d is %q", i, f)
				return
			}
			c.Commit()
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		for p.Push([]byte(fmt.Sprint(i))) != nil {
			runtime.Gosched()
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRoundTrip is a request on one ring answered on another, the shape
// of router → server → reply. Spin and sleep variants.
func BenchmarkRoundTrip(b *testing.B) {
	for _, spin := range []time.Duration{0, 20 * time.Microsecond} {
		b.Run(fmt.Sprintf("spin=%v", spin), func(b *testing.B) {
			reqP, reqC := newRing(b, 64, 128)
			repP, repC := newRing(b, 64, 128)
			reqC.Spin, repC.Spin = spin, spin
			exited := make(chan struct{})
			go func() {
				defer close(exited)
				runtime.LockOSThread()
				for {
					for !reqC.Wait(0) {
					}
					f, _ := reqC.Peek()
					if len(f) == 0 {
						return
					}
					repP.Push(f)
					reqC.Commit()
				}
			}()
			msg := make([]byte, 96)
			msg[0] = 1
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				reqP.Push(msg)
				for !repC.Wait(0) {
				}
				repC.Peek()
				repC.Commit()
			}
			b.StopTimer()
			reqP.Push(nil)
			<-exited
		})
	}
}
