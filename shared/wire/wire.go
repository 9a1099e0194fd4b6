// Package wire defines the frames that travel in lx's rings (DESIGN §5).
//
// A frame is one version byte followed by one msgpack array. Each message
// type has its own kind byte after the version, so a frame of the wrong type
// is rejected rather than misread. Decoding validates every field that a
// receiver will trust: a broken or hostile producer gets its frame dropped
// and counted, never acted on.
//
// Runs in: the router (encodes calls), every server (decodes them, encodes
// trace events) and the broker (reads trace events for lx trace). Owns:
// nothing. Waits on: nobody.
package wire

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"
)

// Version is the first byte of every frame.
const Version = 1

// Kind is the second byte: which message follows.
type Kind byte

const (
	KindCall  Kind = 1 // router → server: one trapped syscall
	KindTrace Kind = 2 // server → tracer: one served call
)

// ErrBadFrame is wrapped by every decode failure.
var ErrBadFrame = errors.New("bad frame")

// Call is one seccomp notification as the router hands it to a server.
type Call struct {
	_msgpack struct{}  `msgpack:",as_array"`
	ID       uint64    // seccomp notification id
	Tid      int32     // host tid of the calling thread
	Nr       int32     // syscall number
	Arch     uint32    // AUDIT_ARCH_*
	IP       uint64    // instruction pointer
	Args     [6]uint64 // raw arguments
	RecvNS   int64     // CLOCK_MONOTONIC nanoseconds when the router received it
}

// MaxNr bounds the syscall numbers a Call may carry.
const MaxNr = 1 << 16

func (c *Call) validate() error {
	if c.ID == 0 {
		return fmt.Errorf("%w: call with id 0", ErrBadFrame)
	}
	if c.Tid <= 0 {
		return fmt.Errorf("%w: call with tid %d", ErrBadFrame, c.Tid)
	}
	if c.Nr < 0 || c.Nr >= MaxNr {
		return fmt.Errorf("%w: call with syscall number %d", ErrBadFrame, c.Nr)
	}
	return nil
}

// Trace is one call a server served, for `lx trace`.
type Trace struct {
	_msgpack struct{} `msgpack:",as_array"`
	Pid      int32    // host tid
	Nr       int32    // syscall number
	Text     string   // the call with decoded arguments, strace style
	Ret      int64    // result when Errno is 0
	Errno    int32    // 0 on success
	Continue bool     // answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE
	NS       int64    // latency from the router's receive to the reply
	// GuestPid is the caller's pid in the instance (what lx ps shows);
	// 0 in a frame of a server that did not know it. Last, so that an
	// older frame still decodes.
	GuestPid int32
}

// MaxText bounds Trace.Text.
const MaxText = 400

func (t *Trace) validate() error {
	if t.Nr < 0 || t.Nr >= MaxNr || t.Errno < 0 || t.Errno > 4095 || len(t.Text) > MaxText || t.GuestPid < 0 {
		return fmt.Errorf("%w: trace fields out of range", ErrBadFrame)
	}
	return nil
}

// Encoder encodes frames into a reused buffer. Not safe for concurrent use.
type Encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}

func (e *Encoder) encode(k Kind, v any) ([]byte, error) {
	e.buf.Reset()
	e.buf.WriteByte(Version)
	e.buf.WriteByte(byte(k))
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

// Call encodes c. The result is valid until the next call on e.
func (e *Encoder) Call(c *Call) ([]byte, error) { return e.encode(KindCall, c) }

// Trace encodes t, cutting Text to MaxText.
func (e *Encoder) Trace(t *Trace) ([]byte, error) {
	if len(t.Text) > MaxText {
		t.Text = t.Text[:MaxText]
	}
	return e.encode(KindTrace, t)
}

// Decoder decodes frames. Not safe for concurrent use.
type Decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

func (d *Decoder) decode(b []byte, k Kind, v any) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: %d bytes", ErrBadFrame, len(b))
	}
	if b[0] != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrBadFrame, b[0], Version)
	}
	if Kind(b[1]) != k {
		return fmt.Errorf("%w: kind %d, want %d", ErrBadFrame, b[1], k)
	}
	d.r.Reset(b[2:])
	d.dec.Reset(&d.r)
	if err := d.dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if d.r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, d.r.Len())
	}
	return nil
}

// Call decodes and validates a call frame.
func (d *Decoder) Call(b []byte, c *Call) error {
	*c = Call{}
	if err := d.decode(b, KindCall, c); err != nil {
		return err
	}
	return c.validate()
}

