package proto

import (
	"os"

	"lx/shared/routes"
)

// WantedProfile is the profile the broker asks for an instance of the distro
// whose root is root ("" the host's), started with --trap-paths or not:
// forks run natively in every instance (the kernel bounds its tasks:
// lxbroker's forksBound), execs unless every call is to be traced; init may still
// trap execs, where the kernel cannot give the instance a binfmt_misc.
func WantedProfile(root string, trapPaths bool) routes.Profile {
	return routes.Profile{TrapPaths: trapPaths, Recorded: RecordedFor(root), NativeForks: true, NativeExecs: !trapPaths}
}

// RecordedFor reports whether an instance of the distro whose root is root
// ("" the host's) has owners and devices recorded in xattrs: only an
// unprivileged user's distro.
func RecordedFor(root string) bool { return root != "" && os.Geteuid() != 0 }
