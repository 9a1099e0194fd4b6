package proto

import (
	"fmt"
	"strconv"
	"strings"
)

// minMemory is the least bound an instance may be given: its own processes
// (init, lx-enter) and tmpfs need some.
const minMemory = 32 << 20

// ParseSize reads a memory size: a number of bytes with an optional K, M,
// G or T (powers of 1024; B, KB, KiB... alike).
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a memory size (e.g. 512M, 4G)", s)
	}
	if v*mult < minMemory {
		return 0, fmt.Errorf("memory size %s is below the least an instance needs, %dM", s, minMemory>>20)
	}
	return v * mult, nil
}

// FormatSize prints a memory size as ParseSize reads it.
func FormatSize(b int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if b%u.m == 0 {
			return strconv.FormatInt(b/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(b, 10)
}
