// lx-enter: the static program that puts a launched command in the
// guests' user and mount namespaces (lxbroker/enter.go). lx itself may be
// dynamically linked against the host's libc, which an imported distro
// does not have, so it cannot run inside the instance root; this program
// needs nothing but the kernel. Build: go generate ./lxbroker
//
//   lx-enter
//       the holder of the guests' namespaces: pauses forever.
//   lx-enter CWD UID GID GROUPS PATH ARGV0 ARGS...
//       with fd 3 the guests' user namespace, fd 4 their mount namespace
//       and fd 5 a status pipe: joins both namespaces, drops from its
//       bounding set the capabilities guests cannot use (CAP_SYS_RESOURCE,
//       CAP_IPC_LOCK: checked in the initial user namespace), gives itself the
//       OOM score init does not have (0), sets GROUPS (a comma list, ""
//       for none, "-" to keep them), GID and UID ("-" keeps the
//       credentials), then changes to CWD as that user (so Linux's own
//       permission check decides; a CWD starting with '?' is the
//       default one: if it cannot be entered, "/" is), and executes
//       PATH. On failure it writes the errno and the step that failed
//       (two 4-byte numbers, native order: STEP_* below) to fd 5 and
//       exits 127; fd 5 is close-on-exec, so a successful execve closes
//       it empty.
//   /proc/self/fd/N FILE ARGS...
//       the kernel runs it so, as the binfmt_misc interpreter of 32-bit
//       ELF files (lxbroker/binfmt.go): says on stderr that FILE is a
//       32-bit program, which lx does not run, and exits 126, as a shell
//       does for a file it cannot execute.

#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_pause 34
#define SYS_execve 59
#define SYS_exit 60
#define SYS_fcntl 72
#define SYS_chdir 80
#define SYS_setuid 105
#define SYS_setgid 106
#define SYS_setgroups 116
#define SYS_prctl 157
#define PR_CAPBSET_DROP 24
#define CAP_IPC_LOCK 14
#define CAP_SYS_RESOURCE 24
#define SYS_setns 308
#define PR_SET_NAME 15
#define CLONE_NEWNS 0x00020000
#define CLONE_NEWUSER 0x10000000
#define F_SETFD 2
#define FD_CLOEXEC 1
#define O_WRONLY 1

static long sys3(long n, long a, long b, long c) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

// The steps a failure names (lxbroker/runtime/pid1/enter.go).
enum { STEP_ARGS = 1, STEP_NS = 2, STEP_ID = 3, STEP_CWD = 4, STEP_EXEC = 5 };

static void fail(int step, long r) {
	int e[2] = {(int)-r, step};
	sys3(SYS_write, 5, (long)e, 8);
	for (;;)
		sys3(SYS_exit, 127, 0, 0);
}

static long len(const char *s) {
	long n = 0;
	while (s[n])
		n++;
	return n;
}

static void say(const char *s) { sys3(SYS_write, 2, (long)s, len(s)); }

static long num(const char *s) {
	long v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

__attribute__((used)) void enter(long *sp) {
	long argc = sp[0], r;
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	if (argc < 2) {
		sys3(SYS_prctl, PR_SET_NAME, (long)"lx-holder", 0);
		for (;;)
			sys3(SYS_pause, 0, 0, 0);
	}
	if (argv[0][0] == '/') {
		say("lx: ");
		say(argv[1]);
		say(": cannot execute: a 32-bit program (lx runs x86-64 programs only)\n");
		for (;;)
			sys3(SYS_exit, 126, 0, 0);
	}
	sys3(SYS_fcntl, 5, F_SETFD, FD_CLOEXEC);
	if (argc < 7)
		fail(STEP_ARGS, -22);
	if ((r = sys3(SYS_setns, 3, CLONE_NEWUSER, 0)) < 0)
		fail(STEP_NS, r);
	if ((r = sys3(SYS_setns, 4, CLONE_NEWNS, 0)) < 0)
		fail(STEP_NS, r);
	sys3(SYS_close, 3, 0, 0);
	sys3(SYS_close, 4, 0, 0);
	// Capabilities the kernel honours only in the initial user namespace
	// for what guests do with them (lowering oom_score_adj, raising hard
	// rlimits and pipe sizes; mlock past RLIMIT_MEMLOCK) leave the
	// bounding set, so guest root does not hold what it cannot use and
	// programs take their unprivileged paths. A user namespace a guest
	// makes has them again, as on Linux.
	if ((r = sys3(SYS_prctl, PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0)) < 0 ||
	    (r = sys3(SYS_prctl, PR_CAPBSET_DROP, CAP_IPC_LOCK, 0)) < 0)
		fail(STEP_ID, r);
	// init is out of the OOM killer's reach (the broker sets -1000 where
	// it can): its commands are not.
	if ((r = sys3(SYS_open, (long)"/proc/self/oom_score_adj", O_WRONLY, 0)) >= 0) {
		sys3(SYS_write, r, (long)"0", 1);
		sys3(SYS_close, r, 0, 0);
	}
	if (argv[4][0] != '-') {
		unsigned int gids[256];
		long n = 0;
		for (const char *p = argv[4]; *p && n < 256;) {
			gids[n++] = (unsigned int)num(p);
			while (*p && *p != ',')
				p++;
			if (*p)
				p++;
		}
		if ((r = sys3(SYS_setgroups, n, (long)gids, 0)) < 0)
			fail(STEP_ID, r);
	}
	if (argv[2][0] != '-') {
		if ((r = sys3(SYS_setgid, num(argv[3]), 0, 0)) < 0)
			fail(STEP_ID, r);
		if ((r = sys3(SYS_setuid, num(argv[2]), 0, 0)) < 0)
			fail(STEP_ID, r);
	}
	if (argv[1][0] == '?') {
		if (sys3(SYS_chdir, (long)argv[1] + 1, 0, 0) < 0 && (r = sys3(SYS_chdir, (long)"/", 0, 0)) < 0)
			fail(STEP_CWD, r);
	} else if ((r = sys3(SYS_chdir, (long)argv[1], 0, 0)) < 0)
		fail(STEP_CWD, r);
	fail(STEP_EXEC, sys3(SYS_execve, (long)argv[5], (long)(argv + 6), (long)envp));
}

__asm__(".globl _start\n"
	"_start:\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call enter\n"
	"	hlt\n");
