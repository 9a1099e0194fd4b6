// threadbomb: creates threads until the kernel refuses one, then reports
// how many it made and the error. Threads do not go through procsrv (a
// thread clone runs natively), so only the instance's pids cgroup bounds
// them.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void) {
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 << 10);
	int n = 0, err = 0;
	for (; n < 100000; n++) {
		pthread_t t;
		if ((err = pthread_create(&t, &a, sleeper, NULL)) != 0)
			break;
	}
	printf("%d threads, then %s\n", n, err == EAGAIN ? "EAGAIN" : strerror(err));
	return err == EAGAIN ? 0 : 1;
}
