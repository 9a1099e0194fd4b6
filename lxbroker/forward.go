package lxbroker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"lx/lxbroker/proto"
	"lx/shared/netpolicy"
)

// A port published by a run of a --net=loopback instance is forwarded: the
// instance's own network is unreachable from the host, so the broker
// listens on the host's loopback at HOSTPORT and relays each TCP
// connection to GUESTPORT on the instance's loopback, through a socket init
// connects there (OpDial). The relay copies the bytes in the broker, as
// docker-proxy does; UDP is not forwarded. In mode all no forwarder is
// needed: netsrv binds the guest's socket to HOSTPORT itself.

// forwarder is one published port of a loopback instance.
type forwarder struct {
	ln    net.Listener
	conns sync.WaitGroup
}

const dialTimeout = 5 * time.Second

// forward starts relaying host 127.0.0.1:p.Host to the instance's p.Guest.
func (in *Instance) forward(p netpolicy.Publish) (*forwarder, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p.Host))))
	if err != nil {
		return nil, fmt.Errorf("--publish %s: %w", p, err)
	}
	f := &forwarder{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by stop
			}
			f.conns.Add(1)
			go func() {
				defer f.conns.Done()
				in.relay(c.(*net.TCPConn), p.Guest)
			}()
		}
	}()
	return f, nil
}

// stop closes the listener; relays already running go on until their
// connections end (or the instance does).
func (f *forwarder) stop() { f.ln.Close() }

// relay copies between a host connection and a new connection to port of
// the instance's loopback, each direction until its end (half-closes are
// passed on).
func (in *Instance) relay(host *net.TCPConn, port uint16) {
	defer host.Close()
	guest, err := in.dial(port)
	if err != nil {
		in.log.Info("forward: no connection into the instance", zap.Uint16("port", port), zap.Error(err))
		return
	}
	defer guest.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(guest, host)
		guest.CloseWrite()
		close(done)
	}()
	io.Copy(host, guest)
	host.CloseWrite()
	<-done
}

// dial asks init for a TCP socket connecting to port on the instance's
// loopback.
func (in *Instance) dial(port uint16) (*net.TCPConn, error) {
	id, ch := in.await(1)
	if err := proto.Send(in.ctl, &proto.ToInit{Op: proto.OpDial, ID: id, Port: int(port)}); err != nil {
		in.forget(id)
		return nil, err
	}
	var r reply
	select {
	case r = <-ch:
	case <-time.After(dialTimeout):
		in.forget(id)
		return nil, errors.New("init did not answer")
	case <-in.done:
		return nil, errors.New("the instance ended")
	}
	if r.m.Op != proto.OpDial || len(r.fds) != 1 {
		proto.CloseAll(r.fds)
		return nil, fmt.Errorf("init: %s", r.m.Text)
	}
	f := os.NewFile(uintptr(r.fds[0]), "dial")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, errors.New("init did not send a TCP socket")
	}
	return tc, nil
}
