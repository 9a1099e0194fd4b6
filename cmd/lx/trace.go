package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

// traceOptions are lx trace's.
type traceOptions struct {
	Distro    string
	For       time.Duration
	TrapPaths bool
	Exprs     []string // -e, as given
	Pids      []int
	Output    string
	JSON      bool
	Servers   []string
}

func traceFlags(fs *pflag.FlagSet, o *traceOptions) {
	fs.DurationVar(&o.For, "for", 0, "stop after this `DURATION` (default: until interrupted)")
	trapPathsFlag(fs, &o.TrapPaths)
	fs.StringArrayVarP(&o.Exprs, "expr", "e", nil, "trace only these calls, strace style: `trace=CALL[,CALL]...` (or CALL,...; repeatable)")
	fs.IntSliceVarP(&o.Pids, "pid", "p", nil, "trace only the process with this guest `PID`, as lx ps shows it (repeatable)")
	fs.StringVarP(&o.Output, "output", "o", "", "write the trace to `FILE` (made 0600) instead of stdout")
	fs.BoolVar(&o.JSON, "json", false, "print each call as a JSON object: server, pid, host_tid, call, text, result, errno, continue, latency_ns")
}

// parseTraceExpr parses -e trace=openat,connect (or openat,connect).
func parseTraceExpr(e string) ([]string, error) {
	if k, v, ok := strings.Cut(e, "="); ok {
		if k != "trace" {
			return nil, fmt.Errorf("-e %s: only trace=CALL,... is known", e)
		}
		e = v
	}
	var calls []string
	for _, c := range strings.Split(e, ",") {
		if c = strings.TrimSpace(c); c != "" {
			calls = append(calls, c)
		}
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("-e %q names no call", e)
	}
	return calls, nil
}

// trace streams the calls the servers o names serve (none: all of them),
// as strace lines or JSON.
func trace(o traceOptions) error {
	var calls []string
	for _, e := range o.Exprs {
		c, err := parseTraceExpr(e)
		if err != nil {
			return err
		}
		calls = append(calls, c...)
	}
	d, err := distro.Resolve(o.Distro)
	if err != nil {
		return err
	}
	var out io.Writer = os.Stdout
	if o.Output != "" {
		f, err := os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()
	prefix := len(o.Servers) != 1 // with several servers, each line names its own
	first := true
	what := strings.Join(o.Servers, ", ")
	if what == "" {
		what = "every server"
	}
	return client.Stream(&proto.Request{Op: proto.OpTrace, Distro: d.Name, Root: d.Root, TrapPaths: o.TrapPaths,
		Trace: &proto.Trace{Servers: o.Servers, Seconds: o.For.Seconds(), Calls: calls, Pids: o.Pids}},
		func(line string) {
			if first { // the broker's "tracing is on", with notices or ""
				first = false
				fmt.Fprintln(os.Stderr, "lx: tracing", what)
				for _, l := range strings.Split(line, "\n") {
					if l != "" {
						fmt.Fprintln(os.Stderr, "lx:", controls(strings.TrimPrefix(l, "lx: ")))
					}
				}
				return
			}
			var ev proto.TraceEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				return
			}
			if o.JSON {
				b, _ := json.Marshal(ev)
				w.Write(append(jsonSafe(b), '\n'))
			} else {
				w.WriteString(straceLine(&ev, prefix) + "\n")
			}
			if o.Output == "" {
				w.Flush() // a terminal, or a pipe someone reads as it comes
			}
		})
}

// straceLine is ev as strace prints a call: [pid N] call(args) = result
// <latency>, after the server's name if prefix. Guest text is escaped by
// the server; control characters left are escaped here.
func straceLine(ev *proto.TraceEvent, prefix bool) string {
	var b strings.Builder
	if prefix {
		b.WriteString(ev.Server + " ")
	}
	b.WriteString("[pid " + strconv.Itoa(ev.Pid) + "] ")
	b.WriteString(controls(ev.Text) + " = " + controls(ev.Result))
	fmt.Fprintf(&b, " <%.1fµs>", float64(ev.NS)/1000)
	return b.String()
}

// controls escapes the control characters of s (C0, DEL, C1) as \xNN.
func controls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, `\x%02x`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) }
