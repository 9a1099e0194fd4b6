package pid1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestEnterMatchesSource: the lx-enter embedded in lx is what enter.c
// builds to with gen.sh, so the binary in the repository is the reviewed
// source and nothing else.
func TestEnterMatchesSource(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("skipped: gcc is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	for _, f := range []string{"enter.c", "gen.sh"} {
		b, err := os.ReadFile(filepath.Join("enter", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o755)
	}
	if out, err := exec.Command("sh", filepath.Join(dir, "gen.sh")).CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	built, err := os.ReadFile(filepath.Join(dir, "lx-enter"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, lxEnter) {
		t.Fatalf("enter/lx-enter (%d bytes) is not what enter/enter.c builds to (%d bytes): run go generate ./lxbroker/runtime/pid1", len(lxEnter), len(built))
	}
}
