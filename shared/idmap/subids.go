package idmap

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The host ids an instance's guests are. Guest root is never host root:
//
//   - An unprivileged user's instance maps guest root to the user and
//     nothing else (a user namespace it may make alone).
//   - Host root's instances map guest ids 0-65535 to a block of 65536
//     host ids that no host user has: root's range in /etc/subuid and
//     /etc/subgid if it has one, else DefaultRootIDs (the first free block
//     from there, skipping every range /etc/subuid and /etc/subgid give
//     any user). That block is above what useradd hands out
//     (SUB_UID_MAX, 600100000 on Debian) and below 2^31, where systemd's
//     conventions reserve nothing (its container ranges end at
//     0x6fffffff), so no other tool's ids collide with it.
//
// So a guest's files, processes and sockets carry host ids outside every
// host user's: guest root of root's instance writes /proc/sys as host uid
// DefaultRootIDs would, which is to say not at all, and a file it makes in
// a bound host directory belongs to that id on the host, not to root.

// Range is the block of host ids of an instance's guests: guest uid k
// is host uid UID+k and guest gid k host gid GID+k, for k < Size.
type Range struct {
	UID, GID, Size uint32
}

// DefaultRootIDs is where host root's instances' ids start when root has
// no range of its own in /etc/subuid and /etc/subgid.
const DefaultRootIDs = 0x70000000

// rootIDCount is the size of root's instances' range: the ids a distro's
// files may carry (nobody is 65534).
const rootIDCount = 65536

// subIDFiles are where subordinate ids are listed (subuid(5)).
var subIDFiles = [2]string{"/etc/subuid", "/etc/subgid"}

// Instance returns the host ids of this user's instances.
func Instance() (Range, error) {
	if os.Geteuid() != 0 {
		return Range{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Size: 1}, nil
	}
	var base [2]uint32
	for i, file := range subIDFiles {
		ranges, err := readSubIDs(file)
		if err != nil {
			return Range{}, err
		}
		b, err := rootBase(ranges)
		if err != nil {
			return Range{}, fmt.Errorf("%s: %w", file, err)
		}
		base[i] = b
	}
	return Range{UID: base[0], GID: base[1], Size: rootIDCount}, nil
}

// subIDRange is one line of /etc/subuid or /etc/subgid.
type subIDRange struct {
	owner        string // a user name or a numeric uid
	start, count uint64
}

// readSubIDs reads a subordinate id file; a missing one has no ranges.
func readSubIDs(file string) ([]subIDRange, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseSubIDs(io.LimitReader(f, 16<<20))
}

// parseSubIDs parses "owner:start:count" lines; others are skipped, as
// shadow-utils skips them.
func parseSubIDs(r io.Reader) ([]subIDRange, error) {
	var out []subIDRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, subIDRange{owner: f[0], start: start, count: count})
	}
	return out, sc.Err()
}

// rootBase is where root's instances' ids start in one of the two files:
// root's own range if it has one large enough, else the first block of
// rootIDCount ids from DefaultRootIDs that no range of the file overlaps.
func rootBase(ranges []subIDRange) (uint32, error) {
	for _, r := range ranges {
		if (r.owner == "root" || r.owner == "0") && r.count >= rootIDCount && r.start > 0 {
			return uint32(r.start), nil
		}
	}
	base := uint64(DefaultRootIDs)
	for moved := true; moved; {
		moved = false
		for _, r := range ranges {
			if r.start < base+rootIDCount && base < r.start+r.count {
				base = (r.start + r.count + rootIDCount - 1) / rootIDCount * rootIDCount
				moved = true
			}
		}
		if base+rootIDCount > 1<<31 {
			return 0, fmt.Errorf("no free block of %d ids between %d and 2^31 for root's instances; give root a range (usermod --add-subuids)", rootIDCount, DefaultRootIDs)
		}
	}
	return uint32(base), nil
}

// UIDMap and GIDMap are the instance's user namespace mappings.
func (r Range) UIDMap() []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.UID), Size: int(r.Size)}}
}

func (r Range) GIDMap() []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(r.GID), Size: int(r.Size)}}
}

// String is the range as lx status shows it.
func (r Range) String() string {
	if r.Size == 1 {
		return fmt.Sprintf("uid %d gid %d", r.UID, r.GID)
	}
	return fmt.Sprintf("uids %d-%d gids %d-%d", r.UID, r.UID+r.Size-1, r.GID, r.GID+r.Size-1)
}

// Maps is the range as the instance's id mappings.
func (r Range) Maps() Maps {
	return Maps{UID: Map{{Guest: 0, Host: r.UID, Count: r.Size}}, GID: Map{{Guest: 0, Host: r.GID, Count: r.Size}}}
}
