// Package idmap is the host ids of an instance's guests: the block the
// broker maps them to (subids.go, from /etc/subuid and /etc/subgid), and
// reading and applying a user namespace's id mappings (/proc/PID/uid_map
// and gid_map, user_namespaces(7)).
//
// Runs in: the broker, the servers, and the lx command (lx ps). Owns: nothing. Waits on: nobody.
package idmap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// OverflowID is what Linux shows for an id with no mapping (overflowuid).
const OverflowID = 65534

// Map is one /proc/PID/uid_map or gid_map: guest ids to host ids.
type Map []struct{ Guest, Host, Count uint32 }

// Maps holds the instance's user and group mappings.
type Maps struct{ UID, GID Map }

// Parse parses the text of a uid_map or gid_map file.
func Parse(text string) (Map, error) {
	var m Map
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("id map line %q: want 3 fields", line)
		}
		var v [3]uint32
		for i := range f {
			n, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("id map line %q: %w", line, err)
			}
			v[i] = uint32(n)
		}
		m = append(m, struct{ Guest, Host, Count uint32 }{v[0], v[1], v[2]})
	}
	return m, nil
}

// Read reads the mappings of process pid.
func Read(pid int) (Maps, error) {
	var out Maps
	for _, f := range []struct {
		name string
		m    *Map
	}{{"uid_map", &out.UID}, {"gid_map", &out.GID}} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f.name))
		if err != nil {
			return out, err
		}
		if *f.m, err = Parse(string(b)); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ToHost maps a guest id to the host; ok is false for an unmapped id.
func (m Map) ToHost(id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.Guest && id-e.Guest < e.Count {
			return e.Host + (id - e.Guest), true
		}
	}
	return 0, false
}

// ToGuest maps a host id into the instance, OverflowID when unmapped.
func (m Map) ToGuest(id uint32) uint32 {
	for _, e := range m {
		if id >= e.Host && id-e.Host < e.Count {
			return e.Guest + (id - e.Host)
		}
	}
	return OverflowID
}
