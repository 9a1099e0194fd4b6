package netpolicy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParsePublish(t *testing.T) {
	for in, want := range map[string]Publish{"8080:80": {8080, 80}, "443": {443, 443}, "65535:1": {65535, 1}} {
		if got, err := ParsePublish(in); err != nil || got != want {
			t.Errorf("ParsePublish(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":", "0:80", "80:0", "65536:80", "a:80", "80:b", "-1:80", "80:80:80"} {
		if got, err := ParsePublish(in); err == nil {
			t.Errorf("ParsePublish(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": All, "all": All, "loopback": Loopback, "none": None} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"host", "ALL", "loop"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) accepted", in)
		}
	}
}

// TestWatch: a Watch sees each Save, keeps the last good policy when the
// file goes bad or away, fails closed before the first good read, and gives
// the default without a file name.
func TestWatch(t *testing.T) {
	if p, err := NewWatch("").Get(); err != nil || p.Mode != All || len(p.Publish) != 0 {
		t.Fatalf("no file: %+v %v", p, err)
	}
	path := filepath.Join(t.TempDir(), "net.json")
	w := NewWatch(path)
	if p, err := w.Get(); err == nil || p.Mode != None {
		t.Fatalf("missing file: %+v %v, want mode none and an error", p, err)
	}
	if err := Save(path, &Policy{Mode: Loopback, Raw: true}); err != nil {
		t.Fatal(err)
	}
	if p, err := w.Get(); err != nil || p.Mode != Loopback || !p.Raw {
		t.Fatalf("after Save: %+v %v", p, err)
	}
	if err := Save(path, &Policy{Mode: All, Publish: []Publish{{8080, 80}}}); err != nil {
		t.Fatal(err)
	}
	p, err := w.Get()
	if h, ok := p.HostPort(80); err != nil || !ok || h != 8080 {
		t.Fatalf("after a second Save: %+v %v", p, err)
	}
	if _, ok := p.HostPort(81); ok {
		t.Fatal("port 81 is not published")
	}
	os.WriteFile(path+".bad", []byte(`{"mode":"sideways"}`), 0o600)
	os.Rename(path+".bad", path)
	if p, err := w.Get(); err == nil || p.Mode != All || len(p.Publish) != 1 {
		t.Fatalf("bad file: %+v %v, want the last good policy and an error", p, err)
	}
}
