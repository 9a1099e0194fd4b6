package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"lx/lxbroker"
	"lx/procsrv"
	"lx/servers"
)

// psEntry is one line of `lx ps --json`: a process with guest ids.
type psEntry struct {
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

// cmdPs is `lx ps [-d DISTRO] [--json]`: the instance's process tree, read
// from the instance's own /proc (guest pids) through its init.
func cmdPs(args []string) error {
	fs := newFlags("ps", "[-d DISTRO] [--json]")
	distro := fs.String("d", "", "the distro whose instance to list (default: 'lx set-default', else the host root)")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Parse(args)
	if fs.NArg() != 0 {
		fs.Usage()
		os.Exit(2)
	}
	name, _, err := lxbroker.Resolve(*distro)
	if err != nil {
		return err
	}
	var st lxbroker.Status
	if err := lxbroker.Stream(&lxbroker.Msg{Op: lxbroker.OpStatus}, func(line string) { json.Unmarshal([]byte(line), &st) }); err != nil {
		return err
	}
	init := 0
	for _, in := range st.Instances {
		if in.Name == name {
			init = in.Init
		}
	}
	if init == 0 {
		return &lxbroker.ExitError{Code: 1, Text: fmt.Sprintf("lx: no instance of %s is running", name)}
	}
	procs, err := procsrv.Snapshot(fmt.Sprintf("/proc/%d/root/proc", init))
	if err != nil {
		return fmt.Errorf("processes of %s: %w", name, err)
	}
	ids, err := servers.ReadIDMaps(init)
	if err != nil {
		return fmt.Errorf("id maps of %s: %w", name, err)
	}
	users := userNames(fmt.Sprintf("/proc/%d/root/etc/passwd", init))
	entries := make([]psEntry, len(procs))
	for i, p := range procs {
		uid := ids.UID.ToGuest(p.UID)
		user, ok := users[uid]
		if !ok {
			user = strconv.Itoa(int(uid))
		}
		entries[i] = psEntry{Pid: p.Pid, PPid: p.PPid, Pgid: p.Pgid, Sid: p.Sid, State: string(p.State), UID: uid,
			GID: ids.GID.ToGuest(p.GID), User: user, Threads: p.Threads, Comm: p.Comm, Cmdline: p.Cmdline}
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(entries)
	}
	printTree(entries)
	return nil
}

// printTree prints the processes as a tree: each under its parent, in pid
// order.
func printTree(es []psEntry) {
	byPid := map[int]bool{}
	kids := map[int][]psEntry{}
	for _, e := range es {
		byPid[e.Pid] = true
	}
	var roots []psEntry
	for _, e := range es {
		if byPid[e.PPid] && e.PPid != e.Pid {
			kids[e.PPid] = append(kids[e.PPid], e)
		} else {
			roots = append(roots, e)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tPPID\tPGID\tSID\tUSER\tS\tTHR\tCOMMAND")
	var walk func(e psEntry, depth int)
	walk = func(e psEntry, depth int) {
		cmd := strings.Join(e.Cmdline, " ")
		if cmd == "" {
			cmd = "[" + e.Comm + "]"
		}
		if depth > 0 {
			cmd = strings.Repeat("  ", depth-1) + `\_ ` + cmd
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", e.Pid, e.PPid, e.Pgid, e.Sid, e.User, e.State, e.Threads, cmd)
		ks := kids[e.Pid]
		sort.Slice(ks, func(i, j int) bool { return ks[i].Pid < ks[j].Pid })
		for _, k := range ks {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	w.Flush()
}

// userNames reads uid → name from a passwd file.
func userNames(path string) map[uint32]string {
	m := map[uint32]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			if _, dup := m[uint32(id)]; !dup {
				m[uint32(id)] = f[0]
			}
		}
	}
	return m
}
