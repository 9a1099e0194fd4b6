// proctest: processes, exec, identities, limits and signals as a guest sees
// them. Every line it prints is free of pids, times and addresses, so the
// output natively and under lx must be the same. It runs in a scratch
// directory it may write to; argv[1] == "exe" is the re-exec entry point.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

extern char **environ;

// say prints one line with write(2): no stdio buffer is copied by fork.
static void say(const char *fmt, ...) {
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof b - 2)
		n = sizeof b - 2;
	b[n++] = '\n';
	write(1, b, n);
}

static const char *en(int e) { return e ? strerrorname_np(e) : "ok"; }

// status renders a wait status.
static const char *status(int st) {
	static char b[64];
	if (WIFEXITED(st))
		snprintf(b, sizeof b, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(b, sizeof b, "signal %s%s", sigabbrev_np(WTERMSIG(st)), WCOREDUMP(st) ? " core" : "");
	else if (WIFSTOPPED(st))
		snprintf(b, sizeof b, "stopped %s", sigabbrev_np(WSTOPSIG(st)));
	else
		snprintf(b, sizeof b, "?%#x", st);
	return b;
}

// run forks, runs f in the child (its return is the exit code) and
// returns the child's wait status.
static int run(int (*f)(void *), void *arg) {
	pid_t p = fork();
	if (p == 0)
		_exit(f(arg));
	int st;
	if (waitpid(p, &st, 0) != p)
		return -1;
	return st;
}

static void writefile(const char *path, const void *b, size_t n, mode_t mode) {
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	write(fd, b, n);
	close(fd);
	chmod(path, mode);
}

static char self[4096];

// ---- exec ----

static int try_exec(void *path) {
	char *argv[] = {path, "exe", "hello", NULL};
	execve(path, argv, environ);
	return 100 + errno;
}

static void exec_errno(const char *what, const char *path) {
	int st = run(try_exec, (void *)path);
	if (WIFEXITED(st) && WEXITSTATUS(st) >= 100)
		say("exec %s: %s", what, en(WEXITSTATUS(st) - 100));
	else
		say("exec %s: %s", what, status(st));
}

static void copy_self(const char *to, void (*patch)(unsigned char *, size_t *)) {
	int fd = open(self, O_RDONLY);
	static unsigned char b[4 << 20];
	size_t n = read(fd, b, sizeof b);
	close(fd);
	patch(b, &n);
	writefile(to, b, n, 0755);
}

static void truncate10(unsigned char *b, size_t *n) { *n = 10; }
static void truncate100(unsigned char *b, size_t *n) { *n = 100; }
static void arm64(unsigned char *b, size_t *n) { b[18] = 183; }
static void bigendian(unsigned char *b, size_t *n) { b[5] = 2; }

static int script_depth(int depth) {
	// s0 is a script run by sh; s(i) has #! s(i-1). Running s(depth) nests
	// depth interpreters before sh.
	char name[32], prev[32], body[128];
	snprintf(name, sizeof name, "s0");
	writefile(name, "#!/bin/sh\necho script ran \"$@\"\n", 31, 0755);
	for (int i = 1; i <= depth; i++) {
		snprintf(prev, sizeof prev, "./s%d", i - 1);
		snprintf(name, sizeof name, "s%d", i);
		int n = snprintf(body, sizeof body, "#!%s\n", prev);
		writefile(name, body, n, 0755);
	}
	return 0;
}

static int exec_script(void *name) {
	char *argv[] = {name, "arg", NULL};
	execve(name, argv, environ);
	say("exec %s: %s", (char *)name, en(errno));
	return 1;
}

static int e2big_one(void *unused) {
	static char arg[200000];
	memset(arg, 'x', sizeof arg - 1);
	char *argv[] = {"/bin/true", arg, NULL};
	execve("/bin/true", argv, environ);
	return 100 + errno;
}

static int e2big_many(void *unused) {
	// 5000 arguments of 2000 bytes: 10 MB, beyond a quarter of the stack limit
	static char arg[2000];
	memset(arg, 'y', sizeof arg - 1);
	static char *argv[5002];
	argv[0] = "/bin/true";
	for (int i = 1; i <= 5000; i++)
		argv[i] = arg;
	execve("/bin/true", argv, environ);
	return 100 + errno;
}

static int big_ok(void *unused) {
	// 100 KB of arguments is fine
	static char arg[1000];
	memset(arg, 'z', sizeof arg - 1);
	static char *argv[102];
	argv[0] = "/bin/true";
	for (int i = 1; i <= 100; i++)
		argv[i] = arg;
	execve("/bin/true", argv, environ);
	return 100 + errno;
}

static int empty_path(void *unused) {
	int fd = open(self, O_RDONLY | O_CLOEXEC);
	char *argv[] = {"via-fd", "exe", "execveat", NULL};
	syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
	return 100 + errno;
}

static int empty_path_noflag(void *unused) {
	int fd = open(self, O_RDONLY | O_CLOEXEC);
	char *argv[] = {"via-fd", "exe", NULL};
	syscall(SYS_execveat, fd, "", argv, environ, 0);
	return 100 + errno;
}

static int fexec(void *unused) {
	int fd = open(self, O_RDONLY);
	char *argv[] = {"fexecve", "exe", "fexecve", NULL};
	fexecve(fd, argv, environ);
	return 100 + errno;
}

static void *exec_thread(void *unused) {
	char *argv[] = {self, "exe", "from-thread", NULL};
	execve(self, argv, environ);
	say("exec from thread: %s", en(errno));
	exit(1);
}

static int exec_from_thread(void *unused) {
	pthread_t t;
	pthread_create(&t, NULL, exec_thread, NULL);
	for (;;)
		pause();
	return 0;
}

static void test_exec(void) {
	writefile("text", "just words\n", 11, 0755);
	exec_errno("text file", "./text");
	copy_self("trunc10", truncate10);
	exec_errno("elf truncated to 10 bytes", "./trunc10");
	copy_self("trunc100", truncate100);
	exec_errno("elf truncated to 100 bytes", "./trunc100");
	copy_self("arm64", arm64);
	exec_errno("aarch64 elf", "./arm64");
	copy_self("bigend", bigendian);
	exec_errno("big-endian elf", "./bigend");
	writefile("noexec", "#!/bin/sh\n", 10, 0644);
	exec_errno("file without x", "./noexec");
	mkdir("adir", 0755);
	exec_errno("directory", "./adir");
	exec_errno("missing file", "./no-such-file");
	exec_errno("under a file", "./text/x");
	writefile("badinterp", "#!/no/such/interp\n", 18, 0755);
	exec_errno("missing interpreter", "./badinterp");
	writefile("emptyinterp", "#!\n", 3, 0755);
	exec_errno("empty #!", "./emptyinterp");
	int st;
	script_depth(6);
	for (int d = 0; d <= 6; d++) {
		char name[16];
		snprintf(name, sizeof name, "./s%d", d);
		st = run(exec_script, name);
		say("script nested %d: %s", d, status(st));
	}
	st = run(e2big_one, NULL);
	say("exec one 200000-byte argument: %s", WEXITSTATUS(st) >= 100 ? en(WEXITSTATUS(st) - 100) : status(st));
	st = run(e2big_many, NULL);
	say("exec 10 MB of arguments: %s", WEXITSTATUS(st) >= 100 ? en(WEXITSTATUS(st) - 100) : status(st));
	st = run(big_ok, NULL);
	say("exec 100 KB of arguments: %s", WEXITSTATUS(st) >= 100 ? en(WEXITSTATUS(st) - 100) : status(st));
	st = run(empty_path, NULL);
	say("execveat AT_EMPTY_PATH: %s", status(st));
	st = run(empty_path_noflag, NULL);
	say("execveat empty path without the flag: %s", WEXITSTATUS(st) >= 100 ? en(WEXITSTATUS(st) - 100) : status(st));
	st = run(fexec, NULL);
	say("fexecve: %s", status(st));
	st = run(exec_from_thread, NULL);
	say("exec from a second thread: %s", status(st));
	exec_errno("self", self);
}

// The re-exec entry point: report what the new image sees.
static int exe_main(int argc, char **argv) {
	char b[4096];
	ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
	b[n > 0 ? n : 0] = 0;
	const char *base = strrchr(b, '/');
	say("  new image: argv %s, /proc/self/exe %s, threads %s", argc > 2 ? argv[2] : "-",
	    base ? base + 1 : b, "1");
	return 5;
}

// ---- processes ----

static int child_ppid(void *parent) { return getppid() == *(pid_t *)parent ? 7 : 8; }

static int vfork_child(void) {
	pid_t p = vfork();
	if (p == 0)
		_exit(9);
	int st;
	waitpid(p, &st, 0);
	return st;
}

static int clone_fn(void *arg) { return 11; }

static int orphan(void *unused) {
	int pfd[2];
	pipe(pfd);
	pid_t mid = fork();
	if (mid == 0) {
		pid_t me = getpid();
		if (fork() == 0) {
			// grandchild: wait until mid is gone, then report
			close(pfd[0]);
			while (getppid() == me)
				usleep(1000);
			write(pfd[1], "r", 1);
			_exit(0);
		}
		_exit(0);
	}
	close(pfd[1]);
	int st;
	waitpid(mid, &st, 0);
	char c = 0;
	read(pfd[0], &c, 1);
	say("orphan reparented: %s", c == 'r' ? "yes" : "no");
	// the grandchild was reaped by its new parent: no child left here
	errno = 0;
	say("wait with no children: %s", en(waitpid(-1, NULL, WNOHANG) < 0 ? errno : 0));
	return 0;
}

struct tinfo {
	pid_t tid;
	long sum;
};

static void *worker(void *arg) {
	struct tinfo *t = arg;
	t->tid = gettid();
	for (int i = 0; i < 1000000; i++)
		t->sum += i % 3;
	return NULL;
}

static void *forker(void *arg) {
	pid_t p = fork();
	if (p == 0)
		_exit(13);
	int st;
	waitpid(p, &st, 0);
	*(int *)arg = st;
	return NULL;
}

static void test_processes(void) {
	pid_t me = getpid();
	say("fork, getppid in child: %s", status(run(child_ppid, &me)));
	say("vfork: %s", status(vfork_child()));
	static char stack[65536];
	pid_t p = clone(clone_fn, stack + sizeof stack, SIGCHLD, NULL);
	int st;
	waitpid(p, &st, 0);
	say("clone(SIGCHLD): %s", status(st));
	p = clone(clone_fn, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	waitpid(p, &st, 0);
	say("clone(CLONE_VM|CLONE_VFORK): %s", status(st));
	char *argv[] = {"sh", "-c", "exit 17", NULL};
	if (posix_spawn(&p, "/bin/sh", NULL, NULL, argv, environ) == 0) {
		waitpid(p, &st, 0);
		say("posix_spawn: %s", status(st));
	}
	char *bad[] = {"nothing", NULL};
	say("posix_spawn of a missing file: %s", en(posix_spawn(&p, "/no/such", NULL, NULL, bad, environ)));
	say("system: %s", status(system("exit 3")));
	// waitid
	p = fork();
	if (p == 0)
		_exit(21);
	siginfo_t si = {0};
	waitid(P_PID, p, &si, WEXITED | WNOWAIT);
	say("waitid WNOWAIT: code %s status %d", si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status);
	memset(&si, 0, sizeof si);
	waitid(P_PID, p, &si, WEXITED);
	say("waitid again: code %s status %d pid-matches %d", si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status, si.si_pid == p);
	errno = 0;
	say("waitid on a reaped child: %s", en(waitid(P_PID, p, &si, WEXITED) < 0 ? errno : 0));
	p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	say("wait4 WNOHANG on a running child: %d", (int)wait4(p, &st, WNOHANG, NULL));
	kill(p, SIGSTOP);
	waitpid(p, &st, WUNTRACED);
	say("stopped child: %s", status(st));
	kill(p, SIGCONT);
	waitpid(p, &st, WCONTINUED);
	say("continued child: %s", WIFCONTINUED(st) ? "continued" : status(st));
	kill(p, SIGKILL);
	struct rusage ru;
	wait4(p, &st, 0, &ru);
	say("killed child: %s", status(st));
	// process groups and sessions
	p = fork();
	if (p == 0) {
		pid_t s = setsid();
		int eperm = setsid() < 0 && errno == EPERM;
		_exit((s == getpid() ? 1 : 0) | (getsid(0) == getpid() ? 2 : 0) | (eperm ? 4 : 0) | (getpgrp() == getpid() ? 8 : 0));
	}
	waitpid(p, &st, 0);
	say("setsid, getsid, second setsid, new group: %d/15", WEXITSTATUS(st));
	say("setpgid of a missing process: %s", en(setpgid(999999, 0) < 0 ? errno : 0));
	say("getpgid of a missing process: %s", en(getpgid(999999) < 0 ? errno : 0));
	run(orphan, NULL);
	// threads
	pthread_t th[8];
	struct tinfo ti[8] = {0};
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, worker, &ti[i]);
	int distinct = 1;
	long sum = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		sum += ti[i].sum;
		for (int j = 0; j < i; j++)
			distinct &= ti[i].tid != ti[j].tid;
		distinct &= ti[i].tid != getpid();
	}
	say("8 threads: distinct tids %d, sum %ld", distinct, sum);
	int fst = 0;
	pthread_t f;
	pthread_create(&f, NULL, forker, &fst);
	pthread_join(f, NULL);
	say("fork from a thread: %s", status(fst));
}

