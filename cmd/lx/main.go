// Command lx runs unmodified Linux programs inside per-user instances.
//
// User commands: run, shell, trace, ps, status, shutdown, syscalls, the
// distro store's commands and broker. The processes of an instance are
// hidden roles of this same binary: `lx init` (pid 1 of the instance,
// lxbroker/runtime/pid1), `lx keeper` (its mounts, outside its pid
// namespace, lxbroker/runtime/keeper) and `lx component` (a server or the
// router, servers/components).
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"lx/lxbroker"
	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
	"lx/lxbroker/runtime/keeper"
	"lx/lxbroker/runtime/pid1"
	"lx/servers/components"
	"lx/shared/routes"
)

const usage = `usage: lx COMMAND [ARGS]

Run Linux programs in an isolated instance (user, pid, mount, network
namespaces; every system call that names something checked or served by lx's
servers, or resolved by the kernel inside the instance's namespaces).

Commands:
  run [-d DISTRO] [-u USER] [--cd DIR] [--net all|loopback|none] [--net-raw]
      [-p HOSTPORT:GUESTPORT]... [--trap-paths] [--] CMD [ARG...]
                                      run CMD in the distro's instance, with this
                                      terminal's stdin/stdout/stderr and environment;
                                      --trap-paths: the instance it starts sends every
                                      path call to fssrv and every exec to procsrv
                                      (for lx trace; slower)
  shell [-d DISTRO] [-u USER] [--net MODE] [-p HOST:GUEST]...
                                      a login shell in the distro's instance, on a pty
  import NAME TARBALL|-               unpack a root filesystem tarball (plain, gzip,
                                      xz, zstd; a 'docker export' works) as distro NAME
  import --in-place NAME DIR          register an existing root directory as NAME
  export NAME FILE|-                  write NAME's root as a tarball (.gz .xz .zst)
  list [-v] [--json]                  the registered distros
  set-default NAME                    the distro 'lx run' uses without -d
                                      ('default' is the host root, read-only)
  set-mounts NAME [HOSTDIR:GUESTDIR[:ro]]...
                                      host directories every run of NAME mounts
                                      (as with run --mount); none clears them
  config NAME [memory=SIZE]           NAME's settings (shown without arguments):
                                      memory, its instance's memory bound
  unregister NAME                     stop NAME and remove it (and its files, unless
                                      it was registered in place)
  terminate NAME                      stop NAME's instance now
  restart [-d DISTRO] [--binary PATH] COMPONENT
                                      replace a server (procsrv, fssrv, netsrv, sigsrv)
                                      or the router of a running instance, the guests
                                      running on; --binary runs it from another lx build
  trace [--for DURATION] [--trap-paths] SERVER...
                                      print one line per call served by the named
                                      servers (procsrv, fssrv, netsrv, sigsrv); path
                                      calls the kernel resolves and execs run natively
                                      and reach fssrv and procsrv only in a --trap-paths
                                      instance
  ps [-d DISTRO] [--json]             the instance's process tree: guest pid, parent,
                                      group, session, user, state, threads, command
  status [-v] [--json]                the running instances and their servers (restarts,
                                      hangs, last cause); -v adds the supervision table
  shutdown                            stop every instance and the broker
  syscalls [-d DISTRO] [--trap-paths] print the route table the distro's instance runs
                                      (the running one's, else a new one's)
  broker [--grace D] [--stop-timeout D]
                                      run the broker in the foreground (normally
                                      started on demand; LX_GRACE sets its grace)

Run 'lx COMMAND -h' for a command's options.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	nameProcess(cmd)
	switch cmd {
	case "broker", "keeper", "init":
		// What these exec gets only the fds they pass on explicitly: an fd
		// they inherited (init's copy of the keeper's end of its control
		// socket, a stray fd of the shell that started the first lx) must
		// never reach a guest.
		unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	}
	var err error
	switch cmd {
	case "run":
		err = cmdRun(args)
	case "trace":
		err = cmdTrace(args)
	case "status":
		err = cmdStatus(args)
	case "ps":
		err = cmdPs(args)
	case "shutdown":
		err = client.Shutdown()
	case "shell":
		err = cmdShell(args)
	case "import":
		err = cmdImport(args)
	case "export":
		err = cmdExport(args)
	case "list", "ls":
		err = cmdList(args)
	case "set-default":
		err = oneName("set-default", args, distro.SetDefault)
	case "set-mounts":
		err = cmdSetMounts(args)
	case "config":
		err = cmdConfig(args)
	case "unregister":
		err = oneName("unregister", args, distro.Unregister)
	case "terminate":
		err = oneName("terminate", args, client.Terminate)
	case "restart":
		err = cmdRestart(args)
	case "syscalls":
		err = cmdSyscalls(args)
	case "broker":
		err = cmdBroker(args)
	case "init":
		err = pid1.Init()
	case "keeper":
		err = keeper.Keeper()
	case "component":
		err = roleComponent(args)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "lx: unknown command %q; run 'lx --help' for the list\n", cmd)
		os.Exit(2)
	}
	if err != nil {
		var ee *proto.ExitError
		if errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, ee.Text)
			os.Exit(ee.Status)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "lx: ") {
			msg = "lx: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		if cmd == "run" {
			os.Exit(125) // lx's own failure, apart from the command's statuses
		}
		os.Exit(1)
	}
}

func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: lx %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses a command's flags and wants between min and max
// arguments after them (max -1: no bound), else prints the usage and exits 2.
func parseArgs(fs *flag.FlagSet, args []string, min, max int) {
	fs.Parse(args)
	if n := fs.NArg(); n < min || (max >= 0 && n > max) {
		fs.Usage()
		os.Exit(2)
	}
}

// netFlags adds the network options of run and shell. LX_NET is --net's
// default.
func netFlags(fs *flag.FlagSet, o *proto.NetOptions) {
	fs.StringVar(&o.Mode, "net", os.Getenv("LX_NET"), "the instance's network, when this run starts it: all (the host's), loopback (its own loopback only) or none (no IP sockets); a running instance in another mode is refused")
	fs.BoolVar(&o.Raw, "net-raw", false, "allow raw and packet sockets in the instance it starts")
	fs.Var((*listFlag)(&o.Publish), "publish", "HOSTPORT:GUESTPORT: a guest's bind of GUESTPORT binds HOSTPORT of the host, while this run lasts (repeatable; -p)")
	fs.Var((*listFlag)(&o.Publish), "p", "short for --publish")
}

// trapPathsFlag adds --trap-paths. LX_TRAP_PATHS (non-empty) is its default.
func trapPathsFlag(fs *flag.FlagSet, v *bool) {
	fs.BoolVar(v, "trap-paths", os.Getenv("LX_TRAP_PATHS") != "", "the instance it starts traps every path call and exec, so that lx trace fssrv and procsrv show them all (slower: by default the ones the kernel resolves run natively); a running instance without it is refused")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// mounts is the repeatable --mount flag.
type mounts []proto.Mount

func (m *mounts) String() string { return "" }

func (m *mounts) Set(spec string) error {
	mnt, err := client.ParseMount(spec)
	if err == nil {
		*m = append(*m, mnt)
	}
	return err
}

// runFlags are the flags lx run and lx shell share.
type runOptions struct {
	distro string
	client.RunOptions
}

func runFlags(fs *flag.FlagSet, what string) *runOptions {
	var o runOptions
	fs.StringVar(&o.distro, "d", "", "the distro whose instance runs "+what+" (default: 'lx set-default', else the host root, read-only)")
	fs.StringVar(&o.Cwd, "cd", "", "the directory "+what+" starts in (default: this one for the host root, the user's home in a distro)")
	fs.StringVar(&o.User, "u", "", "run as this user of the instance (default: root)")
	netFlags(fs, &o.Net)
	trapPathsFlag(fs, &o.TrapPaths)
	fs.Var((*mounts)(&o.Mounts), "mount", "mount host directory HOSTDIR at GUESTDIR in the instance, read-only with :ro (HOSTDIR:GUESTDIR[:ro]; repeatable; it stays until the instance stops)")
	fs.Var((*memoryFlag)(&o.Memory), "memory", "the memory bound of the instance it starts, e.g. 4G (default: LX_MEMORY, else the distro's 'lx config', else half the host's memory); a running instance with another is refused")
	if v := os.Getenv("LX_MEMORY"); v != "" {
		if b, err := proto.ParseSize(v); err == nil {
			o.Memory = b
		}
	}
	return &o
}

// memoryFlag is --memory SIZE.
type memoryFlag int64

func (m *memoryFlag) String() string {
	if *m == 0 {
		return ""
	}
	return proto.FormatSize(int64(*m))
}

func (m *memoryFlag) Set(s string) error {
	b, err := proto.ParseSize(s)
	*m = memoryFlag(b)
	return err
}

func cmdRun(args []string) error {
	fs := newFlags("run", "[-d DISTRO] [-u USER] [--cd DIR] [--mount HOSTDIR:GUESTDIR[:ro]]... [--net MODE] [-p HOST:GUEST]... [--] CMD [ARG...]")
	o := runFlags(fs, "CMD")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		fs.Usage()
		os.Exit(2)
	}
	code, err := run(argv, o)
	if err != nil {
		return err
	}
	os.Exit(code)
	return nil
}

// run runs argv in the distro o names.
func run(argv []string, o *runOptions) (int, error) {
	d, err := distro.Resolve(o.distro)
	if err != nil {
		return 125, err
	}
	return client.Run(argv, d.Target(), o.RunOptions)
}

// loginShell runs the instance's bash, else sh, as a login shell.
var loginShell = []string{"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l"}

func cmdShell(args []string) error {
	fs := newFlags("shell", "[-d DISTRO] [-u USER] [--cd DIR] [--mount HOSTDIR:GUESTDIR[:ro]]... [--net MODE] [-p HOST:GUEST]...")
	o := runFlags(fs, "the shell")
	parseArgs(fs, args, 0, 0)
	code, err := run(loginShell, o)
	if err != nil {
		return err
	}
	os.Exit(code)
	return nil
}

func cmdTrace(args []string) error {
	fs := newFlags("trace", "[--for DURATION] [--trap-paths] SERVER...")
	dur := fs.Duration("for", 0, "stop after this long (default: until interrupted)")
	dname := fs.String("d", "", "the distro whose instance to trace")
	var trapPaths bool
	trapPathsFlag(fs, &trapPaths)
	parseArgs(fs, args, 1, -1)
	// The same distro, with the same root, that `lx run -d` would start.
	d, err := distro.Resolve(*dname)
	if err != nil {
		return err
	}
	first := true
	return client.Stream(&proto.Request{Op: proto.OpTrace, Distro: d.Name, Root: d.Root, TrapPaths: trapPaths,
		Trace: &proto.Trace{Servers: fs.Args(), Seconds: dur.Seconds()}},
		func(line string) {
			if first { // the broker's "tracing is on", with a notice or ""
				first = false
				fmt.Fprintln(os.Stderr, "lx: tracing", strings.Join(fs.Args(), ", "))
				if line != "" {
					fmt.Fprintln(os.Stderr, "lx:", line)
				}
				return
			}
			fmt.Println(line)
		})
}

// cmdSyscalls is `lx syscalls [-d DISTRO] [--trap-paths]`: the route table
// the distro's instance runs (its profile: the running instance's, else
// the one it would be started with).
func cmdSyscalls(args []string) error {
	fs := newFlags("syscalls", "[-d DISTRO] [--trap-paths]")
	dname := fs.String("d", "", "the distro whose instance's table to print (default: 'lx set-default', else the host root)")
	var trapPaths bool
	trapPathsFlag(fs, &trapPaths)
	parseArgs(fs, args, 0, 0)
	d, err := distro.Resolve(*dname)
	if err != nil {
		return err
	}
	name := d.Name
	p, running := client.Profile(name, d.Root, trapPaths)
	when := "if started now"
	if running {
		when = "running"
	}
	fmt.Printf("# instance %s (%s): %s\n", name, when, p)
	routes.Format(os.Stdout, p.Routes())
	return nil
}

func cmdStatus(args []string) error {
	fs := newFlags("status", "[-v] [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "also print the supervision table")
	fs.Parse(args)
	return client.Stream(&proto.Request{Op: proto.OpStatus}, func(line string) {
		if *asJSON {
			fmt.Println(line)
			return
		}
		printStatus(line, *verbose)
	})
}

func cmdRestart(args []string) error {
	fs := newFlags("restart", "[-d DISTRO] [--binary PATH] COMPONENT")
	dname := fs.String("d", "", "the distro whose instance it is (default: the one 'lx run' uses)")
	binary := fs.String("binary", "", "run the component from this lx binary from now on (e.g. a newer build)")
	parseArgs(fs, args, 1, 1)
	d, err := distro.Resolve(*dname)
	if err != nil {
		return err
	}
	if *binary != "" {
		if *binary, err = filepath.Abs(*binary); err != nil {
			return err
		}
	}
	return client.Stream(&proto.Request{Op: proto.OpRestart, Distro: d.Name, Restart: &proto.Restart{Component: fs.Arg(0), Binary: *binary}}, func(string) {})
}

func cmdBroker(args []string) error {
	fs := newFlags("broker", "[--grace DURATION]")
	grace := fs.Duration("grace", 3*time.Second, "how long an instance outlives its last client (0 allowed)")
	stop := fs.Duration("stop-timeout", 3*time.Second, "how long guests get between SIGTERM and SIGKILL when an instance stops")
	fs.Bool("foreground", true, "run in the foreground (always)")
	fs.Parse(args)
	return lxbroker.Serve(lxbroker.Options{Grace: *grace, StopTimeout: *stop, Log: logger("broker"), Components: components.Data()})
}

// nameProcess gives the hidden roles a name ps shows (lx-init, lx-keeper,
// lx-broker; a component takes its name from its launch config) instead of
// the "exe" of /proc/self/exe.
func nameProcess(cmd string) {
	switch cmd {
	case "init", "keeper", "broker":
		setName("lx-" + cmd)
	}
}

// setName sets the calling thread's comm.
func setName(name string) {
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append([]byte(name), 0)[0])), 0, 0, 0)
}
