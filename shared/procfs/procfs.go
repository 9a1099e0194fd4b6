// Package procfs reads what an instance's /proc says of its processes,
// through the fd of its proc mount (the one init made; from the host the
// broker holds it, and hands it to the servers): the process table (for
// lx ps, procsrv's count), and the status lines the servers check a
// caller by (its ids, its capabilities). What a guest controls in them
// (its command name and line) is read bounded, and parsed defensively.
//
// Runs in: the servers (a caller's status, procsrv's process count,
// sigsrv's kill(-1)) and the broker (lx ps). Owns: nothing. Waits on:
// nobody.
package procfs

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The instance's process table is the kernel's: the instance's pid
// namespace holds every guest with its parent, process group, session,
// credentials, start time and exit status, and the instance's /proc shows
// it. lx reads it there (Snapshot) instead of keeping a copy that a
// restart would lose or a missed exit would falsify.

// Proc is one process of the instance as its /proc shows it.
type Proc struct {
	Pid, PPid, Pgid, Sid int
	State                byte   // R, S, D, Z, T, t, I…
	UID, GID             uint32 // real ids, in the reader's user namespace
	Threads              int
	Start                uint64 // clock ticks after boot
	Comm                 string
	Cmdline              []string // empty for a zombie
}

// Snapshot reads every process of the instance from proc, the fd of its
// /proc (the root of the proc mount init made; from the host the broker
// holds it). Processes that exit while it reads are left out. The result is
// sorted by pid. What a guest controls (its command name and line) is read
// bounded.
func Snapshot(proc int) ([]Proc, error) {
	pids, err := Pids(proc)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, pid := range pids {
		p, err := readProc(proc, pid)
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out, nil
}

// maxCmdline bounds what is read of a guest's command line.
const maxCmdline = 64 << 10

// ReadAt reads at most max bytes of file name below dir.
func ReadAt(dir int, name string, max int) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(max)))
}

func readProc(proc int, pid int) (Proc, error) {
	dir, err := unix.Openat(proc, strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Proc{}, err
	}
	defer unix.Close(dir)
	b, err := ReadAt(dir, "stat", 4096)
	if err != nil {
		return Proc{}, err
	}
	p, err := parseStat(string(b))
	if err != nil {
		return Proc{}, err
	}
	if b, err := ReadAt(dir, "status", 8192); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "Uid:":
				if v, err := strconv.ParseUint(f[1], 10, 32); err == nil {
					p.UID = uint32(v)
				}
			case "Gid:":
				if v, err := strconv.ParseUint(f[1], 10, 32); err == nil {
					p.GID = uint32(v)
				}
			}
		}
	}
	if b, err := ReadAt(dir, "cmdline", maxCmdline); err == nil && len(b) > 0 {
		p.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	return p, nil
}

// parseStat parses /proc/PID/stat. The command name is in parentheses and
// may itself hold spaces and parentheses: the fields follow the last ')'.
func parseStat(s string) (Proc, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Proc{}, fmt.Errorf("stat %q: no command name", s)
	}
	var p Proc
	var err error
	if p.Pid, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return Proc{}, fmt.Errorf("stat: pid: %w", err)
	}
	p.Comm = s[open+1 : end]
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("stat of %d: %d fields", p.Pid, len(f))
	}
	p.State = f[0][0]
	ints := []*int{&p.PPid, &p.Pgid, &p.Sid}
	for i, dst := range ints {
		if *dst, err = strconv.Atoi(f[1+i]); err != nil {
			return Proc{}, fmt.Errorf("stat of %d: field %d: %w", p.Pid, 4+i, err)
		}
	}
	if p.Threads, err = strconv.Atoi(f[20-3]); err != nil {
		return Proc{}, fmt.Errorf("stat of %d: threads: %w", p.Pid, err)
	}
	if p.Start, err = strconv.ParseUint(f[22-3], 10, 64); err != nil {
		return Proc{}, fmt.Errorf("stat of %d: start time: %w", p.Pid, err)
	}
	return p, nil
}

// Pids lists the pids of the processes in the /proc whose root is the fd
// proc, in directory order.
func Pids(proc int) ([]int, error) {
	fd, err := unix.Openat(proc, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), "proc")
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if name[0] < '1' || name[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(name); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// CountPids counts the processes in the /proc whose root is the fd proc,
// leaving out the pids in except.
func CountPids(proc int, except ...int) (int, error) {
	pids, err := Pids(proc)
	n := 0
	for _, pid := range pids {
		if !slices.Contains(except, pid) {
			n++
		}
	}
	return n, err
}

// Status is a /proc status file (or a pidfd's fdinfo), key to value.
type Status map[string]string

// ParseStatus parses the "Key:\tvalue" lines of a status file.
func ParseStatus(s string) Status {
	m := Status{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// ReadStatus reads the status file name below dir (a /proc/PID
// directory's fd, or AT_FDCWD and a path), at most 8 KiB.
func ReadStatus(dir int, name string) (Status, error) {
	b, err := ReadAt(dir, name, 8<<10)
	if err != nil {
		return nil, err
	}
	return ParseStatus(string(b)), nil
}

// CapEff is the effective capability set of a status.
func (s Status) CapEff() uint64 {
	v, _ := strconv.ParseUint(s["CapEff"], 16, 64)
	return v
}

// Has reports whether the effective set holds capability cap.
func (s Status) Has(cap int) bool { return cap >= 0 && cap < 64 && s.CapEff()&(1<<cap) != 0 }

// Umask is the Umask line of a status; ok is false where the kernel
// prints none.
func (s Status) Umask() (umask uint32, ok bool, err error) {
	v, ok := s["Umask"]
	if !ok {
		return 0, false, nil
	}
	u, err := strconv.ParseUint(v, 8, 32)
	if err != nil {
		return 0, false, err
	}
	return uint32(u), true, nil
}

// IDs are the four ids of a Uid: or Gid: line (real, effective, saved,
// file system), nil for a missing or malformed line.
func (s Status) IDs(key string) []uint32 {
	f := strings.Fields(s[key])
	if len(f) != 4 {
		return nil
	}
	ids := make([]uint32, 4)
	for i, x := range f {
		v, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return nil
		}
		ids[i] = uint32(v)
	}
	return ids
}
