// fsuite: path calls, their flags and their errno cases, printed one line a
// case as "name: result". The test runs it natively and under lx in the same
// kind of directory and wants identical output (TestFsSuite). It works in
// the current directory and in /dev/shm (another filesystem, for EXDEV).
// Run as root; the "as user" cases drop to uid/gid 1000 in a child.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static void show(const char *name, long r) {
	if (r < 0)
		printf("%s: %s\n", name, strerrorname_np(errno));
	else
		printf("%s: %ld\n", name, r);
	fflush(stdout);
}
#define T(name, expr) show(name, (long)(expr))

static long mode_of(const char *p, int follow) {
	struct stat st;
	if ((follow ? stat(p, &st) : lstat(p, &st)) < 0)
		return -1;
	return st.st_mode;
}

static long size_of(const char *p) {
	struct stat st;
	return stat(p, &st) < 0 ? -1 : st.st_size;
}

static int put(const char *p, const char *s, int mode) {
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int n = write(fd, s, strlen(s));
	close(fd);
	return n;
}

static long openat2_(int dirfd, const char *p, int flags, unsigned long long resolve) {
	struct open_how how = {.flags = flags, .resolve = resolve};
	long fd = syscall(SYS_openat2, dirfd, p, &how, sizeof how);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static long closed(long fd) {
	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

// as_user runs f in a child with uid and gid 1000 and no supplementary
// groups, and prints what it printed.
static void as_user(void (*f)(void)) {
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
			show("as_user setresuid", -1);
			_exit(1);
		}
		f();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void opens(void) {
	T("open creat excl", closed(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644)));
	T("open creat excl again", closed(open("f", O_CREAT | O_EXCL | O_WRONLY, 0644)));
	put("f", "hello world", 0644);
	T("open trunc", closed(open("f", O_WRONLY | O_TRUNC)));
	T("size after trunc", size_of("f"));
	put("f", "abc", 0644);
	int fd = open("f", O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	write(fd, "de", 2);
	close(fd);
	T("size after append", size_of("f"));
	T("open directory on file", closed(open("f", O_RDONLY | O_DIRECTORY)));
	symlink("f", "lnk");
	T("open nofollow symlink", closed(open("lnk", O_RDONLY | O_NOFOLLOW)));
	T("open nofollow|path symlink", closed(open("lnk", O_PATH | O_NOFOLLOW)));
	fd = open("f", O_PATH);
	char b[4];
	T("read on O_PATH", read(fd, b, 1));
	struct stat st;
	T("fstat on O_PATH", fstat(fd, &st));
	close(fd);
	fd = open(".", O_TMPFILE | O_WRONLY, 0600);
	T("O_TMPFILE", fd < 0 ? -1 : 0);
	if (fd >= 0) {
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		T("link O_TMPFILE", linkat(AT_FDCWD, p, AT_FDCWD, "tmpfile", AT_SYMLINK_FOLLOW));
		close(fd);
		T("tmpfile mode", mode_of("tmpfile", 0));
	}
	fd = open("f", O_RDONLY | O_CLOEXEC);
	T("O_CLOEXEC", fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	fd = open("f", O_RDONLY);
	T("no O_CLOEXEC", fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	T("open missing", closed(open("missing", O_RDONLY)));
	T("open under file", closed(open("f/x", O_RDONLY)));
	T("open dir for writing", closed(open(".", O_WRONLY)));
	T("creat", closed(creat("c", 0755)));
	T("creat mode", mode_of("c", 1));
	char longname[300];
	memset(longname, 'n', 256);
	longname[256] = 0;
	T("component too long", closed(open(longname, O_RDONLY)));
	char *longpath = malloc(5000);
	memset(longpath, 'a', 4999);
	for (int i = 1; i < 4999; i += 2)
		longpath[i] = '/';
	longpath[4999] = 0;
	T("path too long", closed(open(longpath, O_RDONLY)));
	free(longpath);
	T("open bad pointer", closed(open((char *)8, O_RDONLY)));
}

static void loops(void) {
	mkdir("chain", 0755);
	char a[64], b[64];
	put("chain/l0", "end", 0644);
	for (int i = 1; i <= 41; i++) {
		snprintf(a, sizeof a, "l%d", i - 1);
		snprintf(b, sizeof b, "chain/l%d", i);
		symlink(a, b);
	}
	T("40 links", closed(open("chain/l40", O_RDONLY)));
	T("41 links", closed(open("chain/l41", O_RDONLY)));
	symlink("self", "self");
	T("self loop", closed(open("self", O_RDONLY)));
}

static void resolve(void) {
	mkdir("r", 0755);
	mkdir("r/sub", 0755);
	put("r/in", "x", 0644);
	symlink("/r/in", "r/sub/abs");
	symlink("../in", "r/sub/rel");
	int d = open("r/sub", O_PATH | O_DIRECTORY);
	T("openat2 beneath ..", openat2_(d, "../in", O_RDONLY, RESOLVE_BENEATH));
	T("openat2 beneath rel link", openat2_(d, "rel", O_RDONLY, RESOLVE_BENEATH));
	T("openat2 no symlinks", openat2_(d, "rel", O_RDONLY, RESOLVE_NO_SYMLINKS));
	int r = open("r", O_PATH | O_DIRECTORY);
	T("openat2 in root abs link", openat2_(r, "sub/abs", O_RDONLY, RESOLVE_IN_ROOT));
	T("openat2 in root ../..", openat2_(r, "../../../in", O_RDONLY, RESOLVE_IN_ROOT));
	T("openat2 no magiclinks", openat2_(AT_FDCWD, "/proc/self/cwd", O_RDONLY | O_DIRECTORY, RESOLVE_NO_MAGICLINKS));
	T("openat2 no xdev", openat2_(AT_FDCWD, "/dev/shm", O_RDONLY | O_DIRECTORY, RESOLVE_NO_XDEV));
	struct open_how how = {.flags = O_RDONLY, .resolve = 1ULL << 40};
	T("openat2 bad resolve", syscall(SYS_openat2, AT_FDCWD, "f", &how, sizeof how));
	T("openat2 small size", syscall(SYS_openat2, AT_FDCWD, "f", &how, 8));
	close(d);
	close(r);
}

static void names(void) {
	T("mkdir", mkdir("d", 0777));
	T("mkdir again", mkdir("d", 0777));
	T("mkdir mode", mode_of("d", 1));
	T("mkdir missing parent", mkdir("nope/d", 0755));
	put("d/x", "x", 0644);
	T("rmdir not empty", rmdir("d"));
	T("unlink dir", unlink("d"));
	T("unlinkat dir no flag", unlinkat(AT_FDCWD, "d", 0));
	T("rmdir file", rmdir("d/x"));
	T("unlinkat removedir file", unlinkat(AT_FDCWD, "d/x", AT_REMOVEDIR));
	T("unlinkat bad flag", unlinkat(AT_FDCWD, "d/x", 0x1));
	T("unlink", unlink("d/x"));
	T("unlinkat removedir", unlinkat(AT_FDCWD, "d", AT_REMOVEDIR));
	T("rmdir .", rmdir("."));
	put("a", "A", 0644);
	put("b", "B", 0644);
	T("rename noreplace", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE));
	T("rename exchange", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE));
	char buf[4] = {0};
	int fd = open("a", O_RDONLY);
	read(fd, buf, 1);
	close(fd);
	printf("a after exchange: %s\n", buf);
	T("rename exchange missing", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "zz", RENAME_EXCHANGE));
	T("rename bad flags", syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE | RENAME_EXCHANGE));
	T("rename", rename("a", "a2"));
	mkdir("e", 0755);
	T("rename file over dir", rename("a2", "e"));
	T("rename dir into itself", rename("e", "e/sub"));
	T("rename across filesystems", rename("a2", "/dev/shm/lx-fsuite-a2"));
	T("link", link("b", "b2"));
	T("link exists", link("b", "b2"));
	T("link dir", link("e", "e2"));
	T("link across filesystems", link("b", "/dev/shm/lx-fsuite-b"));
	T("nlink", ({ struct stat st; stat("b", &st) < 0 ? -1 : (long)st.st_nlink; }));
	T("symlink", symlink("b", "sb"));
	T("symlink exists", symlink("b", "sb"));
	char t[64] = {0};
	T("readlink", readlink("sb", t, sizeof t));
	printf("readlink target: %s\n", t);
	T("readlink short buffer", readlink("sb", t, 0));
	T("readlink non-link", readlink("b", t, sizeof t));
	T("lstat link mode", mode_of("sb", 0));
	T("stat link mode", mode_of("sb", 1));
	T("fstatat empty path no flag", ({ struct stat st; fstatat(AT_FDCWD, "", &st, 0); }));
	fd = open("b", O_RDONLY);
	T("fstatat empty path", ({ struct stat st; fstatat(fd, "", &st, AT_EMPTY_PATH) < 0 ? -1 : (long)st.st_size; }));
	close(fd);
	T("fstatat bad flag", ({ struct stat st; fstatat(AT_FDCWD, "b", &st, 0x4000000); }));
	T("statx size", ({ struct statx sx; statx(AT_FDCWD, "b", 0, STATX_SIZE, &sx) < 0 ? -1 : (long)sx.stx_size; }));
	T("statx nofollow type", ({ struct statx sx; statx(AT_FDCWD, "sb", AT_SYMLINK_NOFOLLOW, STATX_TYPE, &sx) < 0 ? -1 : (long)(sx.stx_mode & S_IFMT); }));
	T("mknod fifo", mknod("fifo", S_IFIFO | 0640, 0));
	T("fifo mode", mode_of("fifo", 0));
	T("mknod bad type", mknod("bad", 0170000 | 0640, 0));
	T("mkfifo exists", mkfifo("fifo", 0644));
}

