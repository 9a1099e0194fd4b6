// fuzz: random syscalls with random arguments, for lx's servers.
//
//	fuzz DIR SECONDS [SEED]
//
// The parent keeps WORKERS children running for SECONDS. Each child makes
// a scratch directory under DIR its cwd, then makes up to CALLS random
// syscalls: a number from 0 to ~460 (a few out of range, x32 or negative),
// arguments drawn from 0, 1, -1, small ints, fd numbers, page-aligned and
// unaligned pointers into its own buffers of random bytes (with path names
// and socket addresses in them), NULL, kernel-half addresses, huge sizes
// and random words. A SIGALRM every 50 ms interrupts a call that waits; a
// child that still runs after a second gets SIGKILL and the parent forks
// another (a child that cannot be killed fails the run, exit 3). Children
// cannot raise their limits: no core files, 16 MiB files, 512 MiB of
// address space. The seed is printed first; the same seed makes the same
// children (their calls, not their timing).
//
// Calls that would only end or defeat the fuzzer rather than test lx are
// excluded or tamed, and printed at the start (see excluded below).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 6
#define CALLS 20000
#define NBUF 4
#define BUFSZ (16 * 4096)
#define MAXNR 463 // above the highest x86-64 number in use
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static const char *excluded =
	"reboot (shuts the instance down by design); "
	"exit, exit_group (end the child; native); "
	"rt_sigreturn (a garbage frame only crashes the child; native); "
	"fork, vfork (fork bombs); "
	"clone, clone3 without CLONE_THREAD (fork bombs: CLONE_THREAD|CLONE_SIGHAND|CLONE_VM is forced, at most 8 per child); "
	"kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo but to init (pid 1 or any of its threads) or to the "
	"fuzzer's children (a pid <= 0 or the parent's would end the fuzzer; an older process is the test's, not the fuzzer's); "
	"pidfd_send_signal (its fd may be a pidfd of the parent); "
	"ptrace, process_vm_writev but of the fuzzer's children (would stop or corrupt the fuzzer, or init: guest root may, as on Linux); "
	"prlimit64, sched_setscheduler, sched_setparam, sched_setattr of init or the parent, setpriority but of "
	"another single process (would kill the fuzzer or starve init: RLIMIT_CPU, SCHED_IDLE; guest root may, as on Linux); "
	"chmod, fchmod, fchmodat, fchmodat2 of the instance's root directory (in an unprivileged instance the servers act "
	"as the host user, without capabilities: a root without its owner's search bit cuts them off the whole tree, "
	"a known limit, see README)";

static uint64_t rng;

