// Package servers is what every lx server shares: the framework that runs a
// handler table.
//
// A server is a handler table plus an init function; this package does the
// rest (DESIGN §2, §5, §7): it consumes the server's ring, decodes and
// validates each frame, dispatches it through the table, reads and writes
// guest memory with Linux's EFAULT semantics, inspects the caller (its
// status and capabilities, whether it is init, its fds: call.go), installs
// fds with ADDFD, answers with SEND or CONTINUE, turns a panicking handler
// into EIO, counts calls in the control region the broker reads, and
// streams trace events when the broker switched tracing on. What a call
// asks of the kernel goes through a Kernel (kernel.go), which package
// servertest fakes to test handlers without a trapped guest.
//
// Each component confines itself to an allow-list of host syscalls before
// it serves (sandbox.go; a server adds its own calls in its sandbox.go).
//
// Runs in: every server process of each instance (the router, package
// servers/router, shares its sandbox lists). Owns: the server loop. Waits
// on: nothing but the ring. Every handler runs on the server's one loop
// goroutine, so handlers must not block: a call that could wait for another
// guest (a FIFO, a blocking connect) is answered with CONTINUE and left to
// the kernel, which runs it in the guest's own context, inside the
// instance's namespaces.
package servers