// ---- identities ----

static int ids(void *unused) {
	uid_t r, e, s;
	gid_t gids[8] = {100, 200};
	int out = 0;
	if (setgroups(2, gids) == 0 && getgroups(8, gids) == 2)
		out |= 1;
	if (setresgid(1001, 1002, 1003) == 0) {
		gid_t a, b, c;
		getresgid(&a, &b, &c);
		out |= (a == 1001 && b == 1002 && c == 1003) ? 2 : 0;
	}
	if (setresuid(1001, 1002, 1003) == 0) {
		getresuid(&r, &e, &s);
		out |= (r == 1001 && e == 1002 && s == 1003) ? 4 : 0;
	}
	say("  after setresuid: geteuid %d, setuid(0) %s", geteuid(), en(setuid(0) < 0 ? errno : 0));
	say("  setgroups as non-root: %s", en(setgroups(0, NULL) < 0 ? errno : 0));
	say("  setuid(1003) (saved id): %s, setuid(1001) then: %d", en(setuid(1003) < 0 ? errno : 0), getuid());
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	say("  capabilities after dropping root: %#x", d[0].effective);
	return out;
}

static void test_identities(void) {
	if (getuid() != 0) {
		say("identities: skipped, not root");
		return;
	}
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	syscall(SYS_capget, &h, d);
	say("root's capabilities: setuid %d, setgid %d, kill %d, chown %d", !!(d[0].effective & (1 << CAP_SETUID)),
	    !!(d[0].effective & (1 << CAP_SETGID)), !!(d[0].effective & (1 << CAP_KILL)), !!(d[0].effective & (1 << CAP_CHOWN)));
	say("setgroups, setresgid, setresuid: %d/7", WEXITSTATUS(run(ids, NULL)));
	say("setuid(-1): %s", en(syscall(SYS_setuid, -1) < 0 ? errno : 0));
}

