// Package recorded is the format of owners and devices recorded in xattrs
// (fssrv's, for an unprivileged user's distro): lx import writes them,
// fssrv shows and changes them, lx export restores them. It is a format,
// not a process's code: fssrv and the client both use it.
//
// Runs in: the fssrv process of each instance, and the lx client and the
// broker (lx import, lx export). Owns: nothing. Waits on: nobody.
package recorded

import (
	"fmt"
	"strconv"
	"strings"
)

// Owners and devices an unprivileged user cannot give a file are recorded
// in xattrs of the file, the way WSL's VolFs keeps $LXUID/$LXGID.
const (
	OwnerXattr = "user.lx.owner" // "UID:GID", absent for 0:0
	DevXattr   = "user.lx.dev"   // "c MAJOR MINOR" or "b MAJOR MINOR", on an empty regular file
)

// FormatOwner is the OwnerXattr value for uid:gid.
func FormatOwner(uid, gid uint32) string {
	return strconv.FormatUint(uint64(uid), 10) + ":" + strconv.FormatUint(uint64(gid), 10)
}

// ParseOwner reads an OwnerXattr value.
func ParseOwner(v string) (uid, gid uint32, ok bool) {
	u, g, found := strings.Cut(v, ":")
	a, err1 := strconv.ParseUint(u, 10, 32)
	b, err2 := strconv.ParseUint(g, 10, 32)
	if !found || err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(a), uint32(b), true
}

// FormatDev is the DevXattr value for a character ('c') or block ('b')
// device.
func FormatDev(kind byte, major, minor uint32) string {
	return fmt.Sprintf("%c %d %d", kind, major, minor)
}

// ParseDev reads a DevXattr value.
func ParseDev(v string) (kind byte, major, minor uint32, ok bool) {
	f := strings.Fields(v)
	if len(f) != 3 || (f[0] != "c" && f[0] != "b") {
		return 0, 0, 0, false
	}
	a, err1 := strconv.ParseUint(f[1], 10, 32)
	b, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return f[0][0], uint32(a), uint32(b), true
}
