package routes

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"lx/shared/abi"
)

// TestTableCoversEverySyscall checks that every named syscall has exactly one
// entry: none left out, none listed twice, no name that is not a syscall.
func TestTableCoversEverySyscall(t *testing.T) {
	count := make(map[string]int)
	for _, e := range table {
		count[e.Name]++
	}
	for nr, name := range abi.SyscallNames {
		if name == "" {
			continue
		}
		if n := count[name]; n != 1 {
			t.Errorf("syscall %d %s has %d entries, want 1", nr, name, n)
		}
		delete(count, name)
	}
	for name := range count {
		t.Errorf("entry %q is not an x86-64 syscall", name)
	}
	if _, err := index(table); err != nil {
		t.Fatal(err)
	}
}

func TestAll(t *testing.T) {
	all := All()
	if len(all) != len(table) {
		t.Errorf("All() has %d routes, table %d", len(all), len(table))
	}
	for i, r := range all {
		if i > 0 && r.Nr <= all[i-1].Nr {
			t.Errorf("All()[%d] = %d after %d: not in order", i, r.Nr, all[i-1].Nr)
		}
		if r.Kind == Unknown {
			t.Errorf("%d %s: no route", r.Nr, r.Name)
		}
		if r.Name != abi.SyscallNames[r.Nr] {
			t.Errorf("route %d is named %q, want %q", r.Nr, r.Name, abi.SyscallNames[r.Nr])
		}
		if r.Kind != Native && r.Kind.Server() == "" && r.Kind != Deny {
			t.Errorf("%s: kind %v", r.Name, r.Kind)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		nr    int
		name  string
		kind  Kind
		errno unix.Errno
		rule  *ArgRule
	}{
		{unix.SYS_READ, "read", Native, 0, nil},
		{unix.SYS_OPENAT, "openat", FS, 0, nil},
		{unix.SYS_NEWFSTATAT, "newfstatat", FS, 0, &ArgRule{Arg: 3, Op: OpMaskAny, Val: unix.AT_EMPTY_PATH}},
		{unix.SYS_STATX, "statx", FS, 0, &ArgRule{Arg: 2, Op: OpMaskAny, Val: unix.AT_EMPTY_PATH}},
		{unix.SYS_UTIMENSAT, "utimensat", FS, 0, &ArgRule{Arg: 1, Op: OpEq, Val: 0}},
		{unix.SYS_CLONE, "clone", Proc, 0, &ArgRule{Arg: 0, Op: OpMaskAny, Val: unix.CLONE_THREAD, None: NamespaceFlags}},
		{unix.SYS_PRLIMIT64, "prlimit64", Proc, 0, &ArgRule{Arg: 2, Op: OpEq, Val: 0}},
		{unix.SYS_EXECVE, "execve", Proc, 0, nil},
		{unix.SYS_SOCKET, "socket", Net, 0, &ArgRule{Arg: 0, Op: OpEq, Val: unix.AF_UNIX}},
		{unix.SYS_SENDTO, "sendto", Native, 0, nil},
		{unix.SYS_KILL, "kill", Sig, 0, nil},
		{unix.SYS_PIDFD_SEND_SIGNAL, "pidfd_send_signal", Sig, 0, nil},
		{unix.SYS_CLONE3, "clone3", Deny, unix.ENOSYS, nil},
		{unix.SYS_IO_URING_SETUP, "io_uring_setup", Deny, unix.ENOSYS, nil},
		{unix.SYS_BPF, "bpf", Deny, unix.EPERM, nil},
		{unix.SYS_SYSLOG, "syslog", Deny, unix.EPERM, nil},
		{unix.SYS_PTRACE, "ptrace", Native, 0, nil},
		{unix.SYS_SCHED_SETATTR, "sched_setattr", Native, 0, nil},
		{400, "syscall_400", Unknown, 0, nil},
		{-1, "syscall_-1", Unknown, 0, nil},
		{abi.NSyscalls, "syscall_" + strconv.Itoa(abi.NSyscalls), Unknown, 0, nil},
	} {
		r := Lookup(tc.nr)
		if r.Nr != tc.nr || r.Name != tc.name || r.Kind != tc.kind || r.Errno != tc.errno {
			t.Errorf("Lookup(%d) = {%d %s %v %v}, want {%d %s %v %v}",
				tc.nr, r.Nr, r.Name, r.Kind, r.Errno, tc.nr, tc.name, tc.kind, tc.errno)
		}
		switch {
		case (r.NativeIf == nil) != (tc.rule == nil):
			t.Errorf("Lookup(%d).NativeIf = %v, want %v", tc.nr, r.NativeIf, tc.rule)
		case r.NativeIf != nil && *r.NativeIf != *tc.rule:
			t.Errorf("Lookup(%d).NativeIf = %v, want %v", tc.nr, *r.NativeIf, *tc.rule)
		}
	}
}

func TestLookupCopies(t *testing.T) {
	r := Lookup(unix.SYS_CLONE)
	r.NativeIf.Val = 0
	if Lookup(unix.SYS_CLONE).NativeIf.Val != unix.CLONE_THREAD {
		t.Error("changing a returned rule changed the table")
	}
}

func TestNotes(t *testing.T) {
	for _, r := range All() {
		if r.Kind == Deny && r.Note == "" {
			t.Errorf("%s: denied with no note", r.Name)
		}
		if r.NativeIf != nil && r.Note == "" {
			t.Errorf("%s: argument rule with no note", r.Name)
		}
	}
}

func TestForServer(t *testing.T) {
	seen := 0
	for _, k := range ServerKinds() {
		rs := ForServer(k)
		if len(rs) == 0 {
			t.Errorf("ForServer(%v) is empty", k)
		}
		for _, r := range rs {
			if r.Kind != k {
				t.Errorf("ForServer(%v) has %s of kind %v", k, r.Name, r.Kind)
			}
		}
		seen += len(rs)
	}
	trapped := 0
	for _, r := range All() {
		if r.Kind.Server() != "" {
			trapped++
		}
	}
	if seen != trapped {
		t.Errorf("servers have %d routes, %d are trapped", seen, trapped)
	}
}

func TestKindStrings(t *testing.T) {
	want := map[Kind][2]string{
		Unknown: {"unknown", ""},
		Native:  {"native", ""},
		Proc:    {"proc", "procsrv"},
		FS:      {"fs", "fssrv"},
		Net:     {"net", "netsrv"},
		Sig:     {"sig", "sigsrv"},
		Deny:    {"deny", ""},
		Kind(9): {"kind(9)", ""},
	}
	for k, w := range want {
		if k.String() != w[0] || k.Server() != w[1] {
			t.Errorf("Kind %d: String %q Server %q, want %q %q", k, k.String(), k.Server(), w[0], w[1])
		}
	}
}

func TestIndexRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []Route
		want    string
	}{
		{"not a syscall", []Route{{Name: "frobnicate", Kind: Native}}, "not an x86-64 syscall"},
		{"twice", []Route{{Name: "read", Kind: Native}, {Name: "read", Kind: FS}}, "listed twice"},
		{"no kind", []Route{{Name: "read"}}, "not a route"},
		{"deny without errno", []Route{{Name: "bpf", Kind: Deny}}, "needs an errno"},
		{"errno on native", []Route{{Name: "read", Kind: Native, Errno: unix.EPERM}}, "errno"},
		{"rule on native", []Route{{Name: "read", Kind: Native, NativeIf: &ArgRule{Arg: 0}}}, "argument rule on a native"},
		{"rule on args[6]", []Route{{Name: "open", Kind: FS, NativeIf: &ArgRule{Arg: 6}}}, "args[6]"},
		{"wide mask", []Route{{Name: "open", Kind: FS, NativeIf: &ArgRule{Op: OpMaskAny, Val: 1 << 32}}}, "32-bit mask"},
		{"bad op", []Route{{Name: "open", Kind: FS, NativeIf: &ArgRule{Op: 7}}}, "unknown argument op"},
	} {
		_, err := index(tc.entries)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: index error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	Format(&b, All())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(table)+1 {
		t.Fatalf("Format printed %d lines, want %d", len(lines), len(table)+1)
	}
	for _, want := range []string{
		"clone3",
		"ENOSYS",
		"native if args[3]&0x1000",
		"native if args[0]==0x1",
		"keyrings are not namespaced",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Format output lacks %q", want)
		}
	}
	for i, l := range lines {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d has trailing spaces: %q", i, l)
		}
	}
	t.Logf("%s\n...", strings.Join(lines[:4], "\n"))
}