static uint64_t next(void) {
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static uint64_t below(uint64_t n) { return n ? next() % n : 0; }

// inits are the thread ids of init (pid 1), read from /proc/1/task when
// a child starts.
static int inits[512], ninits;

static char *bufs[NBUF];
static pid_t parent;
static volatile uint64_t *shared; // [0] calls made by all children
static volatile int clones;       // CLONE_THREAD clones by this child (shared with its threads)

static const char *names[] = {
	".", "..", "/", "a", "b", "a/b", "fz", "fz/x", "/tmp/lxfz", "/tmp", "/dev/null", "/proc/self/fd/0",
	"/proc/self/exe", "/etc/passwd", "/nonexistent", "s", "\xff\xfe", "",
};

// fill puts random bytes in buf and, at random places, path names and
// socket addresses (AF_UNIX and loopback AF_INET).
static void fill(char *buf) {
	for (size_t i = 0; i < BUFSZ; i += 8) {
		uint64_t v = next();
		memcpy(buf + i, &v, 8);
	}
	for (int k = 0; k < 32; k++) {
		size_t off = below(BUFSZ - 64);
		if (k % 4 == 0)
			off &= ~(size_t)4095; // page-aligned pointers meet them too
		switch (below(3)) {
		case 0: {
			const char *n = names[below(sizeof names / sizeof names[0])];
			memcpy(buf + off, n, strlen(n) + 1);
			break;
		}
		case 1: {
			uint16_t fam = AF_UNIX;
			memcpy(buf + off, &fam, 2);
			memcpy(buf + off + 2, "s\0", 2);
			break;
		}
		default: {
			unsigned char in[16] = {2, 0, 0x1f, 0x90, 127, 0, 0, 1};
			memcpy(buf + off, in, sizeof in);
		}
		}
	}
}

static uint64_t pointer(int aligned) {
	char *b = bufs[below(NBUF)];
	uint64_t off = below(BUFSZ);
	if (aligned)
		off &= ~(uint64_t)4095;
	return (uint64_t)(uintptr_t)(b + off);
}

static uint64_t arg(void) {
	switch (below(17)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return (uint64_t)-1;
	case 3:
		return below(64);
	case 4:
		return below(24); // an fd
	case 5:
	case 6:
		return pointer(1);
	case 7:
	case 8:
		return pointer(0);
	case 9:
		return (uint64_t)(uintptr_t)(bufs[below(NBUF)] + BUFSZ - below(16)); // runs into the guard page
	case 10: {
		static const uint64_t kernel[] = {0xffff800000000000ULL, 0xffffffffff600000ULL, 0xffffffff81000000ULL,
						  0x8000000000000000ULL, 0x00007ffffffff000ULL};
		return kernel[below(5)];
	}
	case 11: {
		static const uint64_t huge[] = {1ULL << 31, 1ULL << 32, 1ULL << 62, (uint64_t)-2, 0x7fffffff,
						0xffffffff, 1ULL << 40};
		return huge[below(7)];
	}
	case 12:
		return (uint32_t)next(); // flags
	case 13:
		return (uint64_t)(int64_t)-(int64_t)below(200); // AT_FDCWD and friends, -errno
	case 14:
		return ninits ? (uint64_t)inits[below(ninits)] : 1; // init's threads, for the kill family
	default:
		return next();
	}
}

static void readinits(void) {
	ninits = 0;
	DIR *d = opendir("/proc/1/task");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL && ninits < 512)
		if (atoi(e->d_name) > 0)
			inits[ninits++] = atoi(e->d_name);
	if (d)
		closedir(d);
}

static int isinit(int32_t p) {
	if (p == 1)
		return 1;
	for (int i = 0; i < ninits; i++)
		if (inits[i] == p)
			return 1;
	return 0;
}

// ours: one of the fuzzer's children or their threads (newer than the
// parent; pids do not wrap in a short run).
static int ours(uint64_t pid) { return (int32_t)pid > parent; }

// signalable: a pid the kill family may target.
static int signalable(uint64_t pid) { return ours(pid) || isinit((int32_t)pid); }

// tunable: a pid whose limits and scheduling may be changed.
static int tunable(uint64_t pid) { return (int32_t)pid != parent && !isinit((int32_t)pid); }

// isroot reports whether dirfd and path (a pointer the call would read,
// maybe bad) name the instance's root directory, as chmod and fchmodat
// would resolve them.
static int isroot(int dirfd, uint64_t path, int emptypath) {
	struct stat root, st;
	if (stat("/", &root) != 0)
		return 1; // cannot tell: skip the call
	const char *p = "";
	if (path != 0) {
		p = NULL;
		for (int i = 0; i < NBUF; i++)
			if (path >= (uint64_t)(uintptr_t)bufs[i] && path < (uint64_t)(uintptr_t)(bufs[i] + BUFSZ)) {
				p = (const char *)(uintptr_t)path;
				if (memchr(p, 0, bufs[i] + BUFSZ - p) == NULL)
					return 0; // runs into the guard page: EFAULT
			}
		if (p == NULL)
			return 0; // not in a buffer: EFAULT
	}
	if (*p == 0 && !emptypath)
		return 0; // ENOENT or EFAULT
	if (fstatat(dirfd, p, &st, *p == 0 ? AT_EMPTY_PATH : 0) != 0)
		return 0;
	return st.st_dev == root.st_dev && st.st_ino == root.st_ino;
}

