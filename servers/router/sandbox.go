package router

import (
	"lx/servers"
	"lx/shared/seccomp"
)

// Sandbox is the router's allow-list: it only moves notifications from the
// listener to the rings, and answers unknown numbers itself, so it makes
// nothing but what the Go runtime and every component make.
func Sandbox() []seccomp.Allowed {
	return append(servers.RuntimeCalls(), servers.CommonCalls()...)
}
