// Package bpfvm runs a seccomp filter program on calls the way the kernel
// would, for tests: the filter a route table compiles to, the one an
// instance installed (dumped with PTRACE_SECCOMP_GET_FILTER), a
// component's sandbox. No production code imports it.
//
// Runs in: tests only.
package bpfvm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
)

// Data is struct seccomp_data: what a filter sees of a call.
type Data struct {
	Nr   uint32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// packet encodes d for golang.org/x/net/bpf's VM. The kernel loads each
// 32-bit word of struct seccomp_data in native (little-endian) order; the VM
// loads words big-endian, like network packets. So the packet is the 64-byte
// little-endian struct with each 32-bit word stored big-endian, which makes
// every 4-byte load the filter does see the value the kernel would.
func (d Data) packet() []byte {
	le := make([]byte, 64)
	binary.LittleEndian.PutUint32(le[0:], d.Nr)
	binary.LittleEndian.PutUint32(le[4:], d.Arch)
	binary.LittleEndian.PutUint64(le[8:], d.IP)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(le[16+8*i:], a)
	}
	p := make([]byte, 64)
	for off := 0; off < 64; off += 4 {
		binary.BigEndian.PutUint32(p[off:], binary.LittleEndian.Uint32(le[off:]))
	}
	return p
}

// A VM runs a filter program on calls the way the kernel would, for tests.
type VM struct{ vm *bpf.VM }

// NewVM loads prog.
func NewVM(prog []bpf.RawInstruction) (*VM, error) {
	insts, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, fmt.Errorf("program does not disassemble")
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		return nil, err
	}
	return &VM{vm}, nil
}

// Run returns the filter's action for d.
func (v *VM) Run(d Data) (uint32, error) {
	got, err := v.vm.Run(d.packet())
	return uint32(got), err
}
