package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"lx/fssrv"
	"lx/lxbroker"
	"lx/netsrv"
	"lx/procsrv"
	"lx/servers"
	"lx/servers/router"
	"lx/shared/control"
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/seccomp"
	"lx/sigsrv"
)

// Tables are the four servers' handler tables, by server name.
var Tables = map[string]func() servers.Table{
	"procsrv": procsrv.Table,
	"fssrv":   fssrv.Table,
	"netsrv":  netsrv.Table,
	"sigsrv":  sigsrv.Table,
}

// Sandboxes are the host syscalls each server makes on top of
// servers.ServerCalls, by server name.
var Sandboxes = map[string]func() []seccomp.Allowed{
	"procsrv": procsrv.Sandbox,
	"fssrv":   fssrv.Sandbox,
	"netsrv":  netsrv.Sandbox,
	"sigsrv":  sigsrv.Sandbox,
}

// sandboxList is the allow-list of component name (a server or "router").
func sandboxList(name string) []seccomp.Allowed {
	if name == "router" {
		return router.Sandbox()
	}
	return append(servers.ServerCalls(), Sandboxes[name]()...)
}

// roleServer is `lx server NAME INITPID` with fds 3 listener, 4 ring,
// 5 control, 6 trace ring, 7 instance root, 8 the instance's /proc.
func roleServer(args []string) error {
	if len(args) != 2 || Tables[args[0]] == nil {
		return fmt.Errorf("usage: lx server NAME INITPID (internal)")
	}
	name := args[0]
	initPid, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	log := logger(name)
	unix.Umask(0) // creation modes come from the guest's umask
	r, err := ring.Map(4)
	if err != nil {
		return err
	}
	r.Spin, r.Yield = spinFor("LX_SPIN", 50*time.Microsecond), true
	ctl, err := control.Map(5)
	if err != nil {
		return err
	}
	tr, err := ring.Map(6)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(os.Getenv("LX_MAX_PROCS")); err == nil && n > 0 {
		procsrv.MaxProcs = n
	}
	ids, err := servers.ReadIDMaps(initPid)
	if err != nil {
		return fmt.Errorf("id maps of init: %w", err)
	}
	profile, err := profileFromEnv()
	if err != nil {
		return err
	}
	s, err := servers.New(servers.Config{Name: name, Table: Tables[name](), Listener: 3, Ring: r,
		Control: ctl, Trace: tr, Root: 7, Proc: 8, IDs: ids, InitPid: initPid, Log: log,
		Profile: profile, HolderFile: os.Getenv(servers.HolderEnv)})
	if err != nil {
		return err
	}
	if _, err := servers.Sandbox(name, sandboxList(name), log); err != nil {
		return err
	}
	return s.Serve(make(chan struct{}))
}

// roleRouter is `lx router` with fds 3 listener, 4 control, then one ring
// per server kind in routes.ServerKinds order, then the control page of
// each of those servers in the same order.
func roleRouter(args []string) error {
	ctl, err := control.Map(4)
	if err != nil {
		return err
	}
	rings := map[routes.Kind]*ring.Ring{}
	ctls := map[routes.Kind]*control.Control{}
	kinds := routes.ServerKinds()
	for i, k := range kinds {
		r, err := ring.Map(5 + i)
		if err != nil {
			return err
		}
		rings[k] = r
		if ctls[k], err = control.Map(5 + len(kinds) + i); err != nil {
			return err
		}
	}
	log := logger("router")
	profile, err := profileFromEnv()
	if err != nil {
		return err
	}
	pass := map[int32]bool{}
	for _, nr := range profile.PassCalls() {
		pass[int32(nr)] = true
	}
	if _, err := servers.Sandbox("router", sandboxList("router"), log); err != nil {
		return err
	}
	return router.Route(router.Config{Listener: 3, Rings: rings, Control: ctl, Servers: ctls, Pass: pass,
		Log: log, Spin: spinFor("LX_ROUTER_SPIN", 0)})
}