// tame returns 0 to skip the call, 1 to make it (args possibly changed).
static int tame(long nr, uint64_t *a) {
	switch (nr) {
	case SYS_reboot:
	case SYS_exit:
	case SYS_exit_group:
	case SYS_rt_sigreturn:
	case SYS_fork:
	case SYS_vfork:
	case SYS_pidfd_send_signal:
		return 0;
	case SYS_clone:
		if (clones >= 8)
			return 0;
		clones++;
		a[0] |= CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
		return 1;
	case SYS_clone3: {
		// struct clone_args starts with the u64 flags; a pointer that is
		// not into a buffer faults.
		for (int i = 0; i < NBUF; i++) {
			char *b = bufs[i];
			if (a[0] >= (uint64_t)(uintptr_t)b && a[0] < (uint64_t)(uintptr_t)(b + BUFSZ)) {
				if (a[0] + 8 > (uint64_t)(uintptr_t)(b + BUFSZ) || clones >= 8)
					return 0;
				clones++;
				uint64_t *flags = (uint64_t *)(uintptr_t)a[0];
				*flags |= CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
				return 1;
			}
		}
		return a[0] < 4096 || a[0] >= 0x800000000000ULL; // faults
	}
	case SYS_kill:
	case SYS_tkill:
	case SYS_rt_sigqueueinfo:
		return signalable(a[0]);
	case SYS_tgkill:
	case SYS_rt_tgsigqueueinfo:
		return signalable(a[0]) && signalable(a[1]);
	case SYS_ptrace:
		return ours(a[1]);
	case SYS_process_vm_writev:
		return ours(a[0]);
	case SYS_prlimit64:
	case SYS_sched_setscheduler:
	case SYS_sched_setparam:
	case SYS_sched_setattr:
		return tunable(a[0]);
	case SYS_setpriority:
		return a[0] == PRIO_PROCESS && tunable(a[1]);
	case SYS_chmod:
		return !isroot(AT_FDCWD, a[0], 0);
	case SYS_fchmod:
		return !isroot((int)a[0], 0, 1);
	case SYS_fchmodat:
	case SYS_fchmodat2:
		return !isroot((int)a[0], a[1], nr == SYS_fchmodat2 && (a[3] & AT_EMPTY_PATH));
	}
	return 1;
}

static void tick(int sig) { (void)sig; }

