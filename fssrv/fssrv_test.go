package fssrv

import (
	"testing"

	"lx/shared/launch"
	"lx/shared/routes"
)

// TestKernelPathsArePasses: the calls fssrv answers CONTINUE unseen are the
// ones the route table says the kernel resolves, and the ones it serves
// only with recorded owners are its PassUnrecorded ones.
func TestKernelPathsArePasses(t *testing.T) {
	table := Table(&launch.Config{Name: "fssrv"})
	for _, r := range routes.ForServer(routes.FS) {
		_, inKernel := kernelPaths[r.Nr]
		if inKernel != (r.Pass == routes.PassAlways) {
			t.Errorf("%s: in kernelPaths %v, route pass %v", r.Name, inKernel, r.Pass)
		}
		if table[r.Nr] == nil {
			t.Errorf("%s: no handler", r.Name)
		}
	}
	for nr := range kernelPaths {
		if r := routes.Lookup(nr); r.Kind != routes.FS {
			t.Errorf("kernelPaths has %s, a %v route", r.Name, r.Kind)
		}
	}
}
