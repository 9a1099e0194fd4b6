package abi

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"seccomp_data", unsafe.Sizeof(SeccompData{}), 64},
		{"seccomp_notif", unsafe.Sizeof(SeccompNotif{}), 80},
		{"seccomp_notif_resp", unsafe.Sizeof(SeccompNotifResp{}), 24},
		{"seccomp_notif_addfd", unsafe.Sizeof(SeccompNotifAddfd{}), 24},
		{"stat", unsafe.Sizeof(unix.Stat_t{}), 144},
		{"statx", unsafe.Sizeof(unix.Statx_t{}), 256},
		{"statfs", unsafe.Sizeof(unix.Statfs_t{}), 120},
	} {
		if c.got != c.want {
			t.Errorf("sizeof(struct %s) = %d, want %d", c.name, c.got, c.want)
		}
	}
	var n SeccompNotif
	if off := unsafe.Offsetof(n.Data); off != 16 {
		t.Errorf("seccomp_notif.data at %d, want 16", off)
	}
	var d SeccompData
	if off := unsafe.Offsetof(d.Args); off != 16 {
		t.Errorf("seccomp_data.args at %d, want 16", off)
	}
	var a SeccompNotifAddfd
	if off := unsafe.Offsetof(a.NewfdFlags); off != 20 {
		t.Errorf("seccomp_notif_addfd.newfd_flags at %d, want 20", off)
	}
}