// ---- limits ----

static int nofile(void *unused) {
	struct rlimit r = {16, 16};
	setrlimit(RLIMIT_NOFILE, &r);
	int last = -1, fd;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		last = fd;
	say("  RLIMIT_NOFILE 16: last fd %d, then %s", last, en(errno));
	int p[2];
	say("  pipe at the limit: %s", en(pipe(p) < 0 ? errno : 0));
	r.rlim_max = 32;
	say("  raising the hard limit: %s", en(setrlimit(RLIMIT_NOFILE, &r) < 0 ? errno : 0));
	return 0;
}

static int addrspace(void *unused) {
	struct rlimit r = {256 << 20, 256 << 20};
	setrlimit(RLIMIT_AS, &r);
	void *m = mmap(NULL, 512 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say("  RLIMIT_AS 256 MB, mmap 512 MB: %s", m == MAP_FAILED ? en(errno) : "mapped");
	m = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	say("  mmap 16 MB: %s", m == MAP_FAILED ? en(errno) : "mapped");
	return 0;
}

static int crash(void *unused) {
	*(volatile int *)8 = 1;
	return 0;
}

static int nonroot_limits(void *unused) {
	setresgid(4242, 4242, 4242);
	setresuid(4242, 4242, 4242);
	struct rlimit r = {10, 10};
	setrlimit(RLIMIT_NPROC, &r);
	int made = 0, err = 0;
	pid_t kids[64];
	for (int i = 0; i < 64; i++) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			err = errno;
			break;
		}
		kids[made++] = p;
	}
	for (int i = 0; i < made; i++)
		kill(kids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	say("  RLIMIT_NPROC 10 as uid 4242: stopped %s, below the limit %d", en(err), made < 10);
	r.rlim_cur = r.rlim_max = RLIM_INFINITY;
	say("  raising RLIMIT_NPROC as non-root: %s", en(setrlimit(RLIMIT_NPROC, &r) < 0 ? errno : 0));
	say("  kill of root's process as uid 4242: %s", en(kill(1, 0) < 0 ? errno : 0));
	say("  kill of root's process, missing pid: %s", en(kill(999999, 0) < 0 ? errno : 0));
	return 0;
}

