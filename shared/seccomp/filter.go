// Package seccomp compiles lx's route table (shared/routes) into the seccomp
// filter `lx init` installs on itself before it spawns any guest, and installs
// it. The filter checks the architecture, lets Native calls run
// (SECCOMP_RET_ALLOW), fails Deny calls with their errno (SECCOMP_RET_ERRNO)
// and sends everything else to the listener (SECCOMP_RET_USER_NOTIF): trapped
// calls, calls whose argument rule does not match, and numbers the table does
// not know, which the router answers with ENOSYS.
//
// It also holds what the components need of seccomp: the listener's
// ioctls (notif_unsafe.go) and the allow-list filter each one confines
// itself with (sandbox.go). One function installs a filter (install.go).
//
// Runs in: init of each instance (the instance's filter), the router and
// every server (the listener, and each one's sandbox). Owns: no state.
// Waits on: nobody.
package seccomp

import (
	"fmt"
	"slices"
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

// leaf is what the filter does for one run of syscall numbers: ALLOW when
// one of rules matches the call's arguments, else ret (so ret alone when
// there are no rules).
type leaf struct {
	ret   uint32
	rules []routes.ArgRule
}

func (l leaf) equal(m leaf) bool {
	return l.ret == m.ret && slices.Equal(l.rules, m.rules)
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
	byNr := make(map[int]leaf, len(rs))
	for _, r := range rs {
		if err := checkNr(r.Nr, byNr); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		l, err := leafOf(r)
		if err != nil {
			return nil, fmt.Errorf("%s (%d): %w", r.Name, r.Nr, err)
		}
		byNr[r.Nr] = l
	}
	return assemble(byNr, leaf{ret: retNotify}, retENOSYS)
}

// checkNr fails if nr cannot be filtered or is in byNr already.
func checkNr(nr int, byNr map[int]leaf) error {
	if nr < 0 || nr >= x32Bit {
		return fmt.Errorf("syscall number %d out of range", nr)
	}
	if _, dup := byNr[nr]; dup {
		return fmt.Errorf("syscall number %d routed twice", nr)
	}
	return nil
}

// assemble compiles byNr into a program: a call from another architecture
// or with an x32 number gets foreign, a number missing from byNr gets
// unknown, the others their leaf.
func assemble(byNr map[int]leaf, unknown leaf, foreign uint32) ([]bpf.RawInstruction, error) {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 1},
		bpf.RetConstant{Val: foreign},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
		bpf.RetConstant{Val: foreign},
	}
	prog = appendSearch(prog, compileRuns(byNr, unknown))
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("seccomp program has %d instructions, the kernel takes at most %d", len(prog), maxInsns)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp program: %w", err)
	}
	return raw, nil
}

// compileRuns turns byNr into runs covering every number from 0 up; the
// numbers byNr lacks get unknown.
func compileRuns(byNr map[int]leaf, unknown leaf) []run {
	nrs := make([]int, 0, len(byNr))
	for nr := range byNr {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)

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
	return runs
}

// leafOf returns the filter's action for r.
func leafOf(r routes.Route) (leaf, error) {
	if r.NativeIf != nil {
		switch r.Kind {
		case routes.Proc, routes.FS, routes.Net, routes.Sig:
		default:
			return leaf{}, fmt.Errorf("argument rule on a %v route", r.Kind)
		}
		if err := checkRule(*r.NativeIf); err != nil {
			return leaf{}, err
		}
		return leaf{ret: retNotify, rules: []routes.ArgRule{*r.NativeIf}}, nil
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

// checkRule fails if rule cannot be compiled.
func checkRule(rule routes.ArgRule) error {
	if rule.Arg < 0 || rule.Arg > 5 {
		return fmt.Errorf("argument rule on args[%d]", rule.Arg)
	}
	switch rule.Op {
	case routes.OpEq:
	case routes.OpMaskAny, routes.OpMaskNone:
		if rule.Val > 0xffffffff {
			return fmt.Errorf("mask %#x is wider than 32 bits", rule.Val)
		}
	default:
		return fmt.Errorf("unknown argument op %d", rule.Op)
	}
	switch {
	case rule.None > 0xffffffff:
		return fmt.Errorf("mask %#x is wider than 32 bits", rule.None)
	case rule.None != 0 && rule.Op == routes.OpEq:
		return fmt.Errorf("a clear-bits mask adds nothing to an equality")
	}
	return nil
}

// maxRules bounds a leaf's rules so that every jump to its ALLOW fits in a
// conditional jump's 8-bit offset.
const maxRules = 32

// appendLeaf appends the code for l; it always returns. Each rule falls
// through to the next when it does not match:
//
//	<rule 1> // match: jump to allow
//	…
//	ret l.ret
//	allow: ret ALLOW
func appendLeaf(prog []bpf.Instruction, l leaf) []bpf.Instruction {
	code := []bpf.Instruction{bpf.RetConstant{Val: l.ret}}
	if len(l.rules) == 0 {
		return append(prog, code...)
	}
	code = append(code, bpf.RetConstant{Val: retAllow})
	for i := len(l.rules) - 1; i >= 0; i-- {
		rule := l.rules[i]
		toAllow := uint8(len(code) - 1)    // from the end of this rule's code
		lo := uint32(offArgs + 8*rule.Arg) // little endian: low word first
		hi := lo + 4
		var block []bpf.Instruction
		switch {
		case rule.Op == routes.OpMaskAny && rule.None != 0:
			// some bit of Val set (else on to the next rule), then no
			// bit of None
			block = []bpf.Instruction{
				bpf.LoadAbsolute{Off: lo, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(rule.Val), SkipFalse: 1},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(rule.None), SkipFalse: toAllow},
			}
		case rule.Op == routes.OpMaskAny:
			block = []bpf.Instruction{
				bpf.LoadAbsolute{Off: lo, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(rule.Val), SkipTrue: toAllow},
			}
		case rule.Op == routes.OpMaskNone:
			block = []bpf.Instruction{
				bpf.LoadAbsolute{Off: lo, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: uint32(rule.Val | rule.None), SkipFalse: toAllow},
			}
		default: // routes.OpEq
			block = []bpf.Instruction{
				bpf.LoadAbsolute{Off: lo, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(rule.Val), SkipFalse: 2},
				bpf.LoadAbsolute{Off: hi, Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(rule.Val >> 32), SkipTrue: toAllow},
			}
		}
		code = append(block, code...)
	}
	return append(prog, code...)
}
