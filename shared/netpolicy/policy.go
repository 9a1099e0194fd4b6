// Package netpolicy is an instance's network policy: which network its
// AF_INET and AF_INET6 sockets live in, and which guest ports are published
// on which host ports. The broker writes it (Save) into the instance's
// runtime directory when the instance starts and whenever a run adds or
// drops a --publish; netsrv reads it at start and again when the file
// changes (Watch), so a restarted netsrv finds the same policy.
//
// Runs in: the broker and netsrv. Owns: the file's format. Waits on:
// nobody.
package netpolicy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Mode is where the instance's IP sockets live.
type Mode string

const (
	// All: sockets are made in the host's network namespace; the guest
	// reaches what the host reaches and shares the host's ports.
	All Mode = "all"
	// Loopback: sockets are made in the instance's own network namespace,
	// which has only its loopback interface: guests of the instance reach
	// each other and nothing else, neither the host nor the outside.
	Loopback Mode = "loopback"
	// None: no IP sockets at all (socket gets EACCES).
	None Mode = "none"
)

// ParseMode checks a --net value; "" is All.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "":
		return All, nil
	case All, Loopback, None:
		return Mode(s), nil
	}
	return "", fmt.Errorf("--net=%s: want all, loopback or none", s)
}

// Publish makes a guest port reachable on a host port: a guest's bind of
// Guest (TCP or UDP, any address) binds Host instead.
type Publish struct {
	Host  uint16 `json:"host"`
	Guest uint16 `json:"guest"`
}

func (p Publish) String() string { return fmt.Sprintf("%d:%d", p.Host, p.Guest) }

// ParsePublish parses HOSTPORT:GUESTPORT (or one PORT for both).
func ParsePublish(s string) (Publish, error) {
	h, g, ok := strings.Cut(s, ":")
	if !ok {
		g = h
	}
	hp, err1 := strconv.ParseUint(h, 10, 16)
	gp, err2 := strconv.ParseUint(g, 10, 16)
	if err1 != nil || err2 != nil || hp == 0 || gp == 0 {
		return Publish{}, fmt.Errorf("--publish %s: want HOSTPORT:GUESTPORT, ports 1-65535", s)
	}
	return Publish{Host: uint16(hp), Guest: uint16(gp)}, nil
}

// Policy is an instance's network policy. The zero value is mode All with
// nothing published.
type Policy struct {
	Mode    Mode      `json:"mode"`
	Raw     bool      `json:"raw,omitempty"` // SOCK_RAW and AF_PACKET sockets allowed
	Publish []Publish `json:"publish,omitempty"`
}

// HostPort returns the host port published for guest port g, if any.
func (p *Policy) HostPort(g uint16) (uint16, bool) {
	for _, pub := range p.Publish {
		if pub.Guest == g {
			return pub.Host, true
		}
	}
	return 0, false
}

// Save writes p to path atomically.
func Save(path string, p *Policy) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".net-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	tmp.Close()
	return os.Rename(tmp.Name(), path)
}

// Load reads the policy at path.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Mode, err = ParseMode(string(p.Mode)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// Watch is a policy file read again whenever it changes. A Watch of ""
// gives the default policy (mode All); a Watch of a file that was never
// read gives mode None: an instance whose policy is lost fails closed.
type Watch struct {
	path string
	mu   sync.Mutex
	ino  uint64
	mod  unix.Timespec
	cur  *Policy
}

// NewWatch returns a Watch of path ("" for the default policy).
func NewWatch(path string) *Watch { return &Watch{path: path} }

// Get returns the current policy. A file that cannot be read leaves the
// previous policy (mode None before the first good read); the error says
// why.
func (w *Watch) Get() (*Policy, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path == "" {
		return &Policy{Mode: All}, nil
	}
	if w.cur == nil {
		w.cur = &Policy{Mode: None}
	}
	var st unix.Stat_t
	if err := unix.Stat(w.path, &st); err != nil {
		return w.cur, fmt.Errorf("policy %s: %w", w.path, err)
	}
	if st.Ino == w.ino && st.Mtim == w.mod {
		return w.cur, nil
	}
	p, err := Load(w.path)
	if err != nil {
		return w.cur, err
	}
	w.cur, w.ino, w.mod = p, st.Ino, st.Mtim
	return p, nil
}
