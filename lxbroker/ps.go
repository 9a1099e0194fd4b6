package lxbroker

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/shared/idmap"
	"lx/shared/procfs"
)

// PsEntry is one process of `lx ps`, with guest pids and ids.
type PsEntry struct {
	Pid     int      `json:"pid"`
	PPid    int      `json:"ppid"`
	Pgid    int      `json:"pgid"`
	Sid     int      `json:"sid"`
	State   string   `json:"state"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	User    string   `json:"user"`
	Threads int      `json:"threads"`
	Comm    string   `json:"comm"`
	Cmdline []string `json:"cmdline"`
}

// ps answers OpPs: the instance's process table as one JSON line, read
// through the instance's own /proc fd (never a path below its root, which
// its guests or another instance's could have changed), with user names
// from the guests' /etc/passwd read as init reads it (openGuestIn:
// resolved in the guests' root, a regular file, bounded).
func (b *Broker) ps(c *net.UnixConn, m *Msg) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in == nil || in.proc == nil {
		send(c, &Msg{Op: OpError, Code: 1, Text: fmt.Sprintf("lx: no instance of %s is running", distro(m))})
		return
	}
	entries, err := in.ps()
	if err != nil {
		send(c, &Msg{Op: OpError, Code: 1, Text: "lx: processes of " + in.name + ": " + err.Error()})
		return
	}
	js, _ := json.Marshal(entries)
	send(c, &Msg{Op: OpLine, Text: string(js)})
	send(c, &Msg{Op: OpExit})
}

func (in *Instance) ps() ([]PsEntry, error) {
	proc := int(in.proc.Fd())
	procs, err := procfs.Snapshot(proc)
	if err != nil {
		return nil, err
	}
	users := in.userNames()
	out := make([]PsEntry, 0, len(procs))
	ids := in.ids.maps()
	for _, p := range procs {
		uid, gid := ids.UID.ToGuest(p.UID), ids.GID.ToGuest(p.GID)
		user, ok := users[uid]
		if !ok {
			user = strconv.Itoa(int(uid))
		}
		out = append(out, PsEntry{Pid: p.Pid, PPid: p.PPid, Pgid: p.Pgid, Sid: p.Sid, State: string(p.State), UID: uid,
			GID: gid, User: user, Threads: p.Threads, Comm: p.Comm, Cmdline: p.Cmdline})
	}
	return out, nil
}

// maps is the range as the instance's id mappings.
func (r IDRange) maps() idmap.Maps {
	return idmap.Maps{UID: idmap.Map{{Guest: 0, Host: r.UID, Count: r.Size}}, GID: idmap.Map{{Guest: 0, Host: r.GID, Count: r.Size}}}
}

// userNames reads uid → name from the guests' /etc/passwd.
func (in *Instance) userNames() map[uint32]string {
	m := map[uint32]string{}
	root, err := unix.Openat(int(in.proc.Fd()), strconv.Itoa(in.holderPid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return m
	}
	defer unix.Close(root)
	f, err := openGuestIn(root, "/etc/passwd")
	if err != nil {
		return m
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxGuestFile))
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Split(line, ":")
		if len(fs) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(fs[2], 10, 32); err == nil {
			if _, dup := m[uint32(id)]; !dup {
				m[uint32(id)] = fs[0]
			}
		}
	}
	return m
}
