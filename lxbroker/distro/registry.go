// Package distro is the distro store: the registry of a user's distros,
// their import from a tarball (safely: the tarball is hostile), export,
// registration in place, settings (default, mounts, memory) and
// unregistration.
//
// Runs in: the lx command (lx import, export, list, set-default,
// set-mounts, config, unregister, and the lookup before every launch).
// Owns: the registry file and the distros' files, under the per-user lock
// (Exclusive to change, Shared to read). Waits on: the broker, which stops
// a distro's instance before it is unregistered.
package distro

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
)

// The distro registry: a per-user JSON file under $XDG_DATA_HOME/lx (else
// ~/.local/share/lx), with the unpacked roots beside it in distros/NAME.
// It is written atomically (temporary file, fsync, rename) and only while
// the per-user lock is held, so a crash leaves the old registry or the new
// one, never a half-written one.

// Distro is one registered distro.
type Distro struct {
	Name    string        `json:"name"`
	Root    string        `json:"root"`               // its root directory
	InPlace bool          `json:"in_place,omitempty"` // registered, not copied: never deleted by lx
	Created time.Time     `json:"created"`
	Mounts  []proto.Mount `json:"mounts,omitempty"` // host directories every run of it mounts (lx set-mounts)
	Memory  int64         `json:"memory,omitempty"` // its instance's memory bound in bytes (lx config NAME memory=SIZE); 0: the default
	// Made are the mount points (MountPoints) and /etc files (NetFiles)
	// an in-place root lacked when it was registered: the instance makes
	// them, and unregister removes them again where they are still empty.
	Made []string `json:"made,omitempty"`
}

// MountPoints are the directories an instance mounts its own filesystems
// on, made in a distro's root where they are missing
// (lxbroker/runtime/keeper).
var MountPoints = []string{"dev", "proc", "root", "run", "sys", "tmp"}

// NetFiles are the files of /etc the keeper makes (empty, to bind its own
// over them) in a distro's /etc where they are missing
// (lxbroker/runtime/keeper/netfiles.go).
var NetFiles = []string{"etc/hosts", "etc/hostname", "etc/resolv.conf"}

// Registry is the registry file's content.
type Registry struct {
	Default string             `json:"default,omitempty"`
	Distros map[string]*Distro `json:"distros"`
}

var distroName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName rejects names that are not usable as a directory name.
func CheckName(name string) error {
	if !distroName.MatchString(name) || name == proto.DefaultDistro {
		return fmt.Errorf("%q is not a distro name: use letters, digits, '.', '_' and '-' (and not %q)", name, proto.DefaultDistro)
	}
	return nil
}

// LoadRegistry reads the registry; a missing file is an empty registry.
func LoadRegistry(dir string) (*Registry, error) {
	r := &Registry{Distros: map[string]*Distro{}}
	b, err := os.ReadFile(filepath.Join(dir, "registry.json"))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("registry %s is damaged: %w", filepath.Join(dir, "registry.json"), err)
	}
	if r.Distros == nil {
		r.Distros = map[string]*Distro{}
	}
	return r, nil
}

// Save writes the registry atomically. Hold the lock.
func (r *Registry) Save(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".registry-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "registry.json")); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Sorted returns the distros by name.
func (r *Registry) Sorted() []*Distro {
	var out []*Distro
	for _, d := range r.Distros {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lock is the per-user lock that import, export and unregister hold.
type Lock struct{ f *os.File }

// Exclusive takes the lock for a change; the waiting message, if any, goes
// to stderr.
func Exclusive(dir, what string) (*Lock, error) { return lock(dir, unix.LOCK_EX, what) }

// Shared takes the lock for a launch, which waits for a pending change.
func Shared(dir, what string) (*Lock, error) { return lock(dir, unix.LOCK_SH, what) }

func lock(dir string, how int, what string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err == unix.EWOULDBLOCK {
		fmt.Fprintf(os.Stderr, "lx: waiting for a pending import, export or unregister to finish before %s\n", what)
		err = unix.Flock(int(f.Fd()), how)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() { l.f.Close() }

// withRegistry runs fn with the registry loaded and the per-user lock held
// (what names the operation, for the message of a waiting launch); fn may
// change the registry and Save it.
func withRegistry(what string, fn func(dir string, reg *Registry) error) error {
	dir, err := proto.DataDir()
	if err != nil {
		return err
	}
	l, err := Exclusive(dir, what)
	if err != nil {
		return err
	}
	defer l.Unlock()
	reg, err := LoadRegistry(dir)
	if err != nil {
		return err
	}
	return fn(dir, reg)
}

// get returns the distro called name, or an error saying what to do.
func (r *Registry) get(name string) (*Distro, error) {
	if d := r.Distros[name]; d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("no distro named %s; 'lx list' shows them", name)
}

// free checks that name is not taken.
func (r *Registry) free(name string) error {
	if r.Distros[name] != nil {
		return fmt.Errorf("a distro named %s exists already; 'lx unregister %s' first, or choose another name", name, name)
	}
	return nil
}
