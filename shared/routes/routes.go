// Package routes is lx's one route table: for every x86-64 syscall number it
// says whether the guest's call runs natively, goes to a server (procsrv,
// fssrv, netsrv, sigsrv) through the seccomp listener, or fails with a fixed
// errno. The seccomp filter (shared/seccomp), the router and each server's
// handler table are derived from it; `lx syscalls` prints it (Format).
//
// The table itself is in table.go.
//
// Runs in: the broker, init (the filter), the router, the servers and the
// lx command (lx syscalls). Owns: the table. Waits on: nobody.
package routes

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
)

// Kind is what happens to a syscall.
type Kind uint8

const (
	Unknown Kind = iota // no syscall has this number: the router answers ENOSYS and logs once
	Native              // SECCOMP_RET_ALLOW
	Proc                // trapped, served by procsrv
	FS                  // trapped, fssrv
	Net                 // trapped, netsrv
	Sig                 // trapped, sigsrv
	Deny                // SECCOMP_RET_ERRNO with Route.Errno
)

var kindNames = [...]string{
	Unknown: "unknown",
	Native:  "native",
	Proc:    "proc",
	FS:      "fs",
	Net:     "net",
	Sig:     "sig",
	Deny:    "deny",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Server returns the name of the server that serves trapped calls of kind k,
// or "" when k is not served by a server.
func (k Kind) Server() string {
	switch k {
	case Proc:
		return "procsrv"
	case FS:
		return "fssrv"
	case Net:
		return "netsrv"
	case Sig:
		return "sigsrv"
	}
	return ""
}

// trapped reports whether calls of kind k go to a server.
func (k Kind) trapped() bool { return k.Server() != "" }

// ServerKinds returns the kinds served by a server, in start order.
func ServerKinds() []Kind { return []Kind{Proc, FS, Net, Sig} }

// Op is how an ArgRule compares an argument.
type Op uint8

const (
	OpEq       Op = iota // full 64-bit args[Arg] == Val
	OpMaskAny            // low 32 bits: args[Arg]&Val != 0
	OpMaskNone           // low 32 bits: args[Arg]&Val == 0
)

// ArgRule lets the filter run a trapped call natively when an argument matches.
type ArgRule struct {
	Arg int // argument index, 0..5
	Op  Op
	Val uint64 // for OpMaskAny and OpMaskNone, a 32-bit mask
	// None, when not 0, is a 32-bit mask of bits that must all be clear
	// too: the rule matches only if Op's comparison holds and
	// args[Arg]&None == 0 (a thread clone, CLONE_THREAD, without
	// namespace flags).
	None uint64
}

// Match reports whether argument value a satisfies the rule, as the
// filter compares it.
func (r ArgRule) Match(a uint64) bool {
	if r.None != 0 && uint32(a)&uint32(r.None) != 0 {
		return false
	}
	switch r.Op {
	case OpEq:
		return a == r.Val
	case OpMaskAny:
		return uint32(a)&uint32(r.Val) != 0
	case OpMaskNone:
		return uint32(a)&uint32(r.Val) == 0
	}
	return false
}

// String returns the rule in C form, e.g. "args[3]&0x1000".
func (r ArgRule) String() string {
	var s string
	switch r.Op {
	case OpEq:
		s = fmt.Sprintf("args[%d]==%#x", r.Arg, r.Val)
	case OpMaskAny:
		s = fmt.Sprintf("args[%d]&%#x", r.Arg, r.Val)
	case OpMaskNone:
		s = fmt.Sprintf("!(args[%d]&%#x)", r.Arg, r.Val)
	default:
		s = fmt.Sprintf("args[%d] op(%d) %#x", r.Arg, r.Op, r.Val)
	}
	if r.None != 0 {
		s += fmt.Sprintf(" && !(args[%d]&%#x)", r.Arg, r.None)
	}
	return s
}

// Route is what happens to one syscall number.
type Route struct {
	Nr       int
	Name     string
	Kind     Kind       // what happens to the call (for trapped kinds: which server gets it)
	Errno    unix.Errno // for Deny
	NativeIf *ArgRule   // optional; only on trapped kinds: when it matches, the filter allows the call natively
	Pass     Pass       // for FS: whether the kernel alone resolves it (Profile)
	Note     string     // optional short reason
}

// byNr is the table indexed by syscall number; Kind is Unknown where the
// table has no entry.
var byNr = mustIndex(table)

// Lookup returns the route of syscall nr. Outside the table, and for numbers
// no syscall has, it returns Route{Nr: nr, Name: abi.SyscallName(nr), Kind: Unknown}.
func Lookup(nr int) Route {
	if nr >= 0 && nr < len(byNr) && byNr[nr].Kind != Unknown {
		return clone(byNr[nr])
	}
	return Route{Nr: nr, Name: abi.SyscallName(nr), Kind: Unknown}
}

// All returns the route of every numbered syscall 0..abi.NSyscalls-1 that has
// a name, in number order.
func All() []Route {
	rs := make([]Route, 0, len(table))
	for nr, name := range abi.SyscallNames {
		if name != "" {
			rs = append(rs, Lookup(nr))
		}
	}
	return rs
}

// ForServer returns the routes of kind k, in number order.
func ForServer(k Kind) []Route {
	var rs []Route
	for _, r := range All() {
		if r.Kind == k {
			rs = append(rs, r)
		}
	}
	return rs
}

// clone returns r with its own copy of NativeIf, so callers cannot change the table.
func clone(r Route) Route {
	if r.NativeIf != nil {
		rule := *r.NativeIf
		r.NativeIf = &rule
	}
	return r
}

func mustIndex(entries []Route) *[abi.NSyscalls]Route {
	idx, err := index(entries)
	if err != nil {
		panic("routes: " + err.Error())
	}
	return idx
}

// index places each entry at its syscall number, found by name, and checks
// that the entry is well formed. Names that are not syscalls, names listed
// twice and malformed entries are errors; syscalls with no entry are not
// (TestTableCoversEverySyscall catches those).
func index(entries []Route) (*[abi.NSyscalls]Route, error) {
	idx := new([abi.NSyscalls]Route)
	for _, e := range entries {
		nr, ok := abi.SyscallNumber(e.Name)
		if !ok {
			return nil, fmt.Errorf("%q is not an x86-64 syscall", e.Name)
		}
		if idx[nr].Kind != Unknown {
			return nil, fmt.Errorf("%s listed twice", e.Name)
		}
		if err := check(e); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		e.Nr = nr
		idx[nr] = e
	}
	return idx, nil
}

func check(r Route) error {
	switch {
	case r.Kind == Unknown || r.Kind > Deny:
		return fmt.Errorf("kind %v is not a route", r.Kind)
	case r.Kind == Deny && (r.Errno == 0 || r.Errno > 0xffff):
		return fmt.Errorf("deny needs an errno in 1..65535, have %d", uintptr(r.Errno))
	case r.Kind != Deny && r.Errno != 0:
		return fmt.Errorf("errno %v on a %v route", r.Errno, r.Kind)
	case r.Pass != PassNever && r.Kind != FS:
		return fmt.Errorf("a pass mark on a %v route", r.Kind)
	case r.NativeIf == nil:
		return nil
	case !r.Kind.trapped():
		return fmt.Errorf("argument rule on a %v route", r.Kind)
	case r.NativeIf.Arg < 0 || r.NativeIf.Arg > 5:
		return fmt.Errorf("argument rule on args[%d]", r.NativeIf.Arg)
	case (r.NativeIf.Op == OpMaskAny || r.NativeIf.Op == OpMaskNone) && (r.NativeIf.Val == 0 || r.NativeIf.Val > 0xffffffff):
		return fmt.Errorf("mask %#x is not a non-zero 32-bit mask", r.NativeIf.Val)
	case r.NativeIf.Op != OpEq && r.NativeIf.Op != OpMaskAny && r.NativeIf.Op != OpMaskNone:
		return fmt.Errorf("unknown argument op %d", r.NativeIf.Op)
	case r.NativeIf.None > 0xffffffff:
		return fmt.Errorf("mask %#x is not a 32-bit mask", r.NativeIf.None)
	}
	return nil
}

// Format prints the route table rs as aligned text, one syscall a line:
// number, name, route, errno or argument rule, note. It backs `lx
// syscalls` (rs: a profile's Routes).
func Format(w io.Writer, rs []Route) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NR\tNAME\tROUTE\tERRNO/RULE\tNOTE")
	for _, r := range rs {
		route, detail := r.Kind.String(), ""
		switch {
		case r.Kind == Deny:
			detail = unix.ErrnoName(r.Errno)
		case r.NativeIf != nil:
			detail = "native if " + r.NativeIf.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Nr, r.Name, route, detail, r.Note)
	}
	tw.Flush()
	// tabwriter pads empty last cells; drop the trailing blanks.
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

// NamespaceFlags are the clone and unshare flags that would make a
// namespace inside the instance, out of its servers' view.
const NamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Profile is what an instance lets run natively although the table routes
// it to a server: for each such call the server would only answer
// CONTINUE without looking at it, so the kernel gives the same answer in
// the guest's own context, and the filter saves the listener's round
// trip. Routes derives the instance's table from it; the filter init
// installs, the router, the servers and `lx syscalls -d` all use that one
// derivation.
type Profile struct {
	// TrapPaths: every path call and exec goes to its server (lx run
	// --trap-paths), so that lx trace shows them all.
	TrapPaths bool `msgpack:"trap_paths" json:"trap_paths"`
	// Recorded: the distro's files may carry owners and devices recorded
	// in xattrs (an unprivileged user's import), which fssrv shows in stat
	// and sets in chown and mknod: those calls stay fssrv's.
	Recorded bool `msgpack:"recorded" json:"recorded"`
	// NativeForks: the kernel bounds the instance's tasks (a pids cgroup,
	// or RLIMIT_NPROC of the guests' user namespace), so procsrv need not
	// count forks.
	NativeForks bool `msgpack:"native_forks" json:"native_forks"`
	// NativeExecs: the instance's binfmt_misc refuses 32-bit programs, the
	// one check procsrv's exec makes that the kernel would not.
	NativeExecs bool `msgpack:"native_execs" json:"native_execs"`
}

// Pass says when a path call is the kernel's alone.
type Pass uint8

const (
	PassNever      Pass = iota // its server serves it (mounts, quotas)
	PassAlways                 // the kernel resolves it in the guest's context
	PassUnrecorded             // likewise, but for a distro with recorded owners (stat, chown, mknod), which fssrv serves
)

// passes reports whether the path call r is the kernel's alone under p.
func (p Profile) passes(r Route) bool {
	return r.Kind == FS && (r.Pass == PassAlways || (r.Pass == PassUnrecorded && !p.Recorded))
}

// Routes is the route table of an instance of profile p: the table with
// the calls p lets run natively made Native (or, for clone, native without
// namespace flags), each with a note that says why.
func (p Profile) Routes() []Route {
	rs := All()
	for i := range rs {
		r := &rs[i]
		switch {
		case !p.TrapPaths && p.passes(*r):
			r.Kind, r.NativeIf, r.Pass = Native, nil, PassNever
			r.Note = "native in this instance: the kernel resolves it"
		case p.NativeForks && (r.Nr == unix.SYS_FORK || r.Nr == unix.SYS_VFORK):
			r.Kind = Native
			r.Note = "native in this instance: the kernel bounds its tasks"
		case p.NativeForks && r.Nr == unix.SYS_CLONE:
			r.NativeIf = &ArgRule{Arg: 0, Op: OpMaskNone, Val: NamespaceFlags}
			r.Note = "native without namespace flags in this instance: the kernel bounds its tasks"
		case p.NativeExecs && !p.TrapPaths && (r.Nr == unix.SYS_EXECVE || r.Nr == unix.SYS_EXECVEAT):
			r.Kind = Native
			r.Note = "native in this instance: its binfmt_misc refuses 32-bit programs"
		}
	}
	return rs
}

// PassCalls are the path calls an instance of profile p sends to fssrv
// although fssrv only answers them CONTINUE unseen (a --trap-paths
// instance): the router answers them itself while nobody traces fssrv,
// saving a hand-off.
func (p Profile) PassCalls() []int {
	if !p.TrapPaths {
		return nil // they run natively
	}
	var nrs []int
	for _, r := range All() {
		if p.passes(r) {
			nrs = append(nrs, r.Nr)
		}
	}
	return nrs
}

// String says in words what the profile runs natively, for lx status and
// lx syscalls.
func (p Profile) String() string {
	paths, forks, execs := "paths native", "forks trapped", "execs trapped"
	if p.TrapPaths {
		paths = "paths trapped"
	} else if p.Recorded {
		paths = "paths native but stat, chown and mknod (recorded owners)"
	}
	if p.NativeForks {
		forks = "forks native"
	}
	if p.NativeExecs && !p.TrapPaths {
		execs = "execs native"
	}
	return paths + ", " + forks + ", " + execs
}
