package proto

import (
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Hidden is one of lx's own directories on the host (its runtime, data or
// state directory), canonical path and identity: wherever the instance's
// root or a bind would show it, the keeper mounts an empty directory over
// it, so no guest reaches the broker's socket, another instance's logs or
// another distro's files through it.
type Hidden struct {
	Path string `msgpack:"path"`
	Dev  uint64 `msgpack:"dev"`
	Ino  uint64 `msgpack:"ino"`
}

// LxDirs are lx's own directories of this user: the runtime directory (the
// broker's socket, every instance's logs and rings' state), the data
// directory (the registry, every distro's files) and the state directory
// (the broker's log). No instance shows them (Hidden). The data and state
// directories follow the environment of the lx that asks (XDG_DATA_HOME,
// XDG_STATE_HOME): each run sends its own (Run.Hide), and the broker
// covers those too.
func LxDirs() []Hidden {
	var dirs []string
	if rt, err := RuntimeDir(); err == nil {
		dirs = append(dirs, rt, StateDir(rt))
	}
	if data, err := DataDir(); err == nil {
		dirs = append(dirs, data)
	}
	return Identify(dirs)
}

// Identify identifies directories dirs (canonical path, device, inode),
// leaving out those that do not exist.
func Identify(dirs []string) []Hidden {
	var out []Hidden
	for _, d := range dirs {
		p, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			out = append(out, Hidden{Path: p, Dev: st.Dev, Ino: st.Ino})
		}
	}
	return out
}

// Current reports whether h's path still names the directory h was made
// of: a removed directory's inode number is reused by new ones.
func (h Hidden) Current() bool {
	var st unix.Stat_t
	return unix.Stat(h.Path, &st) == nil && st.Dev == h.Dev && st.Ino == h.Ino
}

// Below reports whether path p is dir or under it, and p relative to dir.
func Below(dir, p string) (string, bool) {
	dir, p = filepath.Clean(dir), filepath.Clean(p)
	if dir == p {
		return "", true
	}
	if dir != "/" {
		dir += "/"
	}
	if rel, ok := strings.CutPrefix(p, dir); ok {
		return rel, true
	}
	return "", false
}

// InstanceOwn reports whether path p of the instance is its root or in one
// of its kernel filesystems, on which no host directory is mounted.
func InstanceOwn(p string) bool {
	for _, own := range []string{"/", "/proc", "/dev", "/sys"} {
		if p == own || (own != "/" && strings.HasPrefix(p, own+"/")) {
			return true
		}
	}
	return false
}
