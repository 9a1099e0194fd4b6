// Package routes is lx's one route table: for every x86-64 syscall number it
// says whether the guest's call runs natively, goes to a server (procsrv,
// fssrv, netsrv, sigsrv) through the seccomp listener, or fails with a fixed
// errno. The seccomp filter (shared/seccomp), the router and each server's
// handler table are derived from it; `lx syscalls` prints it (Format).
//
// The table itself is in table.go. This package owns no state beyond it and
// waits on nobody.
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
	nrOf := make(map[string]int, abi.NSyscalls)
	for nr, name := range abi.SyscallNames {
		if name != "" {
			nrOf[name] = nr
		}
	}
	idx := new([abi.NSyscalls]Route)
	for _, e := range entries {
		nr, ok := nrOf[e.Name]
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

// Format prints the table as aligned text, one syscall a line: number, name,
// route, errno or argument rule, note. It backs `lx syscalls`.
func Format(w io.Writer) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NR\tNAME\tROUTE\tERRNO/RULE\tNOTE")
	for _, r := range All() {
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

// Natively returns a copy of rs in which the calls nrs run natively: the FS
// calls an instance leaves to the kernel (fssrv.PassThrough). fssrv would
// only answer them CONTINUE, so the kernel resolves their names in the
// guest's mount namespace with the guest's credentials either way; the
// filter letting them through saves the listener's round trip, and costs
// fssrv's trace lines for them. Each must be an FS route; an argument rule
// it has no longer matters.
func Natively(rs []Route, nrs []int) ([]Route, error) {
	native := make(map[int]bool, len(nrs))
	for _, nr := range nrs {
		native[nr] = true
	}
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = clone(r)
		if !native[r.Nr] {
			continue
		}
		if r.Kind != FS {
			return nil, fmt.Errorf("%s (%d): only an FS route can run natively, not %v", r.Name, r.Nr, r.Kind)
		}
		out[i].Kind, out[i].NativeIf = Native, nil
		out[i].Note = "native in this instance: the kernel resolves it"
		delete(native, r.Nr)
	}
	for nr := range native {
		return nil, fmt.Errorf("syscall %d is not in the table", nr)
	}
	return out, nil
}

// NamespaceFlags are the clone and unshare flags that would make a
// namespace inside the instance, out of its servers' view.
const NamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// NativeForks returns a copy of rs in which fork, vfork and clone without
// namespace flags run natively: for an instance whose tasks the kernel
// bounds (a pids cgroup, RLIMIT_NPROC of the guests' user namespace),
// procsrv would only count them and answer CONTINUE. A clone with namespace
// flags still goes to procsrv.
func NativeForks(rs []Route) []Route {
	return edited(rs, func(r *Route) {
		switch r.Nr {
		case unix.SYS_FORK, unix.SYS_VFORK:
			r.Kind = Native
			r.Note = "native in this instance: the kernel bounds its tasks"
		case unix.SYS_CLONE:
			r.NativeIf = &ArgRule{Arg: 0, Op: OpMaskNone, Val: NamespaceFlags}
			r.Note = "native without namespace flags in this instance: the kernel bounds its tasks"
		}
	})
}

// NativeExecs returns a copy of rs in which execve and execveat run
// natively: for an instance whose kernel gives every check procsrv makes
// (the 32-bit case through the instance's binfmt_misc, lxbroker/binfmt.go),
// procsrv would only answer CONTINUE.
func NativeExecs(rs []Route) []Route {
	return edited(rs, func(r *Route) {
		if r.Nr == unix.SYS_EXECVE || r.Nr == unix.SYS_EXECVEAT {
			r.Kind = Native
			r.Note = "native in this instance: its binfmt_misc refuses 32-bit programs"
		}
	})
}

// edited returns a copy of rs with change made to every route.
func edited(rs []Route, change func(*Route)) []Route {
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = clone(r)
		change(&out[i])
	}
	return out
}