static void attrs(void) {
	put("m", "m", 0644);
	T("chmod", chmod("m", 04755));
	T("chmod mode", mode_of("m", 1));
	T("fchmodat nofollow", syscall(SYS_fchmodat2, AT_FDCWD, "sb", 0644, AT_SYMLINK_NOFOLLOW));
	T("chown", chown("m", 1000, 1000));
	T("chown drops setuid", mode_of("m", 1));
	T("owner", ({ struct stat st; stat("m", &st) < 0 ? -1 : (long)st.st_uid * 100000 + st.st_gid; }));
	T("lchown link", lchown("sb", 1000, 1000));
	T("link owner", ({ struct stat st; lstat("sb", &st) < 0 ? -1 : (long)st.st_uid; }));
	T("target owner unchanged", ({ struct stat st; stat("b", &st) < 0 ? -1 : (long)st.st_uid; }));
	struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1200000000}};
	T("utimensat", utimensat(AT_FDCWD, "b", ts, 0));
	T("mtime", ({ struct stat st; stat("b", &st) < 0 ? -1 : (long)st.st_mtime; }));
	struct timespec omit[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1300000000}};
	T("utimensat omit", utimensat(AT_FDCWD, "b", omit, 0));
	T("atime kept", ({ struct stat st; stat("b", &st) < 0 ? -1 : (long)st.st_atime; }));
	T("utimensat bad nsec", ({ struct timespec bad[2] = {{.tv_nsec = 2000000000}, {.tv_nsec = 0}}; utimensat(AT_FDCWD, "b", bad, 0); }));
	T("utimensat nofollow link", utimensat(AT_FDCWD, "sb", ts, AT_SYMLINK_NOFOLLOW));
	T("truncate", truncate("b", 10));
	T("truncated size", size_of("b"));
	T("truncate negative", truncate("b", -1));
	T("truncate dir", truncate("e", 0));
	T("access exists", access("b", F_OK));
	T("access x on 0644 as root", access("b", X_OK));
	T("access bad mode", access("b", 0100));
	T("faccessat2 bad flag", syscall(SYS_faccessat2, AT_FDCWD, "b", R_OK, 0x1));
	T("setxattr", setxattr("b", "user.lx-test", "v1", 2, 0));
	T("setxattr create exists", setxattr("b", "user.lx-test", "v2", 2, XATTR_CREATE));
	T("setxattr replace missing", setxattr("b", "user.other", "v2", 2, XATTR_REPLACE));
	char v[16] = {0};
	T("getxattr", getxattr("b", "user.lx-test", v, sizeof v));
	printf("xattr value: %s\n", v);
	T("getxattr small", getxattr("b", "user.lx-test", v, 1));
	T("getxattr missing", getxattr("b", "user.none", v, sizeof v));
	T("getxattr bad namespace", getxattr("b", "bogus.x", v, sizeof v));
	T("lsetxattr on symlink", lsetxattr("sb", "user.x", "v", 1, 0));
	T("listxattr size", listxattr("b", NULL, 0) >= 13);
	T("removexattr", removexattr("b", "user.lx-test"));
	T("removexattr missing", removexattr("b", "user.lx-test"));
	struct statfs sf;
	T("statfs", statfs(".", &sf));
	T("statfs same as fstatfs", ({ struct statfs f2; int fd = open(".", O_RDONLY); long r = fstatfs(fd, &f2); close(fd); r < 0 ? -1 : (long)(f2.f_type == sf.f_type); }));
	T("statfs missing", statfs("missing", &sf));
	mode_t old = umask(027);
	put("um", "", 0666);
	mkdir("umd", 0777);
	umask(old);
	T("umask file", mode_of("um", 1));
	T("umask dir", mode_of("umd", 1));
}

