package servers

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// OverflowID is what Linux shows for an id with no mapping (overflowuid).
const OverflowID = 65534

// IDMap is one /proc/PID/uid_map or gid_map: guest ids to host ids.
type IDMap []struct{ Guest, Host, Count uint32 }

// IDMaps holds the instance's user and group mappings.
type IDMaps struct{ UID, GID IDMap }

// ParseIDMap parses the text of a uid_map or gid_map file.
func ParseIDMap(text string) (IDMap, error) {
	var m IDMap
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

// ReadIDMaps reads the mappings of process pid.
func ReadIDMaps(pid int) (IDMaps, error) {
	var out IDMaps
	for _, f := range []struct {
		name string
		m    *IDMap
	}{{"uid_map", &out.UID}, {"gid_map", &out.GID}} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f.name))
		if err != nil {
			return out, err
		}
		if *f.m, err = ParseIDMap(string(b)); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ToHost maps a guest id to the host; ok is false for an unmapped id.
func (m IDMap) ToHost(id uint32) (uint32, bool) {
	for _, e := range m {
		if id >= e.Guest && id-e.Guest < e.Count {
			return e.Host + (id - e.Guest), true
		}
	}
	return 0, false
}

// ToGuest maps a host id into the instance, OverflowID when unmapped.
func (m IDMap) ToGuest(id uint32) uint32 {
	for _, e := range m {
		if id >= e.Host && id-e.Host < e.Count {
			return e.Guest + (id - e.Host)
		}
	}
	return OverflowID
}
