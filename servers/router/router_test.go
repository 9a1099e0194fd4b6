package router

import (
	"testing"

	"go.uber.org/zap"

	"lx/shared/abi"
	"lx/shared/control"
	"lx/shared/ring"
	"lx/shared/routes"
	"lx/shared/wire"
)

// TestRecoverInflight: a notification recorded but not pushed is pushed by
// the next router; one whose push happened is not pushed twice.
func TestRecoverInflight(t *testing.T) {
	rf, _ := ring.Create("r", 8, 128)
	defer rf.Close()
	rg, _ := ring.Map(int(rf.Fd()))
	cf, _ := control.Create("router")
	defer cf.Close()
	ctl, _ := control.Map(int(cf.Fd()))
	// No listener: IDValid fails, so use a listener-less check of the
	// pushed case and of the record being cleared.
	cfg := Config{Listener: -1, Rings: map[routes.Kind]*ring.Ring{routes.FS: rg}, Control: ctl, Log: zap.NewNop()}
	rec := ctl.Inflight()
	rec.Heads[routes.FS] = rg.Head()
	rec.Notif.ID, rec.Notif.Pid, rec.Notif.Data.Nr = 7, 1, 4 // stat: an fssrv call
	rg.Push([]byte("already pushed"))
	ctl.SetInflight(1)
	if err := recoverInflight(cfg, wire.NewEncoder()); err != nil {
		t.Fatal(err)
	}
	if rg.Head() != 1 || ctl.InflightFlagged() {
		t.Fatalf("pushed frame pushed again (head %d) or record kept", rg.Head())
	}
	// Not pushed, but the caller is gone (IDValid fails): nothing to do.
	rec.Heads[routes.FS] = rg.Head()
	ctl.SetInflight(1)
	recoverInflight(cfg, wire.NewEncoder())
	if rg.Head() != 1 {
		t.Fatalf("a frame for a gone caller was pushed")
	}
	// Killed while waiting: the record holds no notification.
	rec.Notif = abi.SeccompNotif{}
	ctl.SetInflight(1)
	if err := recoverInflight(cfg, wire.NewEncoder()); err != nil || rg.Head() != 1 || ctl.InflightFlagged() {
		t.Fatalf("empty record: err %v head %d", err, rg.Head())
	}
}