static void user_cases(void) {
	T("user open 0600 root file", closed(open("secret", O_RDONLY)));
	T("user create in 0755 root dir", closed(open("rootdir/new", O_CREAT | O_WRONLY, 0644)));
	T("user mkdir in 0755 root dir", mkdir("rootdir/new", 0755));
	T("user search 0700 root dir", mode_of("private/x", 1));
	T("user unlink root file in sticky dir", unlink("sticky/rootfile"));
	T("user unlink own file in sticky dir", unlink("sticky/userfile"));
	T("user chmod root file", chmod("rootdir/f", 0777));
	T("user chown own file", chown("sticky/mine", 0, 0));
	T("user utimes now root file 0666", utimensat(AT_FDCWD, "open", NULL, 0));
	struct timespec ts[2] = {{.tv_sec = 1}, {.tv_sec = 1}};
	T("user utimes set root file 0666", utimensat(AT_FDCWD, "open", ts, 0));
	T("user access w root 0644", access("rootdir/f", W_OK));
	T("user access r root 0644", access("rootdir/f", R_OK));
	T("user write root 0666", put("open", "x", 0644));
	T("user setxattr user. on root 0644", setxattr("rootdir/f", "user.x", "v", 1, 0));
	T("user truncate root 0644", truncate("rootdir/f", 0));
	T("user rename root file", rename("rootdir/f", "rootdir/g"));
	T("user chdir 0700 root dir", chdir("private"));
	T("user chroot", chroot("."));
}

