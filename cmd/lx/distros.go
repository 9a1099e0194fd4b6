package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"lx/lxbroker/client"
	"lx/lxbroker/distro"
	"lx/lxbroker/proto"
)

func setMounts(name string, specs []string) error {
	var ms []proto.Mount
	for _, spec := range specs {
		m, err := client.ParseMount(spec)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	return distro.SetMounts(name, ms)
}

// config is `lx config NAME [KEY=VALUE]...`: a distro's settings, shown
// without arguments. Keys: memory (the instance's memory bound, e.g. 4G;
// empty for the default, half the host's memory).
func config(name string, kvs []string) error {
	if len(kvs) == 0 {
		d, err := distro.Lookup(name)
		if err != nil {
			return err
		}
		mem := "default"
		if d.Memory > 0 {
			mem = proto.FormatSize(d.Memory)
		}
		fmt.Printf("memory=%s\n", mem)
		return nil
	}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return fmt.Errorf("config %s: %q is not KEY=VALUE", name, kv)
		case k == "memory":
			var bytes int64
			if v != "" && v != "default" {
				b, err := proto.ParseSize(v)
				if err != nil {
					return err
				}
				bytes = b
			}
			if err := distro.SetMemory(name, bytes); err != nil {
				return err
			}
		default:
			return fmt.Errorf("config %s: unknown setting %q (settings: memory)", name, k)
		}
	}
	return nil
}

// importOptions are lx import's.
type importOptions struct{ InPlace, Force bool }

func importFlags(fs *pflag.FlagSet, o *importOptions) {
	fs.BoolVar(&o.InPlace, "in-place", false, "register the directory DIR as the distro's root without copying it (not the host's root; lx removes only the mount points it made there)")
	fs.BoolVar(&o.Force, "force", false, "with --in-place: register DIR even if it has no /bin/sh")
}

func doImport(name, src string, o importOptions) error {
	var d *distro.Distro
	var err error
	switch {
	case o.InPlace:
		d, err = distro.ImportInPlace(name, src, o.Force)
	case src == "-":
		d, err = distro.Import(name, os.Stdin)
	default:
		f, ferr := os.Open(src)
		if ferr != nil {
			return fmt.Errorf("import %s: %w", name, ferr)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fmt.Errorf("import %s: %s is a directory; 'lx import --in-place %s %s' registers it as the distro's root", name, src, name, src)
		}
		d, err = distro.Import(name, f)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w", name, err)
	}
	fmt.Fprintf(os.Stderr, "lx: imported %s at %s; 'lx run -d %s' runs in it, 'lx set-default %s' makes it the default\n", d.Name, d.Root, d.Name, d.Name)
	return nil
}

// exportOptions are lx export's.
type exportOptions struct{ Format string }

func exportFlags(fs *pflag.FlagSet, o *exportOptions) {
	fs.StringVar(&o.Format, "format", "", "compress as `FORMAT` (none, gzip, xz, zstd) whatever FILE's suffix says (default: FILE's suffix; a plain tar for -)")
}

// doExport writes distro name to file ("-": stdout), by way of
// FILE.partial renamed at the end: a failed export leaves nothing.
func doExport(name, file string, o exportOptions) error {
	compression, err := distro.CompressionFor(file, o.Format)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if file == "-" {
		return distro.Export(name, compression, os.Stdout)
	}
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if err := distro.Export(name, compression, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("export %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}

// listed is one row of `lx list --json`.
type listed struct {
	Name     string        `json:"name"`
	State    string        `json:"state"`
	Default  bool          `json:"default"`
	Location string        `json:"location"`
	InPlace  bool          `json:"in_place"`
	Mounts   []proto.Mount `json:"mounts,omitempty"`
}

func listDistros(verbose, asJSON bool) error {
	dir, err := proto.DataDir()
	if err != nil {
		return err
	}
	reg, err := distro.LoadRegistry(dir)
	if err != nil {
		return err
	}
	running := client.Running()
	state := func(name string) string {
		if running[name] {
			return "Running"
		}
		return "Stopped"
	}
	rows := []listed{{Name: proto.DefaultDistro, State: state(proto.DefaultDistro), Default: reg.Default == "", Location: "/ (host root, read-only)"}}
	for _, d := range reg.Sorted() {
		rows = append(rows, listed{Name: d.Name, State: state(d.Name), Default: reg.Default == d.Name, Location: d.Root, InPlace: d.InPlace, Mounts: d.Mounts})
	}
	if asJSON {
		b, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Println(string(b))
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	if verbose {
		fmt.Fprintln(w, "  NAME\tSTATE\tLOCATION")
	} else {
		fmt.Fprintln(w, "  NAME\tSTATE")
	}
	for _, r := range rows {
		mark := " "
		if r.Default {
			mark = "*"
		}
		if verbose {
			loc := r.Location
			if r.InPlace {
				loc += " (in place)"
			}
			for _, m := range r.Mounts {
				loc += ", mounts " + m.Host + " at " + m.Guest
				if m.ReadOnly {
					loc += " (ro)"
				}
			}
			fmt.Fprintf(w, "%s %s\t%s\t%s\n", mark, r.Name, r.State, loc)
		} else {
			fmt.Fprintf(w, "%s %s\t%s\n", mark, r.Name, r.State)
		}
	}
	return w.Flush()
}
