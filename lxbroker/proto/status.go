package proto

import (
	"lx/shared/launch"
	"lx/shared/routes"
)

// Status is what `lx status --json` prints.
type Status struct {
	Broker      int                `json:"broker_pid"`
	Instances   []InstanceStatus   `json:"instances"`
	Supervision []launch.Component `json:"supervision"` // the component table, in start order
}

// InstanceStatus describes one instance.
type InstanceStatus struct {
	Name       string            `json:"name"`
	Init       int               `json:"init_pid"`
	Clients    int               `json:"clients"`
	Guests     int               `json:"guests"`
	Net        string            `json:"net"`               // network mode, with " raw" when raw sockets are allowed
	Publish    []string          `json:"publish,omitempty"` // HOSTPORT:GUESTPORT published by running runs
	Paths      string            `json:"paths"`             // "native": the path calls the kernel resolves skip fssrv; "trapped": --trap-paths
	Execs      string            `json:"execs"`             // "native": execve skips procsrv (binfmt.go); else "trapped: " and why
	IDs        string            `json:"ids"`               // the host ids of its guests (shared/idmap/subids.go)
	Profile    routes.Profile    `json:"profile"`           // what its filter runs natively
	Memory     int64             `json:"memory"`            // its memory bound in bytes
	MemoryBy   string            `json:"memory_by"`         // what enforces it: "cgroup", or "tmpfs sizes" (no memory cgroup)
	Components []ComponentStatus `json:"components"`
}

// ComponentStatus describes one server or the router.
type ComponentStatus struct {
	Name      string  `json:"name"`
	Pid       int     `json:"pid"`
	UptimeSec float64 `json:"uptime_s"`
	Restarts  int     `json:"restarts"`
	Hangs     int     `json:"hangs"` // restarts that were kills of a hung incarnation
	LastCause string  `json:"last_cause,omitempty"`
	Binary    string  `json:"binary,omitempty"` // set by lx restart --binary
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
}

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