static void perms(void) {
	put("secret", "s", 0600);
	mkdir("rootdir", 0755);
	put("rootdir/f", "f", 0644);
	mkdir("private", 0700);
	put("private/x", "x", 0644);
	mkdir("sticky", 01777);
	chmod("sticky", 01777);
	put("sticky/rootfile", "r", 0644);
	put("sticky/userfile", "u", 0644);
	chown("sticky/userfile", 1000, 1000);
	put("sticky/mine", "u", 0644);
	chown("sticky/mine", 1000, 1000);
	put("open", "o", 0666);
	as_user(user_cases);
}

static void cwds(void) {
	char here[4096], buf[4096];
	getcwd(here, sizeof here);
	T("chdir file", chdir("b"));
	T("chdir missing", chdir("missing"));
	T("chdir", chdir("e"));
	T("getcwd tail", getcwd(buf, sizeof buf) && strcmp(strrchr(buf, '/'), "/e") == 0);
	T("getcwd small", getcwd(buf, 2) ? 0 : -1);
	T("fchdir", ({ int fd = open(here, O_RDONLY | O_DIRECTORY); long r = fchdir(fd); close(fd); r; }));
	T("getcwd back", getcwd(buf, sizeof buf) && strcmp(buf, here) == 0);
	T("readlink /proc/self/cwd", ({ ssize_t n = readlink("/proc/self/cwd", buf, sizeof buf - 1); n < 0 ? -1 : (buf[n] = 0, strcmp(buf, here) == 0); }));
	T("/proc/self/exe", ({ ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1); n < 0 ? -1 : (buf[n] = 0, strcmp(strrchr(buf, '/'), "/fsuite") == 0); }));
	T("/proc/self/fd", ({ int fd = open("b", O_RDONLY); char p[64]; snprintf(p, sizeof p, "/proc/self/fd/%d", fd); ssize_t n = readlink(p, buf, sizeof buf - 1); close(fd); n < 0 ? -1 : (buf[n] = 0, strcmp(strrchr(buf, '/'), "/b") == 0); }));
	T("/proc/self/cmdline", ({ int fd = open("/proc/self/cmdline", O_RDONLY); ssize_t n = read(fd, buf, sizeof buf); close(fd); n < 0 ? -1 : strcmp(strrchr(buf, '/') ? strrchr(buf, '/') : buf, "/fsuite") == 0; }));
	// chroot into a subdirectory: "/" and ".." stay inside it.
	mkdir("jail", 0755);
	mkdir("jail/inner", 0755);
	put("jail/marker", "m", 0644);
	pid_t pid = fork();
	if (pid == 0) {
		T("chroot", chroot("jail"));
		T("chdir /", chdir("/"));
		T("marker at /", access("/marker", F_OK));
		T("../../ stays", access("/../../marker", F_OK));
		T("outside invisible", access("/b", F_OK));
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static void inotify(void) {
	mkdir("w", 0755);
	int in = inotify_init1(IN_CLOEXEC);
	T("inotify_add_watch", inotify_add_watch(in, "w", IN_CREATE | IN_DELETE) > 0);
	T("inotify_add_watch missing", inotify_add_watch(in, "missing", IN_CREATE));
	put("w/new", "x", 0644);
	unlink("w/new");
	char buf[4096];
	ssize_t n = read(in, buf, sizeof buf);
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *e = (struct inotify_event *)p;
		printf("inotify event: %s %s\n", e->mask & IN_CREATE ? "create" : e->mask & IN_DELETE ? "delete" : "other", e->name);
		p += sizeof *e + e->len;
	}
	close(in);
}

int main(void) {
	umask(022);
	opens();
	loops();
	resolve();
	names();
	attrs();
	perms();
	cwds();
	inotify();
	unlink("/dev/shm/lx-fsuite-a2");
	unlink("/dev/shm/lx-fsuite-b");
	return 0;
}
