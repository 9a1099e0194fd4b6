package lxbroker

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"lx/servers"
)

// ImportInPlace registers an existing root directory without copying it.
func ImportInPlace(name, root string) (*Distro, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	var d *Distro
	err = withRegistry("registering "+name, func(dir string, reg *Registry) error {
		if err := reg.free(name); err != nil {
			return err
		}
		d = &Distro{Name: name, Root: abs, InPlace: true, Created: time.Now().UTC()}
		reg.Distros[name] = d
		if reg.Default == "" {
			reg.Default = name
		}
		return reg.Save(dir)
	})
	return d, err
}

// Resolve names the distro a launch runs in ("" is the registry's default,
// else the host root) and returns its root ("" for the host root). It waits
// while an import, export or unregister is pending.
func Resolve(name string) (string, string, error) {
	d, err := resolve(name)
	return d.Name, d.Root, err
}

// resolve is Resolve with the whole registry entry (the default distro has
// only its name).
func resolve(name string) (Distro, error) {
	if name == DefaultDistro {
		return Distro{Name: DefaultDistro}, nil
	}
	dir, err := DataDir()
	if err != nil {
		if name == "" {
			return Distro{Name: DefaultDistro}, nil
		}
		return Distro{}, err
	}
	l, err := Shared(dir, "starting "+name)
	if err != nil {
		return Distro{}, err
	}
	defer l.Unlock()
	reg, err := LoadRegistry(dir)
	if err != nil {
		return Distro{}, err
	}
	if name == "" {
		if reg.Default == "" {
			return Distro{Name: DefaultDistro}, nil
		}
		name = reg.Default
	}
	d := reg.Distros[name]
	if d == nil {
		return Distro{}, fmt.Errorf("no distro named %s; 'lx list' shows them, 'lx import %s TARBALL' adds it", name, name)
	}
	return *d, nil
}

// SetDefault makes name the distro that `lx run` uses without -d.
func SetDefault(name string) error {
	return withRegistry("changing the default", func(dir string, reg *Registry) error {
		if name == DefaultDistro {
			name = ""
		} else if _, err := reg.get(name); err != nil {
			return err
		}
		reg.Default = name
		return reg.Save(dir)
	})
}

// SetMounts sets the host directories every run of distro name mounts.
func SetMounts(name string, mounts []Mount) error {
	return withRegistry("changing the mounts of "+name, func(dir string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		d.Mounts = mounts
		return reg.Save(dir)
	})
}

// Unregister stops the distro's instance and removes it from the registry,
// with its files unless it was registered in place.
func Unregister(name string) error {
	return withRegistry("unregistering "+name, func(dir string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		if err := Terminate(name); err != nil {
			return err
		}
		delete(reg.Distros, name)
		if reg.Default == name {
			reg.Default = ""
		}
		if err := reg.Save(dir); err != nil {
			return err
		}
		if !d.InPlace {
			files := filepath.Dir(d.Root)
			makeWritable(files)
			return os.RemoveAll(files)
		}
		return nil
	})
}

// dialRunning connects to the broker only if one runs.
func dialRunning() (*net.UnixConn, error) {
	dir, err := RuntimeDir()
	if err != nil {
		return nil, err
	}
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: SocketPath(dir), Net: "unixpacket"})
}

// Terminate stops the instance of a distro, if it runs.
func Terminate(name string) error {
	c, err := dialRunning()
	if err != nil {
		return nil // no broker: nothing runs
	}
	defer c.Close()
	if err := send(c, &Msg{Op: OpTerminate, Version: ProtocolVersion, Distro: name}); err != nil {
		return err
	}
	m, fds, err := recv(c)
	closeAll(fds)
	if err != nil {
		return err
	}
	if m.Op == OpError {
		return &ExitError{Code: m.Code, Text: m.Text}
	}
	return nil
}

// Running returns the names of the running instances (none without a broker).
func Running() map[string]bool {
	out := map[string]bool{}
	c, err := dialRunning()
	if err != nil {
		return out
	}
	c.Close()
	Stream(&Msg{Op: OpStatus}, func(line string) {
		var st struct {
			Instances []struct{ Name string } `json:"instances"`
		}
		if json.Unmarshal([]byte(line), &st) == nil {
			for _, in := range st.Instances {
				out[in.Name] = true
			}
		}
	})
	return out
}

// Export writes the distro's root as a tarball to w, compressed as the
// file name says (.gz/.tgz, .xz, .zst; otherwise plain).
func Export(name, file string, w io.Writer) error {
	return withRegistry("exporting "+name, func(_ string, reg *Registry) error {
		d, err := reg.get(name)
		if err != nil {
			return err
		}
		return export(d, file, w)
	})
}

func export(d *Distro, file string, w io.Writer) error {
	var err error
	var zw io.WriteCloser
	switch {
	case strings.HasSuffix(file, ".gz") || strings.HasSuffix(file, ".tgz"):
		zw = gzip.NewWriter(w)
	case strings.HasSuffix(file, ".xz"):
		if zw, err = xz.NewWriter(w); err != nil {
			return err
		}
	case strings.HasSuffix(file, ".zst") || strings.HasSuffix(file, ".zstd"):
		if zw, err = zstd.NewWriter(w); err != nil {
			return err
		}
	}
	out := w
	if zw != nil {
		out = zw
	}
	tw := tar.NewWriter(out)
	if err := writeTree(tw, d.Root); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

func writeTree(tw *tar.Writer, root string) error {
	links := map[[2]uint64]string{}
	privileged := os.Geteuid() == 0
	return filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return err
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		st := fi.Sys().(*syscall.Stat_t)
		if privileged {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		} else {
			h.Uid, h.Gid = 0, 0
			if v, err := getxattr(p, servers.OwnerXattr); err == nil {
				if u, g, ok := servers.ParseOwner(v); ok {
					h.Uid, h.Gid = int(u), int(g)
				}
			}
		}
		if v, err := getxattr(p, servers.DevXattr); err == nil && fi.Mode().IsRegular() {
			if kind, major, minor, ok := servers.ParseDev(v); ok {
				h.Typeflag, h.Size = tar.TypeChar, 0
				h.Devmajor, h.Devminor = int64(major), int64(minor)
				if kind == 'b' {
					h.Typeflag = tar.TypeBlock
				}
			}
		}
		if fi.Mode().IsRegular() && st.Nlink > 1 && h.Typeflag == tar.TypeReg {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				links[key] = rel
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
