// escape: tries to reach a host file, or the host kernel's global state,
// from inside an instance by every trick it knows, and prints one line a
// try: "name: denied" or "name: ESCAPED". TestEscapeSuite runs it
// (statically linked) in an imported distro, TestNoWayKernel its kernel
// part in the default distro and an imported one.
//   escape SECRET MOUNTDIR SOCKET
//   escape --kernel
// The kernel part changes nothing of the host: a sysctl it manages to open
// is written back with the value it read, the SysRq trigger is only
// opened.
// SECRET is the host path of a file holding "HOSTSECRET" that the instance
// must not see; MOUNTDIR is where the host directory next to SECRET is
// mounted in the instance (the secret is its sibling on the host); SOCKET is
// the host path of the broker's socket.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int escaped;

static int secret_at(int dirfd, const char *p) {
	int fd = openat(dirfd, p, O_RDONLY);
	if (fd < 0)
		return 0;
	char b[16] = {0};
	int n = read(fd, b, 10);
	close(fd);
	return n == 10 && memcmp(b, "HOSTSECRET", 10) == 0;
}

static void verdict(const char *name, int bad) {
	printf("%s: %s\n", name, bad ? "ESCAPED" : "denied");
	fflush(stdout);
	escaped |= bad;
}

// is_device reports whether p opens as a character or block device.
static int is_device(const char *p) {
	int fd = open(p, O_RDWR);
	struct stat st;
	int dev = fd >= 0 && fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
	if (fd >= 0)
		close(fd);
	return dev;
}

static const char *secret;
static char flip[4096];
static volatile int stop;

