package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

// traceOptions are lx trace's.
type traceOptions struct {
	Distro    string
	For       time.Duration
	TrapPaths bool
	Calls     []string
	Pids      []int
	Output    string
	JSON      bool
	Servers   []string
}

func traceFlags(fs *pflag.FlagSet, o *traceOptions) {
	fs.DurationVar(&o.For, "for", 0, "stop after this `DURATION` (default: until interrupted)")
	trapPathsFlag(fs, &o.TrapPaths)
}

// trace streams the calls the servers o names serve.
func trace(o traceOptions) error {
	d, err := distro.Resolve(o.Distro)
	if err != nil {
		return err
	}
	first := true
	return client.Stream(&proto.Request{Op: proto.OpTrace, Distro: d.Name, Root: d.Root, TrapPaths: o.TrapPaths,
		Trace: &proto.Trace{Servers: o.Servers, Seconds: o.For.Seconds()}},
		func(line string) {
			if first { // the broker's "tracing is on", with a notice or ""
				first = false
				fmt.Fprintln(os.Stderr, "lx: tracing", strings.Join(o.Servers, ", "))
				if line != "" {
					fmt.Fprintln(os.Stderr, "lx:", line)
				}
				return
			}
			fmt.Println(line)
		})
}
