package elfhdr

import (
	"bytes"
	"errors"
	"testing"
)

func header(class, data byte, typ, machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, data, 1
	b[16], b[17] = byte(typ), byte(typ>>8)
	b[18], b[19] = byte(machine), byte(machine>>8)
	return b
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      []byte
		want      Header
		err       error
		is64, x86 bool
	}{
		{"x86-64 pie", header(Class64, 1, TypeDyn, MachineX8664), Header{Class64, 1, TypeDyn, MachineX8664}, nil, true, true},
		{"i386", header(Class32, 1, TypeExec, 3), Header{Class32, 1, TypeExec, 3}, nil, false, false},
		{"aarch64", header(Class64, 1, TypeExec, 183), Header{Class64, 1, TypeExec, 183}, nil, true, false},
		{"big-endian x86-64 reads as another machine", header(Class64, 2, 0x0200, 0x3e00), Header{Class64, 2, 0x0200, 0x3e00}, nil, true, false},
		{"script", []byte("#!/bin/sh\necho hi\n"), Header{}, ErrNotELF, false, false},
		{"empty", nil, Header{}, ErrNotELF, false, false},
		{"magic only", []byte("\x7fELF\x02\x01"), Header{}, ErrTruncated, false, false},
		{"exactly the header", header(Class64, 1, TypeExec, MachineX8664)[:Size], Header{Class64, 1, TypeExec, MachineX8664}, nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Read(bytes.NewReader(tc.file))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if h != tc.want || h.Is64() != tc.is64 || h.IsX8664() != tc.x86 {
				t.Errorf("got %+v (64 %v, x86-64 %v), want %+v (%v, %v)", h, h.Is64(), h.IsX8664(), tc.want, tc.is64, tc.x86)
			}
		})
	}
}
