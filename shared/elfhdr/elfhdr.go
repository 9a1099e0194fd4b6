// Package elfhdr reads what identifies an ELF file from its first bytes:
// its class (32 or 64 bits), its machine and its type, the fields Linux's
// ELF loader checks before it loads a program. lx runs x86-64 programs
// only, and tells a 32-bit one apart to say so clearly.
//
// Runs in: procsrv (its exec check), init (a 32-bit program named to a
// launch) and the broker (a --binary for restarted components). Owns: nothing. Waits on: nobody.
package elfhdr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Values of the header's fields (elf(5)).
const (
	Class32 = 1 // ELFCLASS32
	Class64 = 2 // ELFCLASS64

	TypeExec = 2 // ET_EXEC
	TypeDyn  = 3 // ET_DYN: a position-independent executable or a library

	MachineX8664 = 62 // EM_X86_64
)

// Size is how many bytes of a file Read looks at: e_ident, e_type and
// e_machine.
const Size = 20

var (
	// ErrNotELF: the file does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
	// ErrTruncated: the file has the magic but ends within the header.
	ErrTruncated = errors.New("truncated ELF header")
)

// Header is the identification of an ELF file.
type Header struct {
	Class   byte   // EI_CLASS: Class32 or Class64 (or garbage)
	Data    byte   // EI_DATA: 1 little-endian, 2 big-endian
	Type    uint16 // e_type
	Machine uint16 // e_machine
}

// Read reads the header at the start of r, Size bytes at most. Type and
// Machine are read little-endian whatever Data says, as Linux's loader on
// x86-64 reads them: a big-endian file shows a foreign machine.
func Read(r io.ReaderAt) (Header, error) {
	var b [Size]byte
	n, err := r.ReadAt(b[:], 0)
	if n < len(b) && err != nil && err != io.EOF {
		return Header{}, fmt.Errorf("elf header: %w", err)
	}
	if n < 4 || string(b[:4]) != "\x7fELF" {
		return Header{}, ErrNotELF
	}
	if n < Size {
		return Header{}, fmt.Errorf("%w: %d bytes, want %d", ErrTruncated, n, Size)
	}
	return Header{
		Class:   b[4],
		Data:    b[5],
		Type:    binary.LittleEndian.Uint16(b[16:]),
		Machine: binary.LittleEndian.Uint16(b[18:]),
	}, nil
}

// Is64 reports a 64-bit file.
func (h Header) Is64() bool { return h.Class == Class64 }

// IsX8664 reports a file for x86-64, the one machine lx runs.
func (h Header) IsX8664() bool { return h.Machine == MachineX8664 }