// Trace decodes and validates a trace frame.
func (d *Decoder) Trace(b []byte, t *Trace) error {
	*t = Trace{}
	if err := d.decode(b, KindTrace, t); err != nil {
		return err
	}
	return t.validate()
}

const callFields = 7

// EncodeMsgpack writes c as the same array the struct tags describe, without
// reflection: calls are the hot path.
func (c *Call) EncodeMsgpack(e *msgpack.Encoder) error {
	e.EncodeArrayLen(callFields)
	e.EncodeUint(c.ID)
	e.EncodeInt(int64(c.Tid))
	e.EncodeInt(int64(c.Nr))
	e.EncodeUint(uint64(c.Arch))
	e.EncodeUint(c.IP)
	e.EncodeArrayLen(len(c.Args))
	for _, a := range c.Args {
		e.EncodeUint(a)
	}
	return e.EncodeInt(c.RecvNS)
}

// DecodeMsgpack reads what EncodeMsgpack wrote and rejects any other shape.
func (c *Call) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != callFields {
		return fmt.Errorf("call has %d fields, want %d", n, callFields)
	}
	if c.ID, err = d.DecodeUint64(); err != nil {
		return err
	}
	if c.Tid, err = d.DecodeInt32(); err != nil {
		return err
	}
	if c.Nr, err = d.DecodeInt32(); err != nil {
		return err
	}
	if c.Arch, err = d.DecodeUint32(); err != nil {
		return err
	}
	if c.IP, err = d.DecodeUint64(); err != nil {
		return err
	}
	if n, err = d.DecodeArrayLen(); err != nil {
		return err
	}
	if n != len(c.Args) {
		return fmt.Errorf("call has %d args, want %d", n, len(c.Args))
	}
	for i := range c.Args {
		if c.Args[i], err = d.DecodeUint64(); err != nil {
			return err
		}
	}
	c.RecvNS, err = d.DecodeInt64()
	return err
}

// Format renders a trace event strace's way: `[pid N] call(args) = result
// <latency>`, N the guest pid (the host tid for a frame without one),
// prefixed with server when it is not "".
func (t *Trace) Format(server string) string {
	pid := t.GuestPid
	if pid == 0 {
		pid = t.Pid
	}
	line := fmt.Sprintf("[pid %d] %s = %s <%.1fµs>", pid, t.Text, t.Result(), float64(t.NS)/1000)
	if server != "" {
		line = server + " " + line
	}
	return line
}

// Result is the call's result as strace prints it: the value, -1 and the
// errno, or CONTINUE for a call the kernel ran itself.
func (t *Trace) Result() string {
	switch {
	case t.Continue:
		return "CONTINUE"
	case t.Errno != 0:
		e := unix.Errno(t.Errno)
		return fmt.Sprintf("-1 %s (%s)", unix.ErrnoName(e), e.Error())
	}
	return fmt.Sprint(t.Ret)
}

// traceFields is the number of fields of a trace frame; traceFieldsV1,
// of one from before GuestPid, which still decodes.
const (
	traceFields   = 8
	traceFieldsV1 = 7
)

// EncodeMsgpack writes t as the array the struct tags describe.
func (t *Trace) EncodeMsgpack(e *msgpack.Encoder) error {
	e.EncodeArrayLen(traceFields)
	e.EncodeInt(int64(t.Pid))
	e.EncodeInt(int64(t.Nr))
	e.EncodeString(t.Text)
	e.EncodeInt(t.Ret)
	e.EncodeInt(int64(t.Errno))
	e.EncodeBool(t.Continue)
	e.EncodeInt(t.NS)
	return e.EncodeInt(int64(t.GuestPid))
}

// DecodeMsgpack reads a trace frame of this version or of the one before
// GuestPid, and rejects any other shape.
func (t *Trace) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != traceFields && n != traceFieldsV1 {
		return fmt.Errorf("trace has %d fields, want %d", n, traceFields)
	}
	if t.Pid, err = d.DecodeInt32(); err != nil {
		return err
	}
	if t.Nr, err = d.DecodeInt32(); err != nil {
		return err
	}
	if t.Text, err = d.DecodeString(); err != nil {
		return err
	}
	if t.Ret, err = d.DecodeInt64(); err != nil {
		return err
	}
	if t.Errno, err = d.DecodeInt32(); err != nil {
		return err
	}
	if t.Continue, err = d.DecodeBool(); err != nil {
		return err
	}
	if t.NS, err = d.DecodeInt64(); err != nil {
		return err
	}
	if n == traceFields {
		t.GuestPid, err = d.DecodeInt32()
	}
	return err
}
