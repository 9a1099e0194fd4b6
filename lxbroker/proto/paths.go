package proto

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// RuntimeDir is where the broker's socket, lock and instance logs live:
// $XDG_RUNTIME_DIR/lx, else /run/lx for root, else /tmp/lx-UID. It is made
// 0700 and must belong to the caller.
func RuntimeDir() (string, error) {
	var dir string
	switch x := os.Getenv("XDG_RUNTIME_DIR"); {
	case x != "":
		dir = filepath.Join(x, "lx")
	case os.Geteuid() == 0:
		dir = "/run/lx"
	default:
		dir = filepath.Join(os.TempDir(), "lx-"+strconv.Itoa(os.Geteuid()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", fmt.Errorf("runtime directory %s is not a directory of yours; set XDG_RUNTIME_DIR to one that is", dir)
		}
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", fmt.Errorf("runtime directory %s is not a directory of yours; remove it or set XDG_RUNTIME_DIR", dir)
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// SocketPath is the broker's socket in dir.
func SocketPath(dir string) string { return filepath.Join(dir, "broker.sock") }

// StateDir is where the broker's log goes: $XDG_STATE_HOME/lx, else
// ~/.local/state/lx, else the runtime directory.
func StateDir(runtime string) string {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "state")
		}
	}
	if base != "" {
		dir := filepath.Join(base, "lx")
		if os.MkdirAll(dir, 0o700) == nil && unix.Access(dir, unix.W_OK) == nil {
			return dir
		}
	}
	return runtime
}

// DataDir is $XDG_DATA_HOME/lx, else ~/.local/share/lx.
func DataDir() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no XDG_DATA_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	dir := filepath.Join(base, "lx")
	if err := os.MkdirAll(filepath.Join(dir, "distros"), 0o700); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	// Closed to other users: the distros' files are the user's, and for
	// host root guest root's files there are root's on disk.
	for _, d := range []string{dir, filepath.Join(dir, "distros")} {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o077 != 0 {
			os.Chmod(d, st.Mode().Perm()&0o700)
		}
	}
	return dir, nil
}
