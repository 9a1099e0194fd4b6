package abi

// Seccomp user-notification structs (include/uapi/linux/seccomp.h). Sizes
// and offsets are checked in abi_test.go.

// SeccompData is struct seccomp_data.
type SeccompData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// SeccompNotif is struct seccomp_notif.
type SeccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  SeccompData
}

// SeccompNotifResp is struct seccomp_notif_resp.
type SeccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// SeccompNotifAddfd is struct seccomp_notif_addfd.
type SeccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}
