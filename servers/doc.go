// Package servers is what every lx server shares, and the router.
//
// A server is a handler table plus an init function; this package does the
// rest (DESIGN §2, §5, §7): it consumes the server's ring, decodes and
// validates each frame, dispatches it through the table, reads and writes
// guest memory with Linux's EFAULT semantics, installs fds with ADDFD,
// answers with SEND or CONTINUE, turns a panicking handler into EIO, counts
// calls in the control region the broker reads, and streams trace events
// when the broker switched tracing on.
//
// Each component confines itself to an allow-list of host syscalls before
// it serves (sandbox.go; a server adds its own calls in its sandbox.go).
//
// Owns: the server loop and the router loop. Waits on: nothing but the ring
// and the listener. Every handler runs on the server's one loop goroutine, so
// handlers must not block: a call that could wait for another guest (a FIFO,
// a blocking connect) is answered with CONTINUE and left to the kernel, which
// runs it in the guest's own context, inside the instance's namespaces.
package servers
