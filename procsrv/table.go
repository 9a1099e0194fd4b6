package procsrv

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/servers"
)

// The instance's process table is the kernel's: the instance's pid
// namespace holds every guest with its parent, process group, session,
// credentials, start time and exit status, and the instance's /proc shows
// it. procsrv reads it there (Snapshot) instead of keeping a copy that a
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
	fd, err := unix.Openat(proc, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(fd), "proc")
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
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

// readAt reads at most max bytes of file name below dir.
func readAt(dir int, name string, max int) ([]byte, error) {
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
	b, err := readAt(dir, "stat", 4096)
	if err != nil {
		return Proc{}, err
	}
	p, err := parseStat(string(b))
	if err != nil {
		return Proc{}, err
	}
	if b, err := readAt(dir, "status", 8192); err == nil {
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
	if b, err := readAt(dir, "cmdline", maxCmdline); err == nil && len(b) > 0 {
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

// MaxProcs bounds the processes of one instance (LX_MAX_PROCS for the
// server). Linux's RLIMIT_NPROC does not bind guest root of a host root's
// instance, which is host root; this bound holds for every guest, so a
// fork bomb ends in EAGAIN, as Linux answers at its limits, before it
// reaches the host's.
var MaxProcs = 4096

// procCount admits new processes against MaxProcs without reading /proc
// for each fork: it counts the instance's processes only when the last
// count plus the forks admitted since could reach the bound.
type procCount struct {
	counted, since int
	valid          bool
}

var procs procCount

func (k *procCount) admit(c *servers.Call) error {
	if k.valid && k.counted+k.since < MaxProcs {
		k.since++
		return nil
	}
	n, err := countProcs(c.Proc())
	if err != nil {
		k.valid = false
		return nil // no count, no refusal: the kernel's limits still hold
	}
	k.counted, k.since, k.valid = n, 0, true
	if n >= MaxProcs {
		c.Log().Debug("process limit of the instance reached")
		return unix.EAGAIN
	}
	k.since = 1
	return nil
}

// countProcs counts the processes in the instance's /proc (proc: the fd of
// its root).
func countProcs(proc int) (int, error) {
	fd, err := unix.Openat(proc, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	d := os.NewFile(uintptr(fd), "proc")
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if name[0] >= '1' && name[0] <= '9' {
			n++
		}
	}
	return n, nil
}