static void *flipper(void *arg) {
	(void)arg;
	while (!stop) {
		strcpy(flip, "/etc/os-release");
		strcpy(flip, secret);
	}
	return NULL;
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

// kernel tries the host kernel's global state: sysctls, SysRq, /proc files
// runc masks, firmware, threads with namespace flags.
static void kernel(void) {
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
	}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "--kernel") == 0) {
		kernel();
		return escaped ? 1 : 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: escape SECRET MOUNTDIR SOCKET | escape --kernel\n");
		return 2;
	}
	kernel();
	secret = argv[1];
	const char *mnt = argv[2], *sock = argv[3];
	char p[8192];

	verdict("absolute path", secret_at(AT_FDCWD, secret));
	snprintf(p, sizeof p, "/../../../../../..%s", secret);
	verdict("dot-dot from /", secret_at(AT_FDCWD, p));
	chdir("/");
	for (int i = 0; i < 50; i++)
		chdir("..");
	verdict("chdir .. fifty times", secret_at(AT_FDCWD, secret + 1));
	snprintf(p, sizeof p, "/proc/self/root/../../..%s", secret);
	verdict("/proc/self/root", secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "/proc/1/root/../..%s", secret);
	verdict("/proc/1/root of init", secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "/proc/1/cwd/../../../..%s", secret);
	verdict("/proc/1/cwd of init", secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "/proc/self/fd/3/../../..%s", secret);
	verdict("/proc/self/fd magic link", secret_at(AT_FDCWD, p));
	symlink("../../../../../../../..", "/tmp/up");
	snprintf(p, sizeof p, "/tmp/up%s", secret);
	verdict("symlink to dot-dots", secret_at(AT_FDCWD, p));
	int root = open("/", O_PATH | O_DIRECTORY);
	snprintf(p, sizeof p, "../../..%s", secret);
	verdict("openat from the root fd", secret_at(root, p));

	// The classic chroot breakout: chroot into a subdirectory while the
	// cwd stays outside it, climb, chroot back to "." .
	pid_t pid = fork();
	if (pid == 0) {
		mkdir("/tmp/jail", 0755);
		int out = open("/", O_PATH | O_DIRECTORY);
		chroot("/tmp/jail");
		fchdir(out);
		for (int i = 0; i < 50; i++)
			chdir("..");
		chroot(".");
		_exit(secret_at(AT_FDCWD, secret) ? 1 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	verdict("chroot breakout", WIFEXITED(st) && WEXITSTATUS(st) == 1);

	// A host directory mounted in: its source's siblings stay out of reach.
	const char *base = strrchr(secret, '/') + 1;
	snprintf(p, sizeof p, "%s/../%s", mnt, base);
	verdict("dot-dot out of a mount", secret_at(AT_FDCWD, p));
	int mfd = open(mnt, O_PATH | O_DIRECTORY);
	snprintf(p, sizeof p, "../%s", base);
	verdict("openat dot-dot out of a mount", secret_at(mfd, p));
	snprintf(p, sizeof p, "%s/uplink", mnt);
	verdict("relative symlink out of a mount", secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "%s/abslink", mnt);
	verdict("absolute symlink out of a mount", secret_at(AT_FDCWD, p));

	// File handles name inodes without paths: ext4's root is inode 2.
	struct {
		unsigned int bytes;
		int type;
		unsigned int ino, gen;
	} fh = {8, 1, 2, 0};
	int hfd = syscall(SYS_open_by_handle_at, root, &fh, O_RDONLY | O_DIRECTORY);
	verdict("open_by_handle_at", hfd >= 0);

	// The mount table: guests may mount, but the keeper's mounts are
	// locked in their mount namespace (lxbroker/enter.go).
	const char *keep[] = {"/run", "/tmp", "/proc", "/sys", "/dev", "/dev/pts", "/"};
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
		snprintf(p, sizeof p, "umount %s", keep[i]);
		verdict(p, umount2(keep[i], MNT_DETACH) == 0);
	}
	verdict("remount / with devices", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL) == 0);
	verdict("remount / read-write", mount(NULL, "/", NULL, MS_REMOUNT, NULL) == 0);
	verdict("remount the read-only mount read-write", mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND, NULL) == 0);
	struct mount_attr ma = {.attr_clr = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID};
	verdict("mount_setattr clears read-only", syscall(SYS_mount_setattr, AT_FDCWD, mnt, 0, &ma, sizeof ma) == 0);
	snprintf(p, sizeof p, "%s/written", mnt);
	int wfd = open(p, O_WRONLY | O_CREAT, 0644);
	verdict("write into the read-only mount", wfd >= 0);
	mkdir("/tmp/gm", 0755);
	mkdir("/tmp/gm2", 0755);
	if (mount(mnt, "/tmp/gm2", NULL, MS_BIND, NULL) == 0) {
		verdict("remount a bind of the read-only mount read-write", mount(NULL, "/tmp/gm2", NULL, MS_REMOUNT | MS_BIND, NULL) == 0);
		umount2("/tmp/gm2", MNT_DETACH);
	} else
		verdict("remount a bind of the read-only mount read-write", 0);
	int tree = syscall(SYS_open_tree, AT_FDCWD, mnt, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	verdict("open_tree clone of the read-only mount made writable",
		tree >= 0 && syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &ma, sizeof ma) == 0);
	int pick = syscall(SYS_fspick, AT_FDCWD, "/", FSPICK_CLOEXEC);
	verdict("fspick of the root's filesystem", pick >= 0 &&
		syscall(SYS_fsconfig, pick, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == 0);
	pick = syscall(SYS_fspick, AT_FDCWD, "/tmp", FSPICK_CLOEXEC);
	verdict("fspick of /tmp's filesystem", pick >= 0 &&
		syscall(SYS_fsconfig, pick, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) == 0);
	verdict("remount /tmp's filesystem", mount(NULL, "/tmp", NULL, MS_REMOUNT, "size=1m") == 0);
	// This run's --mount was made after the guests' mount namespace: it
	// came in by propagation, whose top Linux leaves unlocked (its flags
	// are locked). Unmounting it shows the mount point as it was before.
	int um = umount2(mnt, MNT_DETACH) == 0;
	printf("(umount %s: %s)\n", mnt, um ? "done" : strerror(errno));
	snprintf(p, sizeof p, "%s/../%s", mnt, base);
	verdict("the host under an unmounted --mount", secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "%s/uplink", mnt);
	verdict("a link under an unmounted --mount", secret_at(AT_FDCWD, p));
	verdict("move /tmp away", mount("/tmp", "/run", NULL, MS_MOVE, NULL) == 0);
	verdict("bind / without its mounts", mount("/", "/tmp/gm", NULL, MS_BIND, NULL) == 0);
	verdict("bind init's root", mount("/proc/1/root", "/tmp/gm", NULL, MS_BIND | MS_REC, NULL) == 0);
	verdict("open_tree of init's root", syscall(SYS_open_tree, AT_FDCWD, "/proc/1/root", OPEN_TREE_CLONE | AT_RECURSIVE) >= 0);
	verdict("mount proc", mount("proc", "/tmp/gm", "proc", 0, NULL) == 0);
	verdict("mount sysfs", mount("sysfs", "/tmp/gm", "sysfs", 0, NULL) == 0);
	verdict("mount mqueue", mount("mqueue", "/tmp/gm", "mqueue", 0, NULL) == 0);
	chdir("/");
	verdict("pivot_root", syscall(SYS_pivot_root, ".", ".") == 0);

	// What guest root may mount stays inside the instance: a recursive
	// bind of / (its mounts come along, locked), a tmpfs (no devices).
	int bound = mount("/", "/tmp/gm", NULL, MS_BIND | MS_REC, NULL) == 0;
	printf("(recursive bind of /: %s)\n", bound ? "made" : strerror(errno));
	snprintf(p, sizeof p, "/tmp/gm/../../../..%s", secret);
	verdict("dot-dot out of a bind of /", bound && secret_at(AT_FDCWD, p));
	snprintf(p, sizeof p, "/tmp/gm%s", secret);
	verdict("the host under a bind of /", bound && secret_at(AT_FDCWD, p));
	verdict("umount a locked mount under a bind of /", bound && umount2("/tmp/gm/proc", MNT_DETACH) == 0);
	if (bound)
		umount2("/tmp/gm", MNT_DETACH);
	int tmpfs = mount("tmpfs", "/tmp/gm", "tmpfs", 0, NULL) == 0;
	printf("(tmpfs: %s)\n", tmpfs ? "made" : strerror(errno));
	mknod("/tmp/gm/null", S_IFCHR | 0666, makedev(1, 3));
	verdict("device node on a guest tmpfs", tmpfs && is_device("/tmp/gm/null"));
	if (tmpfs)
		umount2("/tmp/gm", MNT_DETACH);

	// Devices: a node from the distro's tarball, a new one, /sys.
	// (An unprivileged user's distro records devices on empty regular
	// files: opening one is no escape, opening a device would be.)
	verdict("device node in the distro", is_device("/etc/null"));
	mknod("/tmp/disk", S_IFBLK | 0600, makedev(8, 0));
	verdict("mknod a block device", is_device("/tmp/disk"));
	verdict("write /sys", open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY) >= 0);

	// The broker's socket on the host.
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, sock, sizeof sa.sun_path - 1);
	verdict("connect to the broker's socket", connect(s, (struct sockaddr *)&sa, sizeof sa) == 0);

	// A race on the path's memory while the call is in flight.
	pthread_t th;
	pthread_create(&th, NULL, flipper, NULL);
	int raced = 0;
	for (int i = 0; i < 20000 && !raced; i++)
		raced = secret_at(AT_FDCWD, flip);
	stop = 1;
	pthread_join(th, NULL);
	verdict("path swapped during the call", raced);

	return escaped ? 1 : 0;
}
