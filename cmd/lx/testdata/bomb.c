// bomb: a fork bomb bounded by RLIMIT_NPROC (argv[1]; 0: no limit of its
// own, only the instance's). Every process forks
// as long as it can; the first failures are reported through a pipe, then
// the whole bomb is killed and the test checks that nothing is left.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int limit = argc > 1 ? atoi(argv[1]) : 50;
	int p[2];
	pipe(p);
	pid_t bomb = fork();
	if (bomb == 0) {
		setpgid(0, 0);
		struct rlimit r = {limit, limit};
		if (limit > 0 && setrlimit(RLIMIT_NPROC, &r) < 0) {
			perror("setrlimit");
			_exit(1);
		}
		close(p[0]);
		for (int i = 0; i < 100000; i++) {
			pid_t c = fork();
			if (c < 0) {
				char e = errno == EAGAIN ? 'A' : 'O';
				write(p[1], &e, 1);
				usleep(20000);
			}
			// child and parent both go on forking
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	setpgid(bomb, bomb);
	int again = 0, other = 0;
	char e;
	while (again + other < 20 && read(p[0], &e, 1) == 1)
		e == 'A' ? again++ : other++;
	kill(-bomb, SIGKILL);
	waitpid(bomb, NULL, 0);
	struct timespec ts = {0, 10000000};
	int i;
	for (i = 0; i < 1000 && kill(-bomb, 0) == 0; i++)
		nanosleep(&ts, NULL);
	printf("fork bomb under %s %d: %d EAGAIN, %d other errors, all gone %s\n", limit ? "RLIMIT_NPROC" : "no RLIMIT_NPROC", limit, again, other,
	       i < 1000 ? "yes" : "no");
	return again == 20 && i < 1000 ? 0 : 1;
}