// interrupt has SIGALRM interrupt a blocked call every 50 ms (no
// SA_RESTART), so that a child goes on after a call that waits; a child
// that undid it (a random rt_sigaction, sigprocmask or setitimer) and
// blocks is killed by the parent after a second.
static void interrupt(void) {
	struct sigaction sa = {0};
	sa.sa_handler = tick;
	sigaction(SIGALRM, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	struct itimerval it = {{0, 50000}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

static void child(const char *dir, int id) {
	// stdio to /dev/null: the parent's are the lx client's.
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0), dup2(null, 1), dup2(null, 2);
	if (null > 2)
		close(null);
	char cwd[64];
	snprintf(cwd, sizeof cwd, "%s/c%d", dir, id % 64);
	mkdir(cwd, 0777);
	if (chdir(cwd) != 0)
		_exit(2);
	// Bounds that a guest cannot raise again: no core files, files of at
	// most 16 MiB (fallocate, ftruncate, memfds), 512 MiB of address space.
	struct rlimit zero = {0, 0}, fsize = {16 << 20, 16 << 20}, as = {512ULL << 20, 512ULL << 20};
	setrlimit(RLIMIT_CORE, &zero);
	setrlimit(RLIMIT_FSIZE, &fsize);
	setrlimit(RLIMIT_AS, &as);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NBUF; i++) {
		// Each buffer is followed by a PROT_NONE guard page.
		char *m = mmap(NULL, BUFSZ + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(3);
		mprotect(m + BUFSZ, 4096, PROT_NONE);
		bufs[i] = m;
		fill(m);
	}
	readinits();
	interrupt();
	for (int n = 0; n < CALLS; n++) {
		long nr;
		uint64_t r = below(100);
		if (r < 96)
			nr = below(MAXNR);
		else if (r < 98)
			nr = MAXNR + below(600);
		else if (r < 99)
			nr = 0x40000000 + below(MAXNR); // x32
		else
			nr = -(long)below(3) - 1;
		uint64_t a[6];
		for (int i = 0; i < 6; i++)
			a[i] = arg();
		if (!tame(nr, a))
			continue;
		if (n % 256 == 255)
			fill(bufs[below(NBUF)]);
		if (n % 64 == 63)
			interrupt();
		__atomic_fetch_add(&shared[0], 1, __ATOMIC_RELAXED);
		syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
	_exit(0);
}

struct slot {
	pid_t pid;
	int killed;
	struct timespec start;
};

static double since(struct timespec t) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t.tv_sec) + (now.tv_nsec - t.tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
	if (argc < 3 || argc > 4)
		return 2; // also when a child re-executes this file with garbage
	const char *dir = argv[1];
	double seconds = atof(argv[2]);
	uint64_t seed = argc == 4 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (seed == 0)
		seed = 1;
	parent = getpid();
	printf("fuzz: seed %llu, %g s, %d workers, %d calls each\n", (unsigned long long)seed, seconds, WORKERS, CALLS);
	printf("fuzz: excluded: %s\n", excluded);
	fflush(stdout);
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		perror("mkdir");
		return 1;
	}
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct slot slots[WORKERS] = {0};
	struct timespec begin;
	clock_gettime(CLOCK_MONOTONIC, &begin);
	int children = 0, killed = 0, crashed = 0, bysig[65] = {0};
	for (;;) {
		// Reap whatever ended: a slot's child, or a thread of a child that
		// the parent traces (a thread's PTRACE_TRACEME makes the parent
		// its tracer, and the child cannot be reaped before that thread).
		// Never block: a wait on one pid can wait for another's reaping.
		int st;
		pid_t w;
		while ((w = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
			if (WIFSTOPPED(st)) {
				kill(w, SIGKILL); // traced and stopped
				continue;
			}
			for (int i = 0; i < WORKERS; i++)
				if (slots[i].pid == w) {
					if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL) {
						crashed++;
						bysig[WTERMSIG(st) & 63]++;
					}
					slots[i].pid = 0;
				}
		}
		int running = 0;
		for (int i = 0; i < WORKERS; i++) {
			struct slot *s = &slots[i];
			if (s->pid > 0 && since(s->start) > 1.0) {
				if (!s->killed)
					killed++;
				s->killed = 1;
				kill(s->pid, SIGKILL); // again each round until reaped
			}
			if (s->pid == 0 && since(begin) < seconds) {
				uint64_t cseed = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(children + 1);
				fflush(stdout);
				pid_t pid = fork();
				if (pid == 0) {
					rng = cseed ? cseed : 1;
					child(dir, children);
				}
				if (pid < 0) {
					perror("fork");
					break;
				}
				s->pid = pid;
				s->killed = 0;
				clock_gettime(CLOCK_MONOTONIC, &s->start);
				children++;
			}
			if (s->pid > 0)
				running++;
		}
		if (running == 0 && since(begin) >= seconds)
			break;
		if (since(begin) >= seconds + 60) {
			// Killed a minute ago and still there: the test must see it,
			// not wait for it.
			printf("fuzz: FAIL: %d children could not be killed (kill: %s)\n", running,
			       kill(slots[0].pid > 0 ? slots[0].pid : getpid(), 0) == 0 ? "no error" : strerror(errno));
			return 3;
		}
		usleep(5000);
	}
	// The children share the counter's page, and a random call of theirs
	// can write over it: a count no child could have made is not shown.
	unsigned long long calls = shared[0];
	char ncalls[32] = "an unknown number of";
	if (calls <= (unsigned long long)children * CALLS)
		snprintf(ncalls, sizeof ncalls, "%llu", calls);
	printf("fuzz done: seed %llu, %d children (%d killed after 1 s, %d crashed), %s calls\n",
	       (unsigned long long)seed, children, killed, crashed, ncalls);
	printf("fuzz: children's deaths by signal:");
	for (int i = 1; i < 65; i++)
		if (bysig[i])
			printf(" %s %d", strsignal(i), bysig[i]);
	printf("\n");
	return 0;
}
