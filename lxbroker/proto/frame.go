// Package proto is what crosses between lx's processes outside an
// instance's rings: the messages of each exchange (client ↔ broker,
// broker ↔ init, broker ↔ keeper), one type each way, framed one a packet on
// unix SOCK_SEQPACKET sockets with fds attached (SCM_RIGHTS); the paths of
// lx's own directories; the status and process tables the broker prints;
// and the checks both sides of a channel make (stdio kinds, lx's
// directories, memory sizes).
//
// Runs in: every process outside the instance's components (the lx
// client, the broker, the keeper, init). Owns: the formats. Waits on:
// nobody.
package proto

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sys/unix"
)

// maxMsg bounds a message.
const maxMsg = 1 << 20

// maxFds bounds the fds of one message: stdio and a run's mounts.
const maxFds = 64

// MaxMounts bounds the host directories one run mounts.
const MaxMounts = maxFds - 8

// ErrClosed is Recv's error when the other end has closed the connection.
var ErrClosed = errors.New("connection closed")

// Send writes m (one of this package's message types) and fds as one
// packet.
func Send(c *net.UnixConn, m any, fds ...int) error {
	b, err := msgpack.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMsg {
		return fmt.Errorf("message of %d bytes is too large", len(b))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// Recv reads one packet as a T. Received fds are close-on-exec; on an
// error none is left open.
func Recv[T any](c *net.UnixConn) (*T, []int, error) {
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(maxFds*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) {
		return nil, nil, ErrClosed // the peer closed, or sent an empty packet
	}
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, cm := range cmsgs {
				if got, err := unix.ParseUnixRights(&cm); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	if n == 0 {
		CloseAll(fds)
		return nil, nil, ErrClosed
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		CloseAll(fds)
		return nil, nil, errors.New("message truncated")
	}
	var m T
	if err := msgpack.Unmarshal(buf[:n], &m); err != nil {
		CloseAll(fds)
		return nil, nil, fmt.Errorf("bad message: %w", err)
	}
	return &m, fds, nil
}

// CloseAll closes fds.
func CloseAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
