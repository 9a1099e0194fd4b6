// Package seccomp compiles lx's route table (shared/routes) into the seccomp
// filter `lx init` installs on itself before it spawns any guest, and installs
// it. The filter checks the architecture, lets Native calls run
// (SECCOMP_RET_ALLOW), fails Deny calls with their errno (SECCOMP_RET_ERRNO)
// and sends everything else to the listener (SECCOMP_RET_USER_NOTIF): trapped
// calls, calls whose argument rule does not match, and numbers the table does
// not know, which the router answers with ENOSYS.
//
// This package holds no state and waits on nobody.
package seccomp

import (
	"fmt"
	"sort"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"lx/shared/routes"
)

// Offsets into struct seccomp_data {int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6];}, little endian.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks x32 syscall numbers (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

// Filter return values.
const (
	retAllow  = unix.SECCOMP_RET_ALLOW
	retNotify = unix.SECCOMP_RET_USER_NOTIF
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// leaf is what the filter does for one run of syscall numbers.
type leaf struct {
	ret  uint32          // the action when rule is nil
	rule *routes.ArgRule // if set: ALLOW when it matches, else USER_NOTIF
}

func (l leaf) equal(m leaf) bool {
	if (l.rule == nil) != (m.rule == nil) {
		return false
	}
	if l.rule != nil {
		return *l.rule == *m.rule
	}
	return l.ret == m.ret
}

// run is a leaf for the numbers from start up to the next run's start.
type run struct {
	start uint32
	leaf  leaf
}

// Build compiles the route table into a classic-BPF seccomp program.
//
// Numbers missing from rs, including every number above the highest one in
// rs, are Unknown and go to the listener. The numbers are searched with a
// balanced binary search over runs of consecutive numbers with the same
// action, so a call costs about log2(runs) comparisons.
func Build(rs []routes.Route) ([]bpf.RawInstruction, error) {
	runs, err := compileRuns(rs)
	if err != nil {
		return nil, err
	}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 1},
		bpf.RetConstant{Val: retENOSYS},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
		bpf.RetConstant{Val: retENOSYS},
	}
	prog = appendSearch(prog, runs)
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("seccomp program has %d instructions, the kernel takes at most %d", len(prog), maxInsns)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp program: %w", err)
	}
	return raw, nil
}

// compileRuns turns rs into runs covering every number from 0 up.
func compileRuns(rs []routes.Route) ([]run, error) {
	byNr := make(map[int]leaf, len(rs))
	for _, r := range rs {
		if r.Nr < 0 || r.Nr >= x32Bit {
			return nil, fmt.Errorf("%s: syscall number %d out of range", r.Name, r.Nr)
		}
		if _, dup := byNr[r.Nr]; dup {
			return nil, fmt.Errorf("%s: syscall number %d routed twice", r.Name, r.Nr)
		}
		l, err := leafOf(r)
		if err != nil {
			return nil, fmt.Errorf("%s (%d): %w", r.Name, r.Nr, err)
		}
		byNr[r.Nr] = l
	}
	nrs := make([]int, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)

	unknown := leaf{ret: retNotify}
	var runs []run
	add := func(start int, l leaf) {
		if len(runs) == 0 || !runs[len(runs)-1].leaf.equal(l) {
			runs = append(runs, run{start: uint32(start), leaf: l})
		}
	}
	next := 0
	for _, nr := range nrs {
		if nr > next {
			add(next, unknown)
		}
		add(nr, byNr[nr])
		next = nr + 1
	}
	add(next, unknown) // everything above the table
	return runs, nil
}

// leafOf returns the filter's action for r.
func leafOf(r routes.Route) (leaf, error) {
	if r.NativeIf != nil {
		switch r.Kind {
		case routes.Proc, routes.FS, routes.Net, routes.Sig:
		default:
			return leaf{}, fmt.Errorf("argument rule on a %v route", r.Kind)
		}
		rule := *r.NativeIf
		if rule.Arg < 0 || rule.Arg > 5 {
			return leaf{}, fmt.Errorf("argument rule on args[%d]", rule.Arg)
		}
		switch rule.Op {
		case routes.OpEq:
		case routes.OpMaskAny:
			if rule.Val > 0xffffffff {
				return leaf{}, fmt.Errorf("mask %#x is wider than 32 bits", rule.Val)
			}
		default:
			return leaf{}, fmt.Errorf("unknown argument op %d", rule.Op)
		}
		return leaf{rule: &rule}, nil
	}
	switch r.Kind {
	case routes.Native:
		return leaf{ret: retAllow}, nil
	case routes.Unknown, routes.Proc, routes.FS, routes.Net, routes.Sig:
		return leaf{ret: retNotify}, nil
	case routes.Deny:
		if r.Errno == 0 || r.Errno > unix.SECCOMP_RET_DATA {
			return leaf{}, fmt.Errorf("deny errno %d out of range", uintptr(r.Errno))
		}
		return leaf{ret: unix.SECCOMP_RET_ERRNO | uint32(r.Errno)}, nil
	}
	return leaf{}, fmt.Errorf("unknown kind %v", r.Kind)
}

// appendSearch appends code that, with the syscall number in A and A known to
// be at least runs[0].start and below the start of the run after runs, returns
// the action of the run A falls in. Each split is
//
//	jge start ? next : skip1 // start of the right half
//	ja right
//	<left half>
//	<right half>
//
// so conditional jumps are never longer than one instruction.
func appendSearch(prog []bpf.Instruction, runs []run) []bpf.Instruction {
	if len(runs) == 1 {
		return appendLeaf(prog, runs[0].leaf)
	}
	mid := len(runs) / 2
	left := appendSearch(nil, runs[:mid])
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: runs[mid].start, SkipFalse: 1},
		bpf.Jump{Skip: uint32(len(left))},
	)
	prog = append(prog, left...)
	return appendSearch(prog, runs[mid:])
}

// appendLeaf appends the code for l; it always returns.
func appendLeaf(prog []bpf.Instruction, l leaf) []bpf.Instruction {
	if l.rule == nil {
		return append(prog, bpf.RetConstant{Val: l.ret})
	}
	lo := uint32(offArgs + 8*l.rule.Arg) // little endian: low word first
	hi := lo + 4
	switch l.rule.Op {
	case routes.OpMaskAny:
		return append(prog,
			bpf.LoadAbsolute{Off: lo, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(l.rule.Val), SkipFalse: 1},
			bpf.RetConstant{Val: retAllow},
			bpf.RetConstant{Val: retNotify},
		)
	default: // routes.OpEq
		return append(prog,
			bpf.LoadAbsolute{Off: lo, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(l.rule.Val), SkipFalse: 3},
			bpf.LoadAbsolute{Off: hi, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(l.rule.Val >> 32), SkipFalse: 1},
			bpf.RetConstant{Val: retAllow},
			bpf.RetConstant{Val: retNotify},
		)
	}
}
