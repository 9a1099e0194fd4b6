package procfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses; fields as Linux 6.x prints them.
	line := "42 (a (b) c) S 1 42 7 34816 42 4194304 100 0 0 0 1 2 0 0 20 0 3 0 12345 1000 100 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{Pid: 42, PPid: 1, Pgid: 42, Sid: 7, State: 'S', Threads: 3, Start: 12345, Comm: "a (b) c"}
	if p.Pid != want.Pid || p.PPid != want.PPid || p.Pgid != want.Pgid || p.Sid != want.Sid || p.State != want.State ||
		p.Threads != want.Threads || p.Start != want.Start || p.Comm != want.Comm {
		t.Fatalf("parseStat: %+v, want %+v", p, want)
	}
	for _, bad := range []string{"", "42", "42 (x)", "x (y) S 1 2 3", "42 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestSnapshotFindsThisProcess(t *testing.T) {
	proc, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(proc)
	ps, err := Snapshot(proc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Pid == os.Getpid() {
			if p.PPid != os.Getppid() || p.UID != uint32(os.Getuid()) || p.Threads < 1 || len(p.Cmdline) == 0 || p.State != 'R' && p.State != 'S' {
				t.Fatalf("this process in the snapshot: %+v", p)
			}
			return
		}
	}
	t.Fatalf("pid %d not in a snapshot of /proc (%d processes)", os.Getpid(), len(ps))
}

func TestPids(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"1", "12", "345", "self", "thread-self", "sys", "0x1f"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	pids, err := Pids(fd)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{1, 12, 345}) {
		t.Errorf("Pids = %v, want [1 12 345]", pids)
	}
	if n, err := CountPids(fd, 1, 345, 999); err != nil || n != 1 {
		t.Errorf("CountPids without 1 and 345 = %d, %v; want 1", n, err)
	}
	if n, err := CountPids(fd); err != nil || n != 3 {
		t.Errorf("CountPids = %d, %v; want 3", n, err)
	}
}