static void test_limits(void) {
	struct rlimit r;
	run(nofile, NULL);
	run(addrspace, NULL);
	r.rlim_cur = 10, r.rlim_max = 5;
	say("setrlimit cur > max: %s", en(setrlimit(RLIMIT_CORE, &r) < 0 ? errno : 0));
	say("setrlimit resource 99: %s", en(setrlimit(99, &r) < 0 ? errno : 0));
	say("setrlimit bad pointer: %s", en(syscall(SYS_setrlimit, RLIMIT_CORE, 8) < 0 ? errno : 0));
	r.rlim_cur = r.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &r);
	getrlimit(RLIMIT_CORE, &r);
	say("RLIMIT_CORE 0: %lu/%lu", (unsigned long)r.rlim_cur, (unsigned long)r.rlim_max);
	say("SIGSEGV death: %s", status(run(crash, NULL)));
	pid_t p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	struct rlimit nr = {100, 200}, old;
	int e = prlimit(p, RLIMIT_NOFILE, &nr, &old) < 0 ? errno : 0;
	prlimit(p, RLIMIT_NOFILE, NULL, &nr);
	say("prlimit on a child: %s, now %lu/%lu", en(e), (unsigned long)nr.rlim_cur, (unsigned long)nr.rlim_max);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	say("prlimit on a missing pid: %s", en(prlimit(999999, RLIMIT_NOFILE, NULL, &nr) < 0 ? errno : 0));
	if (getuid() == 0)
		run(nonroot_limits, NULL);
}

