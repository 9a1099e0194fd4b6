package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuestMounts: guest root mounts a tmpfs and a bind mount with
// busybox in an imported distro, sees them in /proc/self/mounts and
// mountinfo, and unmounts them. The mounts are the instance's: a second
// run sees the one left, the host never does, and the next instance starts
// without it. A --mount of a later run reaches a guest already running.
func TestGuestMounts(t *testing.T) {
	env, data := importBusybox(t, "gm")
	host := t.TempDir()
	os.Chmod(host, 0o755)
	write(t, filepath.Join(host, "later", "file"), "later\n", 0o644)
	sh := func(script string, extra ...string) (string, string, int) {
		args := append([]string{"run", "-d", "gm"}, extra...)
		return lxEnv(t, env, nil, append(args, "--", "/bin/sh", "-c", "bb=/bin/busybox\n"+script)...)
	}

	// A guest that keeps the instance up and waits for a later mount.
	hold := exec.Command(lxBin, "run", "-d", "gm", "--", "/bin/sh", "-c",
		`i=0; while [ ! -e /mnt/later/file ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
		cat /mnt/later/file; /bin/busybox grep -c ' /mnt/later ' /proc/self/mountinfo`)
	hold.Env, hold.Dir = append(os.Environ(), env...), "/"
	var held bytes.Buffer
	hold.Stdout, hold.Stderr = &held, &held
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	defer hold.Process.Kill()

	out, errs, code := sh(`set -e
		$bb mkdir -p /mnt/t /mnt/b /srv/src /mnt/keep; echo data > /srv/src/f
		$bb mount -t tmpfs gmtmp /mnt/t
		echo hello > /mnt/t/x; cat /mnt/t/x
		$bb grep -c '^gmtmp /mnt/t tmpfs rw' /proc/self/mounts
		$bb grep -c ' /mnt/t rw.* - tmpfs gmtmp ' /proc/self/mountinfo
		$bb mount --bind /srv/src /mnt/b; cat /mnt/b/f
		$bb grep -c ' /mnt/b ' /proc/self/mountinfo
		$bb umount /mnt/b
		$bb grep -c ' /mnt/b ' /proc/self/mountinfo || true
		$bb mount -t tmpfs gmkeep /mnt/keep; echo kept > /mnt/keep/k`)
	if want := "hello\n1\n1\ndata\n1\n0\n"; code != 0 || out != want {
		t.Fatalf("guest mounts: exit %d %q, want %q\nstderr: %s", code, out, want, errs)
	}
	// The same instance, another run: the mounts left are there.
	out, errs, code = sh(`cat /mnt/keep/k /mnt/t/x; $bb grep -c gmkeep /proc/self/mounts
		$bb umount /mnt/t && $bb umount /mnt/keep; $bb grep -c 'gmkeep\|gmtmp' /proc/self/mountinfo; ls /mnt/keep; ls /mnt/t`)
	if want := "kept\nhello\n1\n0\n"; code != 0 || out != want {
		t.Fatalf("second run: exit %d %q, want %q\nstderr: %s", code, out, want, errs)
	}
	// The host never saw them, nor what was written on them.
	if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte("gmtmp")) || bytes.Contains(b, []byte("gmkeep")) {
		t.Fatalf("a guest's mount shows on the host:\n%s", b)
	}
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err == nil && (strings.HasSuffix(p, "/mnt/keep/k") || strings.HasSuffix(p, "/mnt/t/x")) {
			t.Errorf("a file written on a guest's tmpfs is on the host: %s", p)
		}
		return nil
	})
	out, errs, code = sh(`$bb mount -t tmpfs gmkeep /mnt/keep && echo kept > /mnt/keep/k && echo mounted again
		printf '#!/bin/sh\necho run from a guest tmpfs\n' > /mnt/keep/gmtool; $bb chmod 755 /mnt/keep/gmtool`)
	if code != 0 || out != "mounted again\n" {
		t.Fatalf("mount again: exit %d %q %s", code, out, errs)
	}
	// lx run finds a command where the guests see it.
	out, errs, code = lxEnv(t, append(env, "PATH=/mnt/keep:/bin"), nil, "run", "-d", "gm", "--", "gmtool")
	if code != 0 || out != "run from a guest tmpfs\n" {
		t.Fatalf("a command on a guest's tmpfs: exit %d %q %s", code, out, errs)
	}

	// A later run's --mount reaches the guest already running.
	if out, errs, code := sh(`cat /mnt/later/file`, "--mount", filepath.Join(host, "later")+":/mnt/later:ro"); code != 0 || out != "later\n" {
		t.Fatalf("run with --mount: exit %d %q %s", code, out, errs)
	}
	if err := hold.Wait(); err != nil || held.String() != "later\n1\n" {
		t.Fatalf("the running guest and the later mount: %v %q", err, held.String())
	}

	// A new instance starts with the keeper's table only.
	if _, errs, code := lxEnv(t, env, nil, "terminate", "gm"); code != 0 {
		t.Fatalf("terminate: %d %s", code, errs)
	}
	out, errs, code = sh(`$bb grep -c gmkeep /proc/self/mounts; ls /mnt/keep`)
	if code != 0 || out != "0\n" {
		t.Fatalf("after the instance ended: exit %d %q %s", code, out, errs)
	}
}

// TestHolderOutOfGuestsReach: guest root can neither kill nor stop the
// holder of the guests' namespaces, by its pid, its group or kill(-1);
// kill(-1) still reaches every other guest.
func TestHolderOutOfGuestsReach(t *testing.T) {
	env, _ := importBusybox(t, "hold")
	out, errs, code := lxEnv(t, env, nil, "run", "-d", "hold", "--", "/bin/sh", "-c", `bb=/bin/busybox
		H=$($bb ps -o pid,comm | $bb awk '$2=="lx-holder" {print $1}'); echo holder ${H:+found}
		kill -9 $H 2>/dev/null || echo kill refused
		kill -STOP $H 2>/dev/null || echo stop refused
		kill -9 -$H 2>/dev/null || echo group kill refused
		sleep 100 & S=$!
		kill -9 -1; echo kill -1: $?
		wait $S; echo sleep ended: $?
		$bb ps -o comm | $bb grep -c lx-holder
		$bb grep State /proc/$H/status`)
	want := "holder found\nkill refused\nstop refused\ngroup kill refused\nkill -1: 0\nsleep ended: 137\n1\nState:\tS (sleeping)\n"
	if code != 0 || out != want {
		t.Fatalf("guest root against the holder: exit %d\n%s\nwant\n%s\nstderr: %s", code, out, want, errs)
	}
	if out, errs, code := lxEnv(t, env, nil, "run", "-d", "hold", "--", "echo", "launches go on"); code != 0 || out != "launches go on\n" {
		t.Fatalf("launch after: exit %d %q %s", code, out, errs)
	}
}
