package idmap

import "testing"

func TestIDMap(t *testing.T) {
	m, err := Parse("         0      65534          1\n")
	if err != nil {
		t.Fatal(err)
	}
	if g := m.ToGuest(65534); g != 0 {
		t.Errorf("host 65534 → guest %d, want 0", g)
	}
	if g := m.ToGuest(0); g != OverflowID {
		t.Errorf("unmapped host 0 → guest %d, want %d", g, OverflowID)
	}
	if h, ok := m.ToHost(0); !ok || h != 65534 {
		t.Errorf("guest 0 → host %d %v", h, ok)
	}
	if _, ok := m.ToHost(1); ok {
		t.Error("guest 1 mapped")
	}
	for _, bad := range []string{"0 1", "a b c", "0 0 99999999999"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
