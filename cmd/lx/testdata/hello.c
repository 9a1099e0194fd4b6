// hello: what a freshly exec'd image sees; built dynamic, static,
// static-pie and with musl by the tests.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
	char b[4096];
	ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
	b[n > 0 ? n : 0] = 0;
	char *base = strrchr(b, '/');
	printf("%s: argc %d, /proc/self/exe %s, ppid is init or shell %d\n", argv[0], argc, base ? base + 1 : b, getppid() > 0);
	return 0;
}
