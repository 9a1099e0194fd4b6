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
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/spf13/pflag"
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

// version is lx's version (-ldflags "-X main.version=..." sets it).
var version = "0.18.0-dev"

func main() {
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	nameProcess(cmd)
	var err error
	switch cmd {
	case "init", "keeper":
		// What these exec gets only the fds they pass on explicitly: an fd
		// they inherited (init's copy of the keeper's end of its control
		// socket) must never reach a guest.
		unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
		if cmd == "init" {
			err = pid1.Init()
		} else {
			err = keeper.Keeper()
		}
	case "component":
		err = roleComponent(os.Args[2:])
	default:
		if cmd == "broker" {
			// A daemon keeps nothing its starter did not mean to give it
			// (the lock of an flock(1) the first lx ran under).
			closeInherited()
		}
		// A user command. Nothing it starts (the broker above all) gets an
		// fd this process inherited (a lock of flock(1), a pipe of the
		// shell): Go opens its own close-on-exec, so this marks only those.
		unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
		os.Exit(execute(os.Args[1:]))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lx: "+strings.TrimPrefix(err.Error(), "lx: "))
		os.Exit(1)
	}
}

// netFlags adds the network options of run and shell. LX_NET is --net's
// default.
func netFlags(fs *pflag.FlagSet, o *proto.NetOptions) {
	fs.StringVar(&o.Mode, "net", os.Getenv("LX_NET"), "the instance's network, when this run starts it: all (the host's), loopback (its own loopback only) or none (no IP sockets); a running instance in another `MODE` is refused (default: LX_NET, else all)")
	fs.BoolVar(&o.Raw, "net-raw", false, "allow raw and packet sockets in the instance it starts")
	fs.StringArrayVarP(&o.Publish, "publish", "p", nil, "a guest's bind of GUESTPORT binds HOSTPORT of the host, while this run lasts (`HOSTPORT:GUESTPORT`; repeatable)")
}

// trapPathsFlag adds --trap-paths. LX_TRAP_PATHS (non-empty) is its default.
func trapPathsFlag(fs *pflag.FlagSet, v *bool) {
	fs.BoolVar(v, "trap-paths", os.Getenv("LX_TRAP_PATHS") != "", "the instance it starts traps every path call and exec, so that lx trace fssrv and procsrv show them all (slower: by default the ones the kernel resolves run natively); a running instance without it is refused (default: LX_TRAP_PATHS set)")
}

// mounts is the repeatable --mount flag.
type mounts []proto.Mount

func (m *mounts) String() string { return "" }
func (m *mounts) Type() string   { return "HOSTDIR:GUESTDIR[:ro]" }

func (m *mounts) Set(spec string) error {
	mnt, err := client.ParseMount(spec)
	if err == nil {
		*m = append(*m, mnt)
	}
	return err
}

// runOptions are the options lx run and lx shell share.
type runOptions struct {
	distro string
	client.RunOptions
}

func runFlags(fs *pflag.FlagSet, o *runOptions, what string) {
	distroFlag(fs, &o.distro, "the distro whose instance runs "+what)
	fs.StringVar(&o.Cwd, "cd", "", "the `DIR` "+what+" starts in, entered as the user (default: this one for the host root, the user's home in a distro)")
	fs.StringVarP(&o.User, "user", "u", "", "run as this `USER` of the instance (default: root)")
	fs.Var((*mounts)(&o.Mounts), "mount", "mount host directory HOSTDIR at GUESTDIR, an existing directory of the instance, read-only with :ro (repeatable; it stays until the instance stops)")
	netFlags(fs, &o.Net)
	trapPathsFlag(fs, &o.TrapPaths)
	if v := os.Getenv("LX_MEMORY"); v != "" {
		if b, err := proto.ParseSize(v); err == nil {
			o.Memory = b
		}
	}
	fs.Var((*memoryFlag)(&o.Memory), "memory", "the memory bound of the instance it starts, e.g. 4G (default: LX_MEMORY, else the distro's 'lx config', else half the host's memory); a running instance with another is refused")
}

// memoryFlag is --memory SIZE.
type memoryFlag int64

func (m *memoryFlag) String() string {
	if *m == 0 {
		return ""
	}
	return proto.FormatSize(int64(*m))
}

func (m *memoryFlag) Type() string { return "SIZE" }

func (m *memoryFlag) Set(s string) error {
	b, err := proto.ParseSize(s)
	*m = memoryFlag(b)
	return err
}

// runIn runs argv in the distro o names.
func runIn(argv []string, o *runOptions) (int, error) {
	d, err := distro.Resolve(o.distro)
	if err != nil {
		return 125, err
	}
	return client.Run(argv, d.Target(), o.RunOptions)
}

// loginShell runs the instance's bash, else sh, as a login shell.
var loginShell = []string{"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l"}

// printSyscalls prints the route table the distro's instance runs (its
// profile: the running instance's, else the one it would be started with).
func printSyscalls(dname string, trapPaths bool) error {
	d, err := distro.Resolve(dname)
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

func statusOf(verbose, asJSON bool) error {
	return client.Stream(&proto.Request{Op: proto.OpStatus}, func(line string) {
		if asJSON {
			fmt.Println(line)
			return
		}
		printStatus(line, verbose)
	})
}

func restartComponent(dname, binary, component string) error {
	d, err := distro.Resolve(dname)
	if err != nil {
		return err
	}
	if binary != "" {
		if binary, err = filepath.Abs(binary); err != nil {
			return err
		}
	}
	return client.Stream(&proto.Request{Op: proto.OpRestart, Distro: d.Name, Restart: &proto.Restart{Component: component, Binary: binary}}, func(string) {})
}

func serveBroker(grace, stop time.Duration) error {
	return lxbroker.Serve(lxbroker.Options{Grace: grace, StopTimeout: stop, Log: logger("broker"), Components: components.Data()})
}

// closeInherited closes every fd from 3 up that is not close-on-exec:
// the ones this process inherited, since Go opens its own close-on-exec.
func closeInherited() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
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
