package lxbroker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// If the broker dies, its instances keep running: init, the guests, the
// router and the servers need nothing from it to serve calls. But their
// rings and listener were the broker's to hand out, so a new broker cannot
// supervise them; it tears them down instead, cleanly, on start. To find
// them it reads the pids each instance wrote in its runtime directory, with
// each process's start time, so that a reused pid is never killed.

type procID struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // field 22 of /proc/PID/stat
}

type instanceState struct {
	Init  procID   `json:"init"`
	Procs []procID `json:"procs"` // keeper, router, servers
}

func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

func ident(pid int) procID { return procID{Pid: pid, Start: startTime(pid)} }

// writeState records the instance's processes (after start and restarts).
func (in *Instance) writeState() {
	st := instanceState{Init: ident(in.initPid)}
	if in.keeper != nil && in.keeper.Process != nil {
		st.Procs = append(st.Procs, ident(in.keeper.Process.Pid))
	}
	for _, c := range in.comps {
		c.mu.Lock()
		if c.cmd != nil && c.cmd.Process != nil {
			st.Procs = append(st.Procs, ident(c.cmd.Process.Pid))
		}
		c.mu.Unlock()
	}
	b, _ := json.Marshal(st)
	tmp := filepath.Join(in.dir, "pids.tmp")
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, filepath.Join(in.dir, "pids"))
	}
}

func (in *Instance) removeState() { os.Remove(filepath.Join(in.dir, "pids")) }

// reapOrphans tears down the instances a dead broker left.
func (b *Broker) reapOrphans() {
	files, _ := filepath.Glob(filepath.Join(b.dir, "instances", "*", "pids"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		os.Remove(f)
		var st instanceState
		if err != nil || json.Unmarshal(data, &st) != nil {
			continue
		}
		killed := 0
		for _, p := range append([]procID{st.Init}, st.Procs...) {
			if p.Pid > 0 && p.Start != 0 && startTime(p.Pid) == p.Start {
				unix.Kill(p.Pid, unix.SIGKILL) // init first: every guest dies with it
				killed++
			}
		}
		b.log.Info("tore down an instance left by a previous broker", zap.String("instance", filepath.Base(filepath.Dir(f))), zap.Int("killed", killed))
	}
}
