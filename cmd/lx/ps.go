package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

// psOf is `lx ps [-d DISTRO] [--json]`: the instance's process tree, as
// the broker reads it from the instance's own /proc (guest pids and ids).
// Command names and lines are the guests' text: they are escaped before
// they reach the terminal.
func psOf(dname string, asJSON bool) error {
	d, err := distro.Resolve(dname)
	if err != nil {
		return err
	}
	name := d.Name
	var entries []proto.PsEntry
	var bad error
	if err := client.Stream(&proto.Request{Op: proto.OpPs, Distro: name}, func(line string) {
		bad = json.Unmarshal([]byte(line), &entries)
	}); err != nil {
		return err
	}
	if bad != nil {
		return fmt.Errorf("processes of %s: %w", name, bad)
	}
	if asJSON {
		b, err := json.Marshal(entries)
		if err != nil {
			return err
		}
		os.Stdout.Write(append(jsonSafe(b), '\n'))
		return nil
	}
	printTree(entries)
	return nil
}

// printTree prints the processes as a tree: each under its parent, in pid
// order.
func printTree(es []proto.PsEntry) {
	byPid := map[int]bool{}
	kids := map[int][]proto.PsEntry{}
	for _, e := range es {
		byPid[e.Pid] = true
	}
	var roots []proto.PsEntry
	for _, e := range es {
		if byPid[e.PPid] && e.PPid != e.Pid {
			kids[e.PPid] = append(kids[e.PPid], e)
		} else {
			roots = append(roots, e)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tPPID\tPGID\tSID\tUSER\tS\tTHR\tCOMMAND")
	var walk func(e proto.PsEntry, depth int)
	walk = func(e proto.PsEntry, depth int) {
		args := make([]string, len(e.Cmdline))
		for i, a := range e.Cmdline {
			args[i] = escape(a)
		}
		cmd := strings.Join(args, " ")
		if cmd == "" {
			cmd = "[" + escape(e.Comm) + "]"
		}
		if depth > 0 {
			cmd = strings.Repeat("  ", depth-1) + `\_ ` + cmd
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", e.Pid, e.PPid, e.Pgid, e.Sid, escape(e.User), escape(e.State), e.Threads, cmd)
		ks := kids[e.Pid]
		sort.Slice(ks, func(i, j int) bool { return ks[i].Pid < ks[j].Pid })
		for _, k := range ks {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	w.Flush()
}

// escape makes guest text safe to print on a terminal: control
// characters (C0, DEL, C1: escape sequences could move the cursor, retitle
// the window, or worse), tabs and invalid UTF-8 are written as \xNN or
// \uNNNN, and a backslash as two.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// jsonSafe escapes in encoded JSON the characters encoding/json leaves
// raw that a terminal acts on (DEL, the C1 controls): still valid JSON, with
// the same values.
func jsonSafe(b []byte) []byte {
	var out bytes.Buffer
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[i : i+n])
		}
		i += n
	}
	return out.Bytes()
}
