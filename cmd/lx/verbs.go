package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

// verbs are lx's user commands, in the order `lx help` lists them.
func verbs() []verb {
	var (
		run, shell   runOptions
		imp          importOptions
		exp          exportOptions
		list, status struct{ verbose, json bool }
		ps           struct {
			distro string
			json   bool
		}
		syscalls struct {
			distro    string
			trapPaths bool
		}
		restart           struct{ distro, binary string }
		tr                traceOptions
		grace, stopTimout time.Duration
	)
	return []verb{{
		use:   "run [-d DISTRO] [-u USER] [--cd DIR] [--mount HOSTDIR:GUESTDIR[:ro]]... [--net all|loopback|none] [--net-raw] [-p HOSTPORT:GUESTPORT]... [--memory SIZE] [--trap-paths] [--] CMD [ARG...]",
		short: "run CMD in the distro's instance, with this terminal's stdin, stdout, stderr and environment",
		long: `The first run of a distro starts its instance (and the broker); the
instance stops a few seconds after its last client. Under the default distro
(the host root, read-only) CMD starts in this working directory, bound
read-write; in an imported distro, in the user's home. The exit status is
CMD's; 125 is lx's own failure, 126 a CMD that cannot run, 127 one not
found. Arguments after CMD are CMD's own.`,
		args:          args(1, -1, "a command to run"),
		flags:         func(fs *pflag.FlagSet) { runFlags(fs, &run, "CMD") },
		stopAtCommand: true,
		run: func(c *cobra.Command, a []string) error {
			return exitWith(runIn(a, &run))
		},
		complete: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveDefault
		},
	}, {
		use:   "shell [-d DISTRO] [-u USER] [--cd DIR] [--mount HOSTDIR:GUESTDIR[:ro]]... [--net MODE] [--net-raw] [-p HOSTPORT:GUESTPORT]... [--memory SIZE] [--trap-paths]",
		short: "a login shell (bash, else sh) in the distro's instance, on a pty",
		args:  args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) { runFlags(fs, &shell, "the shell") },
		run: func(c *cobra.Command, a []string) error {
			return exitWith(runIn(loginShell, &shell))
		},
		complete: noArgs,
	}, {
		use:   "import [--in-place [--force]] NAME TARBALL|-|DIR",
		short: "unpack a root filesystem tarball (plain, gzip, xz, zstd or bzip2; a 'docker export' works) as distro NAME, or with --in-place register the directory DIR",
		long: `The tarball's owners, modes, links, device nodes, xattrs and sparse files
are kept (for an unprivileged user, owners and devices are recorded in
xattrs that fssrv shows). '-' reads the tarball from stdin. A new distro
is not the default: 'lx set-default NAME' makes it so.`,
		args:     args(2, 2, "NAME and a tarball, - or (with --in-place) a directory"),
		flags:    func(fs *pflag.FlagSet) { importFlags(fs, &imp) },
		run:      func(c *cobra.Command, a []string) error { return doImport(a[0], a[1], imp) },
		complete: completeFirst(noArgs),
	}, {
		use:   "export [--format FORMAT] NAME FILE|-",
		short: "write NAME's root as a tarball, compressed as FILE's suffix (.tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.zst/.tzst) or --format says ('-' is stdout)",
		long: `gzip and zstd compress on every CPU; xz on one (Go's xz writer has no
multi-threaded mode). On a terminal, stderr shows the bytes written, the rate
and the time left; elsewhere export is quiet.`,
		args:     args(2, 2, "NAME and a file (or -)"),
		flags:    func(fs *pflag.FlagSet) { exportFlags(fs, &exp) },
		run:      func(c *cobra.Command, a []string) error { return doExport(a[0], a[1], exp) },
		complete: completeFirst(completeDistros),
	}, {
		use:     "list [-v] [--json]",
		aliases: []string{"ls"},
		short:   "the registered distros: name, state, default (*); -v adds where each lives and its mounts",
		args:    args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&list.verbose, "verbose", "v", false, "also show each distro's location and mounts")
			fs.BoolVar(&list.json, "json", false, "print JSON")
		},
		run:      func(c *cobra.Command, a []string) error { return listDistros(list.verbose, list.json) },
		complete: noArgs,
	}, {
		use:      "set-default NAME",
		short:    "the distro 'lx run' uses without -d ('default' is the host root, read-only)",
		args:     args(1, 1, "a distro NAME"),
		run:      func(c *cobra.Command, a []string) error { return distro.SetDefault(a[0]) },
		complete: completeOnly(completeDistros),
	}, {
		use:      "set-mounts NAME [HOSTDIR:GUESTDIR[:ro]]...",
		short:    "host directories every run of NAME mounts (as with run --mount); none clears them",
		args:     args(1, -1, "a distro NAME"),
		run:      func(c *cobra.Command, a []string) error { return setMounts(a[0], a[1:]) },
		complete: completeFirst(completeDistros),
	}, {
		use:      "config NAME [memory=SIZE]...",
		short:    "NAME's settings, shown without arguments: memory, its instance's memory bound (e.g. 4G; default: half the host's memory)",
		args:     args(1, -1, "a distro NAME"),
		run:      func(c *cobra.Command, a []string) error { return config(a[0], a[1:]) },
		complete: completeOnly(completeDistros),
	}, {
		use:      "unregister NAME",
		short:    "stop NAME's instance and remove NAME with its files (never the files of a distro registered in place)",
		args:     args(1, 1, "a distro NAME"),
		run:      func(c *cobra.Command, a []string) error { return distro.Unregister(a[0]) },
		complete: completeOnly(completeDistros),
	}, {
		use:      "terminate NAME",
		short:    "stop NAME's instance now, with every process in it",
		args:     args(1, 1, "a distro NAME"),
		run:      func(c *cobra.Command, a []string) error { return terminate(a[0]) },
		complete: completeOnly(completeDistros),
	}, {
		use:   "ps [-d DISTRO] [--json]",
		short: "the instance's process tree: guest pid, parent, group, session, user, state, threads, command",
		args:  args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) {
			distroFlag(fs, &ps.distro, "the distro whose instance to list")
			fs.BoolVar(&ps.json, "json", false, "print JSON")
		},
		run:      func(c *cobra.Command, a []string) error { return psOf(ps.distro, ps.json) },
		complete: noArgs,
	}, {
		use:   "status [-v] [--json]",
		short: "the running instances and their servers (pid, uptime, restarts, hangs, calls, last cause); -v adds the supervision table",
		args:  args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&status.verbose, "verbose", "v", false, "also print the supervision table")
			fs.BoolVar(&status.json, "json", false, "print JSON")
		},
		run:      func(c *cobra.Command, a []string) error { return statusOf(status.verbose, status.json) },
		complete: noArgs,
	}, {
		use:   "restart [-d DISTRO] [--binary PATH] COMPONENT",
		short: "replace a server (procsrv, fssrv, netsrv, sigsrv) or the router of a running instance, the guests running on",
		args:  args(1, 1, "a COMPONENT (procsrv, fssrv, netsrv, sigsrv or router)"),
		flags: func(fs *pflag.FlagSet) {
			distroFlag(fs, &restart.distro, "the distro whose instance it is")
			fs.StringVar(&restart.binary, "binary", "", "run the component from the lx binary `PATH` from now on (e.g. a newer build)")
		},
		run: func(c *cobra.Command, a []string) error {
			return restartComponent(restart.distro, restart.binary, a[0])
		},
		complete: completeOnly(fixed("procsrv", "fssrv", "netsrv", "sigsrv", "router")),
	}, {
		use:   "trace [-d DISTRO] [--for DURATION] [--trap-paths] [-e trace=CALL,...] [-p PID]... [-o FILE] [--json] [SERVER...]",
		short: "print the calls the named servers (procsrv, fssrv, netsrv, sigsrv; default: all) serve, strace style",
		long: `Path calls the kernel resolves and execs run natively and reach fssrv and
procsrv only in an instance started with --trap-paths; the trace says so
when it starts.`,
		args: args(0, -1, "servers"),
		flags: func(fs *pflag.FlagSet) {
			distroFlag(fs, &tr.Distro, "the distro whose instance to trace")
			traceFlags(fs, &tr)
		},
		run: func(c *cobra.Command, a []string) error {
			tr.Servers = a
			return trace(tr)
		},
		complete: fixed("procsrv", "fssrv", "netsrv", "sigsrv"),
	}, {
		use:      "shutdown",
		short:    "stop every instance and the broker",
		args:     args(0, 0, "no arguments"),
		run:      func(c *cobra.Command, a []string) error { return client.Shutdown() },
		complete: noArgs,
	}, {
		use:   "syscalls [-d DISTRO] [--trap-paths]",
		short: "print the route table the distro's instance runs (the running one's, else a new one's): what happens to each system call",
		args:  args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) {
			distroFlag(fs, &syscalls.distro, "the distro whose instance's table to print")
			trapPathsFlag(fs, &syscalls.trapPaths)
		},
		run:      func(c *cobra.Command, a []string) error { return printSyscalls(syscalls.distro, syscalls.trapPaths) },
		complete: noArgs,
	}, {
		use:   "broker [--grace DURATION] [--stop-timeout DURATION]",
		short: "run the broker in the foreground (normally started on demand)",
		args:  args(0, 0, "no arguments"),
		flags: func(fs *pflag.FlagSet) {
			g := 3 * time.Second
			if v, err := time.ParseDuration(os.Getenv("LX_GRACE")); err == nil {
				g = v
			}
			fs.DurationVar(&grace, "grace", g, "how long (`DURATION`, 0 allowed) an instance outlives its last client; LX_GRACE sets the default")
			fs.DurationVar(&stopTimout, "stop-timeout", 3*time.Second, "how long (`DURATION`) guests get between SIGTERM and SIGKILL when an instance stops")
		},
		run:      func(c *cobra.Command, a []string) error { return serveBroker(grace, stopTimout) },
		complete: noArgs,
	}}
}

// exitWith ends lx with a run's status, or returns its error.
func exitWith(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code}
	}
	return nil
}

// distroFlag adds -d/--distro.
func distroFlag(fs *pflag.FlagSet, v *string, what string) {
	fs.StringVarP(v, "distro", "d", "", what+": `DISTRO` (default: 'lx set-default', else the host root)")
}

// terminate stops distro name's instance: an unknown name is an error, a
// stopped one says so.
func terminate(name string) error {
	if name != proto.DefaultDistro {
		if _, err := distro.Lookup(name); err != nil {
			return err
		}
	}
	if !client.Running()[name] {
		os.Stderr.WriteString("lx: " + name + " is not running\n")
		return nil
	}
	return client.Terminate(name)
}
