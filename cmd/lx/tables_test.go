package main

import (
	"testing"

	"lx/shared/abi"
	"lx/shared/routes"
)

// TestTablesAgree checks the route table against every server's handler
// table both ways: each trapped route has a handler in the server it names,
// and each handler serves a route that names its server. The filter's side
// (every route compiled into the right action) is checked in shared/seccomp.
func TestTablesAgree(t *testing.T) {
	for _, k := range routes.ServerKinds() {
		table := Tables[k.Server()]()
		for _, r := range routes.ForServer(k) {
			if table[r.Nr] == nil {
				t.Errorf("%s (%d) routes to %s, which has no handler for it", r.Name, r.Nr, k.Server())
			}
		}
		for nr := range table {
			if r := routes.Lookup(nr); r.Kind != k {
				t.Errorf("%s has a handler for %s (%d), which routes to %s", k.Server(), abi.SyscallName(nr), nr, r.Kind)
			}
		}
	}
	if len(Tables) != len(routes.ServerKinds()) {
		t.Errorf("%d server tables for %d server kinds", len(Tables), len(routes.ServerKinds()))
	}
}
