package main

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// processOf says which process runs each package of lx that belongs to
// one: a package of one process may import packages of the same process and
// libraries, never a package of another process. Every other package of the
// module is a library (libraries), a command, or the launcher.
var processOf = map[string]string{
	"lx/lxbroker":                "broker",
	"lx/lxbroker/client":         "lx command",
	"lx/lxbroker/distro":         "lx command",
	"lx/lxbroker/runtime/keeper": "keeper",
	"lx/lxbroker/runtime/pid1":   "init",
	"lx/servers/router":          "router",
	"lx/procsrv":                 "procsrv",
	"lx/fssrv":                   "fssrv",
	"lx/netsrv":                  "netsrv",
	"lx/sigsrv":                  "sigsrv",
}

// libraries may be imported by any process's package; they import only
// libraries. lx/servers is the framework of the components (the servers
// and the router) and only they import it.
var libraries = map[string][]string{
	"lx/lxbroker/proto": nil,
	"lx/fssrv/recorded": nil, // the record format fssrv and lx import share
	"lx/servers":        {"router", "procsrv", "fssrv", "netsrv", "sigsrv"},
}

// launchers link every package of a kind: the lx binary (which is every
// process, by role) and the component launcher (which is one component per
// process, chosen by its launch config).
var launchers = map[string]bool{
	"lx/cmd/lx":             true,
	"lx/servers/components": true,
	"lx/bench":              true,
	"lx/shared/abi/gen":     true,
}

// testOnly packages are imported by tests alone.
var testOnly = map[string]bool{
	"lx/servers/servertest": true,
}

type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Doc        string
	Imports    []string
	GoFiles    []string
	DepsErrors []struct{ Err string }
	Error      *struct{ Err string }
}

// TestLayout checks the package layout: one process, one package; no
// import across processes except of libraries; no cycle (go list reports
// one as an error); and every package's doc says which process runs it.
func TestLayout(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-json", "lx/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.ImportPath == "lx" || strings.HasPrefix(p.ImportPath, "lx/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < len(processOf) {
		t.Fatalf("go list found %d packages of lx", len(pkgs))
	}
	kindOf := func(path string) string {
		switch {
		case processOf[path] != "":
			return "process " + processOf[path]
		case launchers[path]:
			return "launcher"
		case testOnly[path]:
			return "tests"
		case strings.HasPrefix(path, "lx/shared/"):
			return "library"
		}
		if _, ok := libraries[path]; ok {
			return "library"
		}
		return ""
	}
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		for _, e := range p.DepsErrors {
			t.Errorf("%s: %s", p.ImportPath, e.Err)
		}
		kind := kindOf(p.ImportPath)
		if kind == "" {
			t.Errorf("%s is in no process and no library: add it to processOf or libraries", p.ImportPath)
			continue
		}
		if p.Name != "main" && !strings.Contains(docOf(t, p), "Runs in:") {
			t.Errorf("%s: its package doc does not say which process runs it (\"Runs in: …\")", p.ImportPath)
		}
		for _, imp := range p.Imports {
			if imp != "lx" && !strings.HasPrefix(imp, "lx/") {
				continue
			}
			ik := kindOf(imp)
			switch {
			case launchers[p.ImportPath], testOnly[p.ImportPath]:
			case ik == "launcher", ik == "tests":
				t.Errorf("%s imports the launcher %s", p.ImportPath, imp)
			case ik == "library":
				if users := libraries[imp]; users != nil && !contains(users, processOf[p.ImportPath]) {
					t.Errorf("%s (%s) imports %s, which only %v import", p.ImportPath, kind, imp, users)
				}
			case kind == "library":
				t.Errorf("library %s imports %s (%s)", p.ImportPath, imp, ik)
			case ik != kind:
				t.Errorf("%s (%s) imports %s (%s)", p.ImportPath, kind, imp, ik)
			}
		}
	}
}

// docOf is the whole package doc comment of p (go list's Doc is its first
// sentence only).
func docOf(t *testing.T, p listedPackage) string {
	var all strings.Builder
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			all.WriteString(f.Doc.Text())
		}
	}
	return all.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
