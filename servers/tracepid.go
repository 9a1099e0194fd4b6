package servers

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"lx/shared/procfs"
)

// Who a traced call comes from, looked at only while tracing: one stat of
// /proc/TID/exe and one read of /proc/TID/status per traced call.
//
// The guest pid is the caller's pid in the instance's pid namespace (what
// lx ps shows): the field of the NSpid line of its status at the level of
// init's namespace (init's own NSpid ends in 1 there).
//
// lx's own calls are those of init's threads (its guestView, its opens
// of the stdio it hands on), of the fork of init that executes lx-enter
// (a child of init still running init's executable), of lx-enter before
// it executes the launched command, and of the holder: tasks whose
// executable is the very file init runs lx-enter from (a sealed memfd of
// init's), which the holder's /proc/PID/exe names in the instance's
// /proc. The identity is the file's device and inode, or the thread
// group, not a name or the task's comm, which a guest can choose (prctl
// PR_SET_NAME, memfd_create("lx-enter")). A task being ptraced
// (TracerPid) is never hidden: a tracer could make it do calls lx-enter
// would not. The status is read anew for each call: a task's parent and
// tracer change.

// traced returns the guest pid of task tid, and whether the task is one
// of lx's own launch processes whose calls the trace leaves out.
func (s *Server) traced(tid int) (pid int, own bool) {
	status, err := procfs.ReadStatus(unix.AT_FDCWD, s.taskPath(tid, "status"))
	if err != nil {
		return tid, false
	}
	var st unix.Stat_t
	var exe [2]uint64
	if unix.Stat(s.taskPath(tid, "exe"), &st) == nil {
		exe = [2]uint64{st.Dev, st.Ino}
	}
	if s.launching(status, exe) {
		return 0, true
	}
	return s.guestPid(tid, status), false
}

// guestPid is the pid in the instance's pid namespace of task tid, whose
// status is status; tid itself when it cannot tell.
func (s *Server) guestPid(tid int, status procfs.Status) int {
	f := strings.Fields(status["NSpid"])
	if len(f) == 0 {
		return tid
	}
	level := len(f) - 1
	if s.initLevel > 0 {
		level = s.initLevel
	} else if s.cfg.InitPid > 0 {
		if is, err := procfs.ReadStatus(unix.AT_FDCWD, s.taskPath(s.cfg.InitPid, "status")); err == nil {
			if n := len(strings.Fields(is["NSpid"])); n > 1 {
				s.initLevel = n - 1
				level = s.initLevel
			}
		}
	}
	if level >= len(f) {
		return tid
	}
	if p, err := strconv.Atoi(f[level]); err == nil {
		return p
	}
	return tid
}

// launching reports whether the task of status, whose executable is exe,
// is one of lx's own: lx-enter or the holder (exe is the lx-enter memfd),
// a thread of init, or a child of init still running init's executable
// (the fork that executes lx-enter). A ptraced task is never.
func (s *Server) launching(status procfs.Status, exe [2]uint64) bool {
	init := s.cfg.InitPid
	if exe[1] == 0 || init <= 0 || strings.TrimSpace(status["TracerPid"]) != "0" {
		return false
	}
	pid := strconv.Itoa(init)
	switch {
	case exe == s.enterFile():
		return true
	case strings.TrimSpace(status["Tgid"]) == pid:
		return true
	case strings.TrimSpace(status["PPid"]) == pid:
		var st unix.Stat_t
		return unix.Stat(s.taskPath(init, "exe"), &st) == nil && exe == [2]uint64{st.Dev, st.Ino}
	}
	return false
}

// enterFile is the device and inode of the file init runs lx-enter from:
// the holder's executable. Zero while the holder is not known.
func (s *Server) enterFile() [2]uint64 {
	if s.enter[1] != 0 {
		return s.enter
	}
	h := s.cfg.Control.Holder()
	if h <= 0 {
		return [2]uint64{}
	}
	var st unix.Stat_t
	if unix.Fstatat(s.cfg.Proc, strconv.Itoa(h)+"/exe", &st, 0) != nil {
		return [2]uint64{}
	}
	s.enter = [2]uint64{st.Dev, st.Ino}
	return s.enter
}
