package servertest

import (
	"bytes"
	"unsafe"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// Mem is a guest's memory: pages a test maps and fills. Every allocation
// ends at the end of a page and is followed by an unmapped one, so a read
// or write one byte past it faults as the kernel's would.
type Mem struct {
	pages map[uint64]*[pageSize]byte
	next  uint64
}

// Unmapped is an address no allocation ever covers.
const Unmapped uint64 = 0x1000

func newMem() *Mem { return &Mem{pages: map[uint64]*[pageSize]byte{}, next: 0x10000} }

// Alloc maps n zero bytes and returns their address.
func (m *Mem) Alloc(n int) uint64 {
	npages := uint64((n + pageSize - 1) / pageSize)
	if npages == 0 {
		npages = 1
	}
	base := m.next
	for i := uint64(0); i < npages; i++ {
		m.pages[base+i*pageSize] = new([pageSize]byte)
	}
	m.next = base + (npages+1)*pageSize // leave a hole
	return base + npages*pageSize - uint64(n)
}

// Bytes maps a copy of b and returns its address.
func (m *Mem) Bytes(b []byte) uint64 {
	addr := m.Alloc(len(b))
	if err := m.write(addr, b); err != nil {
		panic(err)
	}
	return addr
}

// String maps s with its NUL and returns its address.
func (m *Mem) String(s string) uint64 { return m.Bytes(append([]byte(s), 0)) }

// Struct maps a copy of the plain struct v and returns its address.
func Struct[T any](m *Mem, v *T) uint64 {
	return m.Bytes(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)))
}

// Read returns n bytes at addr, nil if any is unmapped.
func (m *Mem) Read(addr uint64, n int) []byte {
	b := make([]byte, n)
	if got, err := m.read(addr, b); err != nil || got != n {
		return nil
	}
	return b
}

// ReadStruct fills the plain struct v from addr; false if unmapped.
func ReadStruct[T any](m *Mem, addr uint64, v *T) bool {
	b := m.Read(addr, int(unsafe.Sizeof(*v)))
	if b == nil {
		return false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)), b)
	return true
}

// Zero reports whether the n bytes at addr are mapped and all zero: what
// a call that must not write sees.
func (m *Mem) Zero(addr uint64, n int) bool {
	b := m.Read(addr, n)
	return b != nil && bytes.Count(b, []byte{0}) == n
}

func (m *Mem) page(addr uint64) *[pageSize]byte { return m.pages[addr&^(pageSize-1)] }

// read copies like process_vm_readv: up to the first unmapped byte, EFAULT
// when that is the first.
func (m *Mem) read(addr uint64, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		p := m.page(addr)
		if p == nil {
			break
		}
		off := int(addr % pageSize)
		k := copy(buf[n:], p[off:])
		n += k
		addr += uint64(k)
	}
	if n == 0 && len(buf) > 0 {
		return 0, unix.EFAULT
	}
	return n, nil
}

// write copies all of b, or nothing and EFAULT.
func (m *Mem) write(addr uint64, b []byte) error {
	for a := addr &^ (pageSize - 1); a < addr+uint64(len(b)); a += pageSize {
		if m.pages[a] == nil {
			return unix.EFAULT
		}
	}
	for len(b) > 0 {
		p := m.page(addr)
		k := copy(p[addr%pageSize:], b)
		b = b[k:]
		addr += uint64(k)
	}
	return nil
}
