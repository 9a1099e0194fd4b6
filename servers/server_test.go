package servers

import (
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/shared/control"
	"lx/shared/ring"
	"lx/shared/wire"
)

// TestServerSurvivesBadInput feeds a server garbage frames and a call whose
// handler panics: every one is dropped or answered (here the reply fails,
// there being no listener), counted, and the loop goes on to the next.
func TestServerSurvivesBadInput(t *testing.T) {
	prod, cons, ctl := serverRig(t)
	served := make(chan int32, 4)
	table := Table{
		1: func(c *Call) (int64, error) { panic("boom") },
		2: func(c *Call) (int64, error) { served <- c.Nr; return 0, nil },
	}
	s, err := New(Config{Name: "t", Table: table, Listener: -1, Ring: cons, Control: ctl, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error)
	go func() { done <- s.Serve(stop) }()
	enc := wire.NewEncoder()
	push := func(b []byte) {
		if err := prod.Push(append([]byte(nil), b...)); err != nil {
			t.Fatal(err)
		}
	}
	push([]byte{0xff, 0x00, 0x13})
	push([]byte{wire.Version, byte(wire.KindCall), 0xc1})
	b, _ := enc.Call(&wire.Call{ID: 1, Tid: 1, Nr: 1})
	push(b)
	b, _ = enc.Call(&wire.Call{ID: 2, Tid: 1, Nr: 2})
	push(b)
	select {
	case nr := <-served:
		if nr != 2 {
			t.Fatalf("served %d", nr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call after the bad frames was never served")
	}
	if prod.Dropped() != 2 {
		t.Errorf("dropped %d frames, want 2", prod.Dropped())
	}
	close(stop)
	<-done // within one heartbeat period
	if ctl.Calls() != 2 || ctl.Errors() < 3 {
		t.Errorf("calls %d errors %d: want 2 calls, errors for 2 drops and the panic", ctl.Calls(), ctl.Errors())
	}
}

func TestErrno(t *testing.T) {
	if e := Errno(errors.Join(errors.New("x"), unix.ENOENT)); e != unix.ENOENT {
		t.Errorf("wrapped ENOENT → %v", e)
	}
	if e := Errno(errors.New("plain")); e != unix.EIO {
		t.Errorf("plain error → %v", e)
	}
}

// TestInterruptedCallNotReplayed: a frame whose handler had begun a side
// effect when its server died is answered, not run again; a frame without
// that mark is run again.
func TestInterruptedCallNotReplayed(t *testing.T) {
	prod, cons, ctl := serverRig(t)
	ran := make(chan uint64, 4)
	table := Table{2: func(c *Call) (int64, error) { ran <- c.ID; return 0, nil }}
	enc := wire.NewEncoder()
	serveOnce := func() { serveUntilTaken(t, table, cons, ctl)() }
	push := func(id uint64) {
		b, _ := enc.Call(&wire.Call{ID: id, Tid: int32(os.Getpid()), Nr: 2})
		prod.Push(append([]byte(nil), b...))
	}
	push(7)
	ctl.Effect(cons.Tail(), 0, 0) // died during the side effect: EIO, not run
	serveOnce()
	push(8)
	ctl.Effect(cons.Tail(), 0, 0)
	ctl.Answer(cons.Tail(), 5) // died after it: the answer is sent, not run
	serveOnce()
	push(9) // no mark: run again
	serveOnce()
	// An fd install: the caller (this process) holds the file, so the
	// install happened and its fd is the answer; a file it does not hold
	// was not installed, and the call runs again.
	f, err := os.CreateTemp(t.TempDir(), "installed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	push(10)
	ctl.Effect(cons.Tail(), st.Dev, st.Ino)
	serveOnce()
	push(11)
	ctl.Effect(cons.Tail(), st.Dev, st.Ino+1<<40)
	serveOnce()
	close(ran)
	var got []uint64
	for id := range ran {
		got = append(got, id)
	}
	if len(got) != 2 || got[0] != 9 || got[1] != 11 {
		t.Fatalf("handlers run for ids %v, want 9 and 11", got)
	}
	if ctl.Errors() != 5 { // five replies, none deliverable without a listener
		t.Errorf("errors %d, want 5 failed replies", ctl.Errors())
	}
}

// TestPoisonCallNotReplayedForever: a call that every incarnation died
// serving is answered EIO by the next one instead of served again.
func TestPoisonCallNotReplayedForever(t *testing.T) {
	prod, cons, ctl := serverRig(t)
	ran := 0
	table := Table{2: func(c *Call) (int64, error) { ran++; return 0, nil }}
	enc := wire.NewEncoder()
	b, _ := enc.Call(&wire.Call{ID: 1, Tid: int32(os.Getpid()), Nr: 2})
	prod.Push(append([]byte(nil), b...))
	for i := 0; i < MaxBegins; i++ {
		ctl.Begin(cons.Tail()) // an incarnation began it and died
	}
	serveUntilTaken(t, table, cons, ctl)()
	// One died during it: the next one serves it.
	b, _ = enc.Call(&wire.Call{ID: 2, Tid: int32(os.Getpid()), Nr: 2})
	ctl.Begin(cons.Tail())
	prod.Push(append([]byte(nil), b...))
	serveUntilTaken(t, table, cons, ctl)()
	if ran != 1 {
		t.Errorf("handler ran %d times, want once (for the second call only)", ran)
	}
	if ctl.Errors() != 3 { // the poison call, and two replies without a listener
		t.Errorf("errors %d, want 3", ctl.Errors())
	}
}

// serveUntilTaken starts a server of table on cons and ctl, waits until
// it has taken every pending frame, and returns its stop, which waits for
// it to end.
func serveUntilTaken(t *testing.T, table Table, cons *ring.Ring, ctl *control.Control) (stop func()) {
	t.Helper()
	s, _ := New(Config{Name: "t", Table: table, Listener: -1, Ring: cons, Control: ctl, Log: zap.NewNop()})
	quit := make(chan struct{})
	done := make(chan error)
	go func() { done <- s.Serve(quit) }()
	for i := 0; cons.Pending() > 0; i++ {
		if i == 1000 {
			t.Fatal("the pending frame was never taken")
		}
		time.Sleep(time.Millisecond)
	}
	return func() { close(quit); <-done }
}

// serverRig makes a ring of 16 slots, mapped once as the router's end and
// once as the server's, and a control page.
func serverRig(t *testing.T) (prod, cons *ring.Ring, ctl *control.Control) {
	t.Helper()
	rf, err := ring.Create("t", 16, 128)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close() })
	prod, _ = ring.Map(int(rf.Fd()))
	cons, _ = ring.Map(int(rf.Fd()))
	cf, err := control.Create("t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cf.Close() })
	ctl, _ = control.Map(int(cf.Fd()))
	return prod, cons, ctl
}
