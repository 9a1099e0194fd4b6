// Package components is the component table of an instance (the shape of
// MINIX's rs/table.c): one row for each process the broker starts beside
// init and restarts when it dies — the four servers and the router — with
// its handler table, its sandbox, its start order, its restart policy and
// what it keeps across a restart; and the launcher that runs one of them
// from its launch config (Run). The broker gets the data of the table
// (Data) from the lx binary it runs in, `lx status -v` prints it and the
// tests read it.
//
// Runs in: every component (lx component), and the broker's binary for the
// data. Owns: the table. Waits on: nobody.
package components

import (
	"fmt"
	"time"

	"lx/fssrv"
	"lx/netsrv"
	"lx/procsrv"
	"lx/servers"
	"lx/servers/router"
	"lx/shared/control"
	"lx/shared/launch"
	"lx/shared/seccomp"
	"lx/sigsrv"
)

// Row is one row of the table.
type Row struct {
	launch.Component
	// Handlers is a server's handler table (nil for the router).
	Handlers func(*launch.Config) servers.Table
	// Sandbox is the allow-list of host calls the component makes once it
	// serves (servers.Sandbox).
	Sandbox func() []seccomp.Allowed
}

// Restart delays of every row (launch.Component).
const (
	backoff    = 10 * time.Millisecond
	maxBackoff = time.Second
)

// Table is the component table, in start order. Every server also keeps in
// its control page its counters and the ring index of a call whose side
// effects had begun; every ring keeps the frames not yet answered,
// including the one a dead server had taken.
var Table = []Row{
	server("procsrv", 1, procsrv.Table, procsrv.Sandbox, "nothing in memory: the process table is the instance's pid namespace, "+
		"read from its /proc (parents, groups, sessions, credentials, start times, exit statuses); process counts from there too"),
	server("fssrv", 2, fssrv.Table, fssrv.Sandbox, "nothing in memory: the mount table is the instance's mount namespace "+
		"(held by the keeper), open files and working directories are the guests' own fds, recorded owners and devices are "+
		"xattrs on the distro's files"),
	server("netsrv", 3, netsrv.Table, netsrv.Sandbox, "the network policy, in a file of the instance's runtime directory; "+
		"sockets are the guests' fds; published ports of a loopback instance are relayed by the broker"),
	server("sigsrv", 4, sigsrv.Table, sigsrv.Sandbox, "nothing: every permission check reads the instance's /proc at the time of the call"),
	{Component: row("router", launch.KindRouter, 5, "the notification it is routing, with the ring head before it, in its "+
		"control page: the next router routes it if it was not pushed; notifications not yet received wait in the kernel's listener"),
		Sandbox: router.Sandbox},
}

func row(name, kind string, order int, state string) launch.Component {
	return launch.Component{Name: name, Kind: kind, Order: order, Restart: launch.RestartAlways, Backoff: backoff,
		MaxBackoff: maxBackoff, Heartbeat: control.HeartbeatPeriod, HangAfter: 5 * control.HeartbeatPeriod, State: state}
}

func server(name string, order int, handlers func(*launch.Config) servers.Table, sandbox func() []seccomp.Allowed, state string) Row {
	return Row{Component: row(name, launch.KindServer, order, state), Handlers: handlers,
		Sandbox: func() []seccomp.Allowed { return append(servers.ServerCalls(), sandbox()...) }}
}

// Data is the table's data, for the broker.
func Data() []launch.Component {
	var d []launch.Component
	for _, r := range Table {
		d = append(d, r.Component)
	}
	return d
}

// Lookup returns the row of component name.
func Lookup(name string) (*Row, error) {
	for i := range Table {
		if Table[i].Name == name {
			return &Table[i], nil
		}
	}
	return nil, fmt.Errorf("no component %q", name)
}
