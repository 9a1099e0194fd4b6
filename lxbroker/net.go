package lxbroker

import (
	"fmt"
	"path/filepath"

	"lx/lxbroker/proto"
	"lx/shared/netpolicy"
)

// An instance's network policy (shared/netpolicy) is chosen by the run
// that starts the instance (lx run --net, --net-raw) and holds for the
// instance's life: a run that asks for another mode while the instance runs
// is refused rather than given a weaker wall than it asked for (guests of
// one instance share a pid namespace and a uid, so one could always act for
// another: a policy per run inside an instance would be no wall at all).
// Published ports belong to the run that asked for them: they are added to
// the policy file when it starts and removed when it ends. In mode all
// netsrv binds a published guest port to its host port; in mode loopback the
// broker forwards the host port's loopback into the instance (forward.go);
// mode none publishes nothing.

// policyPath is the instance's policy file, read by its netsrv.
func (in *Instance) policyPath() string { return filepath.Join(in.dir, "net.json") }

// netPolicy is the policy a run asks for, and its published ports.
func netPolicy(o proto.NetOptions) (netpolicy.Policy, []netpolicy.Publish, error) {
	mode, err := netpolicy.ParseMode(o.Mode)
	if err != nil {
		return netpolicy.Policy{}, nil, err
	}
	var pubs []netpolicy.Publish
	for _, s := range o.Publish {
		p, err := netpolicy.ParsePublish(s)
		if err != nil {
			return netpolicy.Policy{}, nil, err
		}
		for _, q := range pubs {
			if q.Guest == p.Guest || q.Host == p.Host {
				return netpolicy.Policy{}, nil, fmt.Errorf("--publish %s and %s overlap", q, p)
			}
		}
		pubs = append(pubs, p)
	}
	return netpolicy.Policy{Mode: mode, Raw: o.Raw}, pubs, nil
}

// joinNet checks a run's policy (mode: the mode it asked for, "" any)
// against the instance's and publishes its ports; the run must call unpublish with the same ports when it ends.
func (in *Instance) joinNet(mode string, want netpolicy.Policy, pubs []netpolicy.Publish) error {
	in.netMu.Lock()
	defer in.netMu.Unlock()
	have := in.net
	if mode == "" {
		want.Mode = have.Mode // joins whatever mode the instance runs
	}
	if want.Mode != have.Mode || (want.Raw && !have.Raw) {
		return fmt.Errorf("instance %s runs with --net=%s%s; stop it first (lx terminate %s) to run with --net=%s%s",
			in.name, have.Mode, rawFlag(have.Raw), in.name, want.Mode, rawFlag(want.Raw))
	}
	if len(pubs) == 0 {
		return nil
	}
	if have.Mode == netpolicy.None {
		return fmt.Errorf("--publish: instance %s runs with --net=none", in.name)
	}
	for _, p := range pubs {
		for _, q := range have.Publish {
			if q.Guest == p.Guest || q.Host == p.Host {
				return fmt.Errorf("--publish %s: instance %s already publishes %s", p, in.name, q)
			}
		}
	}
	if have.Mode == netpolicy.Loopback {
		started := map[netpolicy.Publish]*forwarder{}
		for _, p := range pubs {
			f, err := in.forward(p)
			if err != nil {
				for _, f := range started {
					f.stop()
				}
				return err
			}
			started[p] = f
		}
		if in.fwd == nil {
			in.fwd = map[netpolicy.Publish]*forwarder{}
		}
		for p, f := range started {
			in.fwd[p] = f
		}
	}
	next := have
	next.Publish = append(append([]netpolicy.Publish(nil), have.Publish...), pubs...)
	if err := netpolicy.Save(in.policyPath(), &next); err != nil {
		in.stopForwardersLocked(pubs)
		return fmt.Errorf("network policy: %w", err)
	}
	in.net = next
	return nil
}

// stopForwardersLocked stops the forwarders of pubs; netMu is held.
func (in *Instance) stopForwardersLocked(pubs []netpolicy.Publish) {
	for _, p := range pubs {
		if f := in.fwd[p]; f != nil {
			f.stop()
			delete(in.fwd, p)
		}
	}
}

// stopForwarders stops every forwarder of the instance.
func (in *Instance) stopForwarders() {
	in.netMu.Lock()
	defer in.netMu.Unlock()
	for p, f := range in.fwd {
		f.stop()
		delete(in.fwd, p)
	}
}

// unpublish drops a run's published ports.
func (in *Instance) unpublish(pubs []netpolicy.Publish) {
	if len(pubs) == 0 {
		return
	}
	in.netMu.Lock()
	defer in.netMu.Unlock()
	in.stopForwardersLocked(pubs)
	next := in.net
	next.Publish = nil
	for _, q := range in.net.Publish {
		mine := false
		for _, p := range pubs {
			mine = mine || p == q
		}
		if !mine {
			next.Publish = append(next.Publish, q)
		}
	}
	if err := netpolicy.Save(in.policyPath(), &next); err == nil {
		in.net = next
	}
}

func rawFlag(raw bool) string {
	if raw {
		return " --net-raw"
	}
	return ""
}

// netStatus is the instance's network policy for lx status.
func (in *Instance) netStatus() (mode string, publish []string) {
	in.netMu.Lock()
	defer in.netMu.Unlock()
	mode = string(in.net.Mode)
	if in.net.Raw {
		mode += " raw"
	}
	for _, p := range in.net.Publish {
		publish = append(publish, p.String())
	}
	return mode, publish
}