// ---- signals ----

static volatile sig_atomic_t got, gotval, gotpid, chld, onalt;
static stack_t alt;

static void handler(int sig, siginfo_t *si, void *uc) {
	got = sig;
	gotval = si->si_value.sival_int;
	gotpid = si->si_pid;
	char x;
	onalt = (char *)&x >= (char *)alt.ss_sp && (char *)&x < (char *)alt.ss_sp + alt.ss_size;
}

static void onchld(int sig) { chld++; }

static int pipewriter(void *ign) {
	int p[2];
	pipe(p);
	close(p[0]);
	if (ign)
		signal(SIGPIPE, SIG_IGN);
	ssize_t n = write(p[1], "x", 1);
	say("  write to a closed pipe: %s", en(n < 0 ? errno : 0));
	return 0;
}

static void *sleeper(void *arg) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	int sig;
	*(pid_t *)arg = gettid();
	sigwait(&s, &sig);
	return (void *)(long)sig;
}

static void on_alarm(int sig) { (void)sig; }

// notInterrupted: a call a server answers is answered once, whatever
// signals arrive while the server works: an interval timer's handler
// (SA_RESTART, as glibc's signal() and Go install theirs) runs throughout a
// loop of socket+close (netsrv makes each socket and installs it in the
// caller), and no socket is left behind by a call made twice.
static void notInterrupted(void) {
	struct sigaction alrm = {0};
	alrm.sa_handler = on_alarm;
	alrm.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &alrm, NULL);
	struct itimerval it = {{0, 200}, {0, 200}}, off = {0};
	int before = 0, after = 0, failed = 0;
	for (int fd = 0; fd < 1024; fd++)
		before += fcntl(fd, F_GETFD) >= 0;
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < 5000; i++) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			failed++;
		else
			close(s);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	signal(SIGALRM, SIG_DFL);
	for (int fd = 0; fd < 1024; fd++)
		after += fcntl(fd, F_GETFD) >= 0;
	say("socket+close x5000 under a 200 us timer: %d failed, %d fds left open", failed, after - before);
}

