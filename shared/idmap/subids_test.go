package idmap

import (
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	got, err := parseSubIDs(strings.NewReader("alice:100000:65536\n# a comment\nbad line\nbob:x:1\n0:200000:65536\ncarol:300000:0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []subIDRange{{"alice", 100000, 65536}, {"0", 200000, 65536}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseSubIDs = %+v, want %+v", got, want)
	}
}

func TestRootBase(t *testing.T) {
	for _, tc := range []struct {
		what   string
		ranges []subIDRange
		want   uint32
	}{
		{"no ranges", nil, DefaultRootIDs},
		{"root's own range", []subIDRange{{"alice", 100000, 65536}, {"root", 300000, 65536}}, 300000},
		{"root by uid", []subIDRange{{"0", 400000, 100000}}, 400000},
		{"root's range too small", []subIDRange{{"root", 300000, 1000}}, DefaultRootIDs},
		{"another user's range at the default", []subIDRange{{"alice", DefaultRootIDs + 10, 65536}}, DefaultRootIDs + 2*65536},
		{"two in a row", []subIDRange{{"a", DefaultRootIDs, 65536}, {"b", DefaultRootIDs + 65536, 65536}}, DefaultRootIDs + 2*65536},
	} {
		got, err := rootBase(tc.ranges)
		if err != nil || got != tc.want {
			t.Errorf("%s: rootBase = %d, %v; want %d", tc.what, got, err, tc.want)
		}
	}
	if _, err := rootBase([]subIDRange{{"x", DefaultRootIDs, 1<<31 - DefaultRootIDs}}); err == nil {
		t.Error("rootBase found room above 2^31")
	}
}
