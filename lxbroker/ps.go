package lxbroker

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"

	"lx/lxbroker/proto"
	"lx/shared/guestfile"
	"lx/shared/procfs"
)

// ps answers OpPs: the instance's process table as one JSON line, read
// through the instance's own /proc fd (never a path below its root, which
// its guests or another instance's could have changed), with user names
// from the guests' /etc/passwd read as init reads it (guestfile:
// resolved in the guests' root, a regular file, bounded).
func (b *Broker) ps(c *net.UnixConn, m *proto.Request) {
	b.mu.Lock()
	in := b.instances[distro(m)]
	b.mu.Unlock()
	if in == nil || in.proc == nil {
		fail(c, 1, fmt.Sprintf("lx: no instance of %s is running", distro(m)))
		return
	}
	entries, err := in.ps()
	if err != nil {
		fail(c, 1, "lx: processes of "+in.name+": "+err.Error())
		return
	}
	js, _ := json.Marshal(entries)
	proto.Send(c, &proto.Reply{Op: proto.OpLine, Text: string(js)})
	done(c)
}

func (in *Instance) ps() ([]proto.PsEntry, error) {
	proc := int(in.proc.Fd())
	procs, err := procfs.Snapshot(proc)
	if err != nil {
		return nil, err
	}
	users := in.userNames()
	out := make([]proto.PsEntry, 0, len(procs))
	ids := in.ids.Maps()
	for _, p := range procs {
		uid, gid := ids.UID.ToGuest(p.UID), ids.GID.ToGuest(p.GID)
		user, ok := users[uid]
		if !ok {
			user = strconv.Itoa(int(uid))
		}
		out = append(out, proto.PsEntry{Pid: p.Pid, PPid: p.PPid, Pgid: p.Pgid, Sid: p.Sid, State: string(p.State), UID: uid,
			GID: gid, User: user, Threads: p.Threads, Comm: p.Comm, Cmdline: p.Cmdline})
	}
	return out, nil
}

// userNames reads uid → name from the guests' /etc/passwd.
func (in *Instance) userNames() map[uint32]string {
	m := map[uint32]string{}
	root, err := unix.Openat(int(in.proc.Fd()), strconv.Itoa(in.holderPid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return m
	}
	defer unix.Close(root)
	b, err := guestfile.Read(root, "/etc/passwd")
	if err != nil {
		return m
	}
	for _, u := range guestfile.ParsePasswd(b) {
		if _, dup := m[u.UID]; !dup {
			m[u.UID] = u.Name
		}
	}
	return m
}