// profileFromEnv reads the instance's profile (servers.ProfileEnv).
func profileFromEnv() (routes.Profile, error) {
	var p routes.Profile
	if err := json.Unmarshal([]byte(os.Getenv(servers.ProfileEnv)), &p); err != nil {
		return p, fmt.Errorf("the instance's profile (%s): %w", servers.ProfileEnv, err)
	}
	return p, nil
}

// spinFor is how long a server polls its ring (LX_SPIN, default 50 µs)
// or the router its listener (LX_ROUTER_SPIN, default 0) before sleeping;
// the environment variable named (a Go duration) overrides the default.
// Each poll yields the CPU: the kernel wakes the guest on the replying
// server's CPU (FD_SYNC_WAKE_UP), so the guest runs at once, and while
// calls come in bursts no vCPU halts, which on the 2-vCPU VM costs ~10-20
// µs a wake-up: spinning servers made stat 38.9 → 24.3 µs when every path
// call went through fssrv. Since the router answers the calls fssrv passes
// unseen, a spinning router only takes a CPU from the guests (go run
// ./bench, idle VM, router spin 50 µs → 0: python3 ×20 1.41× → 1.22×,
// make -j2 1.82× → 1.48×, fork+exec 1.83× → 1.52×, git status 4.46× →
// 3.94×; stat 10.0 → 10.5 µs), and it blocks in poll, woken on the
// guest's CPU.
func spinFor(env string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(env)); err == nil {
		return d
	}
	return def
}

func printStatus(js string, verbose bool) {
	var st lxbroker.Status
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		fmt.Println(js)
		return
	}
	if len(st.Instances) == 0 {
		fmt.Println("no instance is running")
		if verbose {
			printSupervision(st.Supervision)
		}
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, in := range st.Instances {
		execs, _, _ := strings.Cut(in.Execs, ":") // the reason is in --json and the broker's log
		fmt.Fprintf(w, "instance %s\tinit pid %d\tclients %d\tguests %d\tnet %s\tpaths %s\texecs %s\tmemory %s (%s)\t%s", in.Name, in.Init, in.Clients, in.Guests, in.Net, in.Paths, execs,
			lxbroker.FormatSize(in.Memory), in.MemoryBy, in.IDs)
		if len(in.Publish) > 0 {
			fmt.Fprintf(w, ", publish %s", strings.Join(in.Publish, " "))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  COMPONENT\tPID\tUPTIME\tRESTARTS\tHANGS\tCALLS\tERRORS\tLAST CAUSE\n")
		for _, c := range in.Components {
			cause := c.LastCause
			if c.Binary != "" {
				cause = strings.TrimSpace("[" + c.Binary + "] " + cause)
			}
			fmt.Fprintf(w, "  %s\t%d\t%.0fs\t%d\t%d\t%d\t%d\t%s\n", c.Name, c.Pid, c.UptimeSec, c.Restarts, c.Hangs, c.Calls, c.Errors, cause)
		}
	}
	w.Flush()
	if verbose {
		printSupervision(st.Supervision)
	}
}

// printSupervision prints the broker's supervision table (lx status -v).
func printSupervision(table []lxbroker.Spec) {
	fmt.Println("\nsupervision (every instance):")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "  ORDER\tCOMPONENT\tRESTART\tBACKOFF\tHEARTBEAT\tHUNG AFTER\n")
	for _, s := range table {
		hang := s.HangAfter.String()
		if s.HangAfter <= 0 {
			hang = "off"
		}
		fmt.Fprintf(w, "  %d\t%s\t%s\t%s..%s\t%s\t%s\n", s.Order, s.Name, s.Restart, s.Backoff, s.MaxBackoff, s.Heartbeat, hang)
	}
	w.Flush()
	for _, s := range table {
		fmt.Printf("  %s keeps: %s\n", s.Name, s.State)
	}
}