// TestProfileRoutes: each profile's table differs from the base table in
// exactly the calls it lets run natively, and leaves the base table alone.
func TestProfileRoutes(t *testing.T) {
	pass := map[int]bool{}
	recorded := map[int]bool{}
	for _, r := range All() {
		switch r.Pass {
		case PassAlways:
			pass[r.Nr] = true
		case PassUnrecorded:
			recorded[r.Nr] = true
		}
	}
	if !pass[unix.SYS_OPENAT] || !recorded[unix.SYS_STAT] || pass[unix.SYS_MOUNT] || recorded[unix.SYS_MOUNT] {
		t.Fatalf("pass marks: openat %v, stat %v, mount %v", pass[unix.SYS_OPENAT], recorded[unix.SYS_STAT], pass[unix.SYS_MOUNT])
	}
	forks := map[int]bool{unix.SYS_FORK: true, unix.SYS_VFORK: true}
	execs := map[int]bool{unix.SYS_EXECVE: true, unix.SYS_EXECVEAT: true}
	for _, p := range []Profile{{}, {NativeForks: true, NativeExecs: true}, {Recorded: true, NativeForks: true, NativeExecs: true},
		{TrapPaths: true, NativeForks: true, NativeExecs: true}} {
		for _, r := range p.Routes() {
			base := Lookup(r.Nr)
			native := (!p.TrapPaths && (pass[r.Nr] || (recorded[r.Nr] && !p.Recorded))) ||
				(p.NativeForks && forks[r.Nr]) || (p.NativeExecs && !p.TrapPaths && execs[r.Nr])
			switch {
			case native && (r.Kind != Native || r.NativeIf != nil || r.Note == ""):
				t.Errorf("%v: %s is %v %v, want native with a note", p, r.Name, r.Kind, r.NativeIf)
			case !native && r.Kind != base.Kind:
				t.Errorf("%v: %s is %v, want %v", p, r.Name, r.Kind, base.Kind)
			case r.Nr == unix.SYS_CLONE && p.NativeForks && (r.NativeIf == nil || r.NativeIf.Op != OpMaskNone || r.NativeIf.Val != NamespaceFlags):
				t.Errorf("%v: clone %+v", p, r.NativeIf)
			}
			if err := check(r); err != nil {
				t.Errorf("%v: %s: %v", p, r.Name, err)
			}
		}
		if calls := p.PassCalls(); (len(calls) > 0) != p.TrapPaths {
			t.Errorf("%v: PassCalls %v", p, calls)
		}
	}
	if Lookup(unix.SYS_STAT).Kind != FS || Lookup(unix.SYS_FORK).Kind != Proc || Lookup(unix.SYS_EXECVE).Kind != Proc {
		t.Error("a profile changed the table")
	}
}
