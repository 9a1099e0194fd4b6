package wire

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func sampleCall() Call {
	return Call{ID: 0x1122334455667788, Tid: 4242, Nr: 257, Arch: 0xc000003e, IP: 0x7f0000001000,
		Args: [6]uint64{0xffffff9c, 0x7ffd0000, 0x80000, 0, 0, 0}, RecvNS: 123456789}
}

func sampleTrace() Trace {
	return Trace{Pid: 7, Nr: 4, Text: `stat("/etc/passwd", 0x7ffd0000)`, Ret: 0, NS: 5200, GuestPid: 3}
}

// TestTraceOldFrame: a frame of a server from before GuestPid (the golden
// bytes of then) still decodes, with GuestPid 0, and prints the host tid.
func TestTraceOldFrame(t *testing.T) {
	b, err := os.ReadFile("testdata/trace-old.golden")
	if err != nil {
		t.Fatal(err)
	}
	var tr Trace
	if err := NewDecoder().Trace(b, &tr); err != nil {
		t.Fatal(err)
	}
	want := sampleTrace()
	want.GuestPid = 0
	if tr != want {
		t.Fatalf("old frame: %+v, want %+v", tr, want)
	}
	if got := tr.Format(""); got != `[pid 7] stat("/etc/passwd", 0x7ffd0000) = 0 <5.2µs>` {
		t.Fatalf("format: %q", got)
	}
}

func TestTraceFormat(t *testing.T) {
	tr := sampleTrace()
	if got := tr.Format(""); got != `[pid 3] stat("/etc/passwd", 0x7ffd0000) = 0 <5.2µs>` {
		t.Errorf("format: %q", got)
	}
	tr.Errno = 2
	if got := tr.Format("fssrv"); got != `fssrv [pid 3] stat("/etc/passwd", 0x7ffd0000) = -1 ENOENT (no such file or directory) <5.2µs>` {
		t.Errorf("format: %q", got)
	}
}

func TestCallRoundTrip(t *testing.T) {
	in := sampleCall()
	b, err := NewEncoder().Call(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out Call
	if err := NewDecoder().Call(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
	golden(t, "call.golden", b)
}

func TestTraceRoundTrip(t *testing.T) {
	in := sampleTrace()
	b, err := NewEncoder().Trace(&in)
	if err != nil {
		t.Fatal(err)
	}
	var out Trace
	if err := NewDecoder().Trace(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
	golden(t, "trace.golden", b)
}

func golden(t *testing.T, name string, b []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("%s changed: got %x want %x", name, b, want)
	}
}

func TestRejects(t *testing.T) {
	good := sampleCall()
	b, _ := NewEncoder().Call(&good)
	b = append([]byte(nil), b...)
	tr := sampleTrace()
	tb, _ := NewEncoder().Trace(&tr)
	bad := func(mut func(c *Call)) []byte {
		c := sampleCall()
		mut(&c)
		out, _ := NewEncoder().Call(&c)
		return append([]byte(nil), out...)
	}
	cases := map[string][]byte{
		"empty":         nil,
		"one byte":      {Version},
		"version":       append([]byte{9}, b[1:]...),
		"kind":          append([]byte(nil), tb...),
		"truncated":     b[:len(b)-3],
		"trailing":      append(append([]byte(nil), b...), 0xc0),
		"garbage":       {Version, byte(KindCall), 0xc1, 0xff, 0x00},
		"id 0":          bad(func(c *Call) { c.ID = 0 }),
		"negative tid":  bad(func(c *Call) { c.Tid = -1 }),
		"nr too big":    bad(func(c *Call) { c.Nr = MaxNr }),
		"negative nr":   bad(func(c *Call) { c.Nr = -5 }),
		"map not array": append([]byte{Version, byte(KindCall)}, 0x80),
	}
	d := NewDecoder()
	for name, frame := range cases {
		var c Call
		if err := d.Call(frame, &c); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: decoded without ErrBadFrame: %v %+v", name, err, c)
		}
	}
}

func FuzzDecodeCall(f *testing.F) {
	c := sampleCall()
	b, _ := NewEncoder().Call(&c)
	f.Add(append([]byte(nil), b...))
	f.Add([]byte{Version, byte(KindCall)})
	f.Add([]byte{Version, byte(KindCall), 0xdc, 0xff, 0xff})
	d := NewDecoder()
	e := NewEncoder()
	f.Fuzz(func(t *testing.T, frame []byte) {
		var c Call
		if err := d.Call(frame, &c); err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error not ErrBadFrame: %v", err)
			}
			return
		}
		// Whatever decodes must be valid and re-encode to a frame that
		// decodes to the same call.
		if c.ID == 0 || c.Tid <= 0 || c.Nr < 0 || c.Nr >= MaxNr {
			t.Fatalf("invalid call accepted: %+v", c)
		}
		again, err := e.Call(&c)
		if err != nil {
			t.Fatal(err)
		}
		var c2 Call
		if err := NewDecoder().Call(again, &c2); err != nil || c2 != c {
			t.Fatalf("re-encode: %v %+v %+v", err, c2, c)
		}
	})
}

func FuzzDecodeTrace(f *testing.F) {
	tr := sampleTrace()
	b, _ := NewEncoder().Trace(&tr)
	f.Add(append([]byte(nil), b...))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, frame []byte) {
		var tr Trace
		if err := d.Trace(frame, &tr); err != nil && !errors.Is(err, ErrBadFrame) {
			t.Fatalf("error not ErrBadFrame: %v", err)
		}
	})
}

func BenchmarkCallEncodeDecode(b *testing.B) {
	e, d := NewEncoder(), NewDecoder()
	c := sampleCall()
	var out Call
	for i := 0; i < b.N; i++ {
		f, _ := e.Call(&c)
		if err := d.Call(f, &out); err != nil {
			b.Fatal(err)
		}
	}
}
