// Package guestfile reads files of a guests' tree from outside it: the
// names are the guests' to change, so a name is resolved inside the tree's
// root (openat2 RESOLVE_IN_ROOT, no magic links), anything but a regular
// file (a FIFO, whose open would block the reader, or a device) is refused
// before it is opened for reading, and what is read is bounded.
//
// Runs in: init and the broker. Owns: nothing. Waits on: nobody.
package guestfile

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxSize bounds what Read reads of a guest's file (/etc/passwd,
// /etc/group).
const MaxSize = 4 << 20

// Open opens the regular file name below the guests' root fd root for
// reading.
func Open(root int, name string) (*os.File, error) {
	fd, err := unix.Openat2(root, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(rfd), name), nil
}

// Read reads at most MaxSize bytes of the regular file name below root.
func Read(root int, name string) ([]byte, error) {
	f, err := Open(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxSize))
}

// User is one line of a passwd file.
type User struct {
	Name     string
	UID, GID uint32
	Home     string
}

// ParsePasswd reads the lines of a passwd file that have seven fields and
// numeric ids; the others are skipped.
func ParsePasswd(data []byte) []User {
	var out []User
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, User{Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[5]})
	}
	return out
}
