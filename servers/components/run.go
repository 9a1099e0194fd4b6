package components

import (
	"fmt"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"lx/servers"
	"lx/servers/router"
	"lx/shared/control"
	"lx/shared/idmap"
	"lx/shared/launch"
	"lx/shared/ring"
	"lx/shared/routes"
)

// Run runs the component cfg names until it is asked to exit or the
// instance is gone: it maps what the config gives it, confines itself to
// its sandbox and serves.
func Run(cfg *launch.Config, log *zap.Logger) error {
	r, err := Lookup(cfg.Name)
	if err != nil {
		return err
	}
	if r.Kind == launch.KindRouter {
		return runRouter(r, cfg, log)
	}
	return runServer(r, cfg, log)
}

// mapped is the fds of a launch config, mapped as the component needs them.
type mapped struct {
	cfg *launch.Config
	err error
}

func (m *mapped) fd(name string) int {
	fd, err := m.cfg.Fd(name)
	if m.err == nil {
		m.err = err
	}
	return fd
}

func (m *mapped) ring(name string) *ring.Ring {
	fd := m.fd(name)
	if m.err != nil {
		return nil
	}
	r, err := ring.Map(fd)
	m.err = err
	return r
}

func (m *mapped) control(name string) *control.Control {
	fd := m.fd(name)
	if m.err != nil {
		return nil
	}
	c, err := control.Map(fd)
	m.err = err
	return c
}

func runServer(r *Row, cfg *launch.Config, log *zap.Logger) error {
	unix.Umask(0) // creation modes come from the guest's umask
	m := &mapped{cfg: cfg}
	sc := servers.Config{Name: cfg.Name, Table: r.Handlers(cfg), Listener: m.fd(launch.Listener), Ring: m.ring(launch.Ring),
		Control: m.control(launch.Control), Trace: m.ring(launch.Trace), Root: m.fd(launch.Root), Proc: m.fd(launch.Proc),
		InitPid: cfg.InitPid, Profile: cfg.Profile, Log: log}
	if m.err != nil {
		return m.err
	}
	sc.Ring.Spin, sc.Ring.Yield = cfg.Spin, true
	var err error
	if sc.IDs, err = idmap.Read(cfg.InitPid); err != nil {
		return fmt.Errorf("id maps of init: %w", err)
	}
	s, err := servers.New(sc)
	if err != nil {
		return err
	}
	if _, err := servers.Sandbox(cfg.Name, cfg.Sandbox, r.Sandbox(), log); err != nil {
		return err
	}
	return s.Serve(make(chan struct{}))
}

func runRouter(r *Row, cfg *launch.Config, log *zap.Logger) error {
	m := &mapped{cfg: cfg}
	rc := router.Config{Listener: m.fd(launch.Listener), Control: m.control(launch.Control), Rings: map[routes.Kind]*ring.Ring{},
		Servers: map[routes.Kind]*control.Control{}, Pass: map[int32]bool{}, Log: log, Spin: cfg.Spin}
	for _, k := range routes.ServerKinds() {
		rc.Rings[k] = m.ring(launch.RingOf(k.Server()))
		rc.Servers[k] = m.control(launch.ControlOf(k.Server()))
	}
	if m.err != nil {
		return m.err
	}
	for _, nr := range cfg.Profile.PassCalls() {
		rc.Pass[int32(nr)] = true
	}
	if _, err := servers.Sandbox(cfg.Name, cfg.Sandbox, r.Sandbox(), log); err != nil {
		return err
	}
	return router.Route(rc)
}
