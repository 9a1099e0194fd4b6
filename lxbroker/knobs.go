package lxbroker

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// knobs are the tuning switches of the broker's environment (the
// environment of the lx that started it), read once when it starts and
// handed to each component in its launch config: no component reads an
// environment variable.
type knobs struct {
	// maxProcs bounds an instance's processes (LX_MAX_PROCS, default
	// 4096): procsrv's bound where it counts forks, and TasksPerProc
	// times it the kernel's (pids.max, or RLIMIT_NPROC).
	maxProcs int
	// spin and routerSpin are how long a server polls its ring (LX_SPIN,
	// default 50 µs) and the router its listener (LX_ROUTER_SPIN, default
	// 0) before sleeping. A spinning server lets the guest run at once on
	// the replying server's CPU (FD_SYNC_WAKE_UP) and keeps the vCPUs from
	// halting between the calls of a burst; a spinning router only takes a
	// CPU from the guests, since it answers the calls fssrv passes unseen
	// itself (bench/README.md has the measurements).
	spin, routerSpin time.Duration
	// sandbox is the mode of every component's own syscall filter
	// (LX_SANDBOX: on, log or off; servers.Sandbox).
	sandbox string
	// hangAfter, when set (LX_HANG_AFTER, a Go duration; 0 turns hang
	// detection off), replaces the component table's HangAfter.
	hangAfter *time.Duration
}

func readKnobs() (knobs, error) {
	k := knobs{maxProcs: 4096, spin: 50 * time.Microsecond, sandbox: os.Getenv("LX_SANDBOX")}
	if v := os.Getenv("LX_MAX_PROCS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return k, fmt.Errorf("LX_MAX_PROCS=%q: want a positive number", v)
		}
		k.maxProcs = n
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{"LX_SPIN", &k.spin}, {"LX_ROUTER_SPIN", &k.routerSpin}} {
		if v := os.Getenv(d.env); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < 0 {
				return k, fmt.Errorf("%s=%q: want a Go duration such as 50us", d.env, v)
			}
			*d.to = t
		}
	}
	switch k.sandbox {
	case "", "on", "log", "off":
	default:
		return k, fmt.Errorf("LX_SANDBOX=%q: want on, log or off", k.sandbox)
	}
	if v := os.Getenv("LX_HANG_AFTER"); v != "" {
		t, err := time.ParseDuration(v)
		if err != nil || t < 0 {
			return k, fmt.Errorf("LX_HANG_AFTER=%q: want a Go duration such as 1s (0 turns hang detection off)", v)
		}
		k.hangAfter = &t
	}
	return k, nil
}