static void test_signals(void) {
	notInterrupted();
	struct sigaction sa = {0};
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGRTMIN, &sa, NULL);
	alt.ss_sp = malloc(65536);
	alt.ss_size = 65536;
	say("sigaltstack: %s", en(sigaltstack(&alt, NULL) < 0 ? errno : 0));
	got = 0;
	kill(getpid(), SIGUSR1);
	say("kill self SIGUSR1: got %s, si_pid is mine %d, on the alternate stack %d", sigabbrev_np(got), gotpid == getpid(), onalt);
	got = 0;
	kill(0, SIGUSR1);
	say("kill(0): got %s", sigabbrev_np(got));
	got = 0;
	kill(-getpgrp(), SIGUSR1);
	say("kill(-pgrp): got %s", sigabbrev_np(got));
	union sigval v = {.sival_int = 4242};
	got = 0;
	sigqueue(getpid(), SIGRTMIN, v);
	say("sigqueue SIGRTMIN: got %d, value %d", got == SIGRTMIN, gotval);
	say("kill with signal 65: %s", en(kill(getpid(), 65) < 0 ? errno : 0));
	say("kill of a missing pid: %s", en(kill(999999, SIGUSR1) < 0 ? errno : 0));
	say("kill(INT_MIN): %s", en(kill(-2147483647 - 1, 0) < 0 ? errno : 0));
	say("kill of a missing group: %s", en(kill(-999999, SIGUSR1) < 0 ? errno : 0));
	say("tgkill with a wrong tgid: %s", en(syscall(SYS_tgkill, 999999, gettid(), SIGUSR1) < 0 ? errno : 0));
	say("tgkill tid 0: %s", en(syscall(SYS_tgkill, getpid(), 0, SIGUSR1) < 0 ? errno : 0));
	// a thread waits for SIGUSR2 with the signal blocked everywhere
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	sigprocmask(SIG_BLOCK, &s, &old);
	volatile pid_t tid = 0;
	pthread_t t;
	pthread_create(&t, NULL, sleeper, (void *)&tid);
	while (!tid)
		usleep(100);
	say("tgkill to a thread: %s", en(syscall(SYS_tgkill, getpid(), tid, SIGUSR2) < 0 ? errno : 0));
	void *r;
	pthread_join(t, &r);
	say("the thread got %s", sigabbrev_np((long)r));
	// sigprocmask, sigpending, signalfd
	kill(getpid(), SIGUSR2);
	sigset_t pend;
	sigpending(&pend);
	say("blocked SIGUSR2 pending: %d", sigismember(&pend, SIGUSR2));
	int sfd = signalfd(-1, &s, SFD_CLOEXEC);
	struct signalfd_siginfo ssi;
	ssize_t n = read(sfd, &ssi, sizeof ssi);
	say("signalfd read: %zd bytes, %s, from me %d", n, sigabbrev_np(ssi.ssi_signo), ssi.ssi_pid == (uint32_t)getpid());
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	// SIGCHLD
	signal(SIGCHLD, onchld);
	chld = 0;
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
	say("SIGCHLD on a child's exit: %d", chld);
	signal(SIGCHLD, SIG_DFL);
	// SIGPIPE
	say("SIGPIPE: %s", status(run(pipewriter, NULL)));
	say("SIGPIPE ignored: %s", status(run(pipewriter, (void *)1)));
	// default actions
	p = fork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	int st;
	kill(p, SIGTERM);
	waitpid(p, &st, 0);
	say("SIGTERM default: %s", status(st));
	p = fork();
	if (p == 0) {
		signal(SIGTERM, SIG_IGN);
		kill(getpid(), SIGTERM);
		_exit(3);
	}
	waitpid(p, &st, 0);
	say("SIGTERM ignored: %s", status(st));
	// SIGSYS: a guest's handler is its own; a trapped call never raises it
	struct sigaction sys = {0};
	sys.sa_sigaction = handler;
	sys.sa_flags = SA_SIGINFO;
	got = 0;
	say("sigaction SIGSYS: %s", en(sigaction(SIGSYS, &sys, NULL) < 0 ? errno : 0));
	struct stat sb;
	for (int i = 0; i < 100; i++) {
		stat("/", &sb);
		getppid();
		syscall(1000);
	}
	say("SIGSYS seen after trapped calls: %d", got == SIGSYS);
	kill(getpid(), SIGSYS);
	say("kill self SIGSYS: got %s", got ? sigabbrev_np(got) : "nothing");
	signal(SIGSYS, SIG_DFL);
	p = fork();
	if (p == 0) {
		kill(getpid(), SIGSYS);
		_exit(0);
	}
	waitpid(p, &st, 0);
	say("SIGSYS default: %s", WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS ? "signal SIGSYS" : status(st));
}

int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "exe"))
		return exe_main(argc, argv);
	setpgid(0, 0); // kill(0) and kill(-pgrp) reach this test only
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core); // no core files from the crash tests
	const char *only = argc > 1 ? argv[1] : "";
	if (!*only || !strcmp(only, "exec"))
		test_exec();
	if (!*only || !strcmp(only, "proc"))
		test_processes();
	if (!*only || !strcmp(only, "id"))
		test_identities();
	if (!*only || !strcmp(only, "limits"))
		test_limits();
	if (!*only || !strcmp(only, "signals"))
		test_signals();
	say("done");
	return 0;
}
