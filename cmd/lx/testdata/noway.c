// noway: what a guest of any instance tries to reach of the host kernel's
// global state, one line a try: "name: denied" or "name: ESCAPED"; exit 1 if
// anything escaped. TestNoWayKernel runs it in the default distro and in an
// imported one, as root and as an unprivileged user. Nothing here changes
// the host: a sysctl it manages to open is written back with the value it
// read, and the SysRq trigger is only opened.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int escaped;

static void verdict(const char *name, int bad) {
	printf("%s: %s\n", name, bad ? "ESCAPED" : "denied");
	fflush(stdout);
	escaped |= bad;
}

// rewrite opens a sysctl for writing and writes back what it holds.
static int rewrite(const char *p) {
	char buf[4096];
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	int n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return 0;
	fd = open(p, O_WRONLY);
	if (fd < 0)
		return 0;
	int w = write(fd, buf, n);
	close(fd);
	return w == n;
}

// writable reports whether p opens for writing (nothing is written).
static int writable(const char *p) {
	int fd = open(p, O_WRONLY);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

// readable reports whether p gives any byte.
static int readable(const char *p) {
	char b[64];
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	int n = read(fd, b, sizeof b);
	close(fd);
	return n > 0;
}

// rw reports whether the file system holding p is writable.
static int rw(const char *p) {
	struct statvfs st;
	return statvfs(p, &st) == 0 && !(st.f_flag & ST_RDONLY);
}

// nonempty reports whether directory p has an entry.
static int nonempty(const char *p) {
	DIR *d = opendir(p);
	if (!d)
		return 0;
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n > 0;
}

static int thread_fn(void *arg) {
	(void)arg;
	syscall(SYS_exit, 0);
	return 0;
}

// thread tries a thread clone with extra flags.
static int thread(int extra) {
	static char stack[65536];
	// no CLONE_FS: Linux refuses it with CLONE_NEWNS
	int flags = CLONE_VM | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | extra;
	int tid = clone(thread_fn, stack + sizeof stack, flags, NULL);
	if (tid > 0)
		usleep(50000);
	return tid > 0;
}

int main(void) {
	verdict("write kernel.core_pattern", rewrite("/proc/sys/kernel/core_pattern"));
	verdict("write vm.overcommit_ratio", rewrite("/proc/sys/vm/overcommit_ratio"));
	verdict("open /proc/sysrq-trigger for writing", writable("/proc/sysrq-trigger"));
	const char *ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"};
	for (size_t i = 0; i < sizeof ro / sizeof *ro; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s read-write", ro[i]);
		verdict(name, access(ro[i], F_OK) == 0 && rw(ro[i]));
	}
	const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/kallsyms", "/proc/sched_debug"};
	for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
		char name[128];
		snprintf(name, sizeof name, "read %s", masked[i]);
		verdict(name, readable(masked[i]));
	}
	verdict("list /sys/firmware", nonempty("/sys/firmware"));
	verdict("thread with a new network namespace", thread(CLONE_NEWNET));
	verdict("thread with a new cgroup namespace", thread(CLONE_NEWCGROUP));
	verdict("thread with new uts and ipc namespaces", thread(CLONE_NEWUTS | CLONE_NEWIPC));
	return escaped ? 1 : 0;
}
