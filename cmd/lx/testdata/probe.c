// probe: the error paths a guest must see as on Linux. Prints one line per
// check and exits 0 only if every check held.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failed;

static void expect(const char *what, long ret, int want) {
	int got = ret == -1 ? errno : 0;
	printf("%s: %s\n", what, got ? strerrorname_np(got) : "ok");
	if (got != want) {
		printf("  FAIL: want %s\n", want ? strerrorname_np(want) : "ok");
		failed = 1;
	}
}

int main(void) {
	struct stat st;
	errno = 0;
	expect("syscall 1000", syscall(1000), ENOSYS);
	expect("syscall 400", syscall(400), ENOSYS);
	expect("stat bad path pointer", syscall(SYS_stat, (char *)8, &st), EFAULT);
	expect("stat bad buffer", syscall(SYS_stat, "/etc/passwd", (void *)8), EFAULT);
	expect("stat /etc/passwd", stat("/etc/passwd", &st), 0);
	expect("open bad pointer", syscall(SYS_open, (char *)16, 0), EFAULT);
	expect("stat missing", stat("/no/such/file", &st), ENOENT);
	expect("mkdir on read-only root", mkdir("/usr/lx-probe", 0755), EROFS);
	expect("clone3 falls back", syscall(SYS_clone3, NULL, 0), ENOSYS);
	char big[5000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	expect("path too long", stat(big, &st), ENAMETOOLONG);
	printf("still running\n");
	return failed;
}
