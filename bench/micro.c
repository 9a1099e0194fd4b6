//go:build ignore

// (The constraint above keeps the go tool from treating this as cgo source;
// bench/main.go embeds this file and compiles it with gcc.)

/*
 * micro: syscall micro-benchmarks, run natively and under lx by bench/main.go.
 *
 *   gcc -O2 -o micro micro.c            (also builds with -static)
 *   micro OP [ITERS]                     one op, ITERS iterations per batch
 *   micro all                            every op with its default ITERS
 *
 * For each op: a warm-up of ITERS/10 iterations, then 5 timed batches of
 * ITERS iterations each (CLOCK_MONOTONIC); prints "OP ns_per_op" where
 * ns_per_op is the median batch.  Temp files are created in the cwd and
 * removed on exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5
#define FILE_SIZE (64 * 1024)

extern char **environ;

static char data_path[4096];
static int have_file;
static const char *true_path = "/bin/true";

/* pipe op state */
static int to_child = -1, from_child = -1;
static pid_t echo_pid = -1;

static void die(const char *what)
{
	fprintf(stderr, "micro: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void cleanup(void)
{
	if (have_file) {
		unlink(data_path);
		have_file = 0;
	}
}

static void on_signal(int sig)
{
	if (have_file)
		unlink(data_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void make_file(void)
{
	char cwd[3000];
	static char buf[FILE_SIZE];
	int fd;
	size_t off = 0;

	if (have_file)
		return;
	if (!getcwd(cwd, sizeof cwd))
		die("getcwd");
	snprintf(data_path, sizeof data_path, "%s/micro-%ld.dat", cwd, (long)getpid());
	fd = open(data_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create data file");
	have_file = 1;
	memset(buf, 'x', sizeof buf);
	while (off < sizeof buf) {
		ssize_t n = write(fd, buf + off, sizeof buf - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write data file");
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		die("close data file");
}

/* ---- ops: each does one iteration ---- */

static void op_getppid(void)
{
	syscall(SYS_getppid);
}

static void op_stat(void)
{
	struct stat st;
	if (stat(data_path, &st) < 0)
		die("stat");
}

static void op_openclose(void)
{
	int fd = open(data_path, O_RDONLY);
	if (fd < 0)
		die("open");
	close(fd);
}

static int read_fd = -1;
static char read_buf[4096];

static void op_read4k(void)
{
	if (pread(read_fd, read_buf, sizeof read_buf, 0) != (ssize_t)sizeof read_buf)
		die("pread");
}

static void reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			die("waitpid");
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "micro: child %ld failed (status 0x%x)\n", (long)pid, st);
		exit(1);
	}
}

static void op_forkwait(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	reap(pid);
}

static void op_forkexec(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *argv[] = {(char *)true_path, NULL};
		execve(true_path, argv, environ);
		_exit(127);
	}
	reap(pid);
}

static void op_pipe(void)
{
	char c = 'p';
	if (write(to_child, &c, 1) != 1)
		die("pipe write");
	if (read(from_child, &c, 1) != 1)
		die("pipe read");
}

/* ---- setup / teardown ---- */

static void setup_file(void)
{
	make_file();
}

static void setup_read4k(void)
{
	make_file();
	read_fd = open(data_path, O_RDONLY);
	if (read_fd < 0)
		die("open for read4k");
}

static void teardown_read4k(void)
{
	close(read_fd);
	read_fd = -1;
}

static void setup_pipe(void)
{
	int a[2], b[2];
	if (pipe(a) < 0 || pipe(b) < 0)
		die("pipe");
	echo_pid = fork();
	if (echo_pid < 0)
		die("fork echo child");
	if (echo_pid == 0) {
		char c;
		close(a[1]);
		close(b[0]);
		for (;;) {
			ssize_t n = read(a[0], &c, 1);
			if (n == 0)
				_exit(0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				_exit(2);
			}
			if (write(b[1], &c, 1) != 1)
				_exit(3);
		}
	}
	close(a[0]);
	close(b[1]);
	to_child = a[1];
	from_child = b[0];
}

static void teardown_pipe(void)
{
	close(to_child);
	close(from_child);
	to_child = from_child = -1;
	reap(echo_pid);
	echo_pid = -1;
}

struct op {
	const char *name;
	long iters; /* per batch; 5 batches ≈ 0.3–1 s natively */
	void (*setup)(void);
	void (*fn)(void);
	void (*teardown)(void);
};

static const struct op ops[] = {
	{"getppid", 600000, NULL, op_getppid, NULL},
	{"stat", 100000, setup_file, op_stat, NULL},
	{"openclose", 50000, setup_file, op_openclose, NULL},
	{"read4k", 150000, setup_read4k, op_read4k, teardown_read4k},
	{"forkwait", 1000, NULL, op_forkwait, NULL},
	{"forkexec", 200, NULL, op_forkexec, NULL},
	{"pipe", 12000, setup_pipe, op_pipe, teardown_pipe},
};
#define NOPS (sizeof ops / sizeof ops[0])

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run_op(const struct op *op, long iters)
{
	double per[BATCHES];
	long i, warm = iters / 10;
	int b;

	if (warm < 1)
		warm = 1;
	if (op->setup)
		op->setup();
	for (i = 0; i < warm; i++)
		op->fn();
	for (b = 0; b < BATCHES; b++) {
		double t0 = now_ns();
		for (i = 0; i < iters; i++)
			op->fn();
		per[b] = (now_ns() - t0) / (double)iters;
	}
	if (op->teardown)
		op->teardown();
	qsort(per, BATCHES, sizeof per[0], cmp_double);
	printf("%s %.1f\n", op->name, per[BATCHES / 2]);
	fflush(stdout);
}

static void usage(void)
{
	size_t i;
	fprintf(stderr, "usage: micro OP [ITERS] | micro all\nops:");
	for (i = 0; i < NOPS; i++)
		fprintf(stderr, " %s", ops[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *t = getenv("MICRO_TRUE");
	size_t i;

	if (argc < 2 || argc > 3)
		usage();
	if (t && *t)
		true_path = t;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);

	if (strcmp(argv[1], "all") == 0) {
		if (argc != 2)
			usage();
		for (i = 0; i < NOPS; i++)
			run_op(&ops[i], ops[i].iters);
		return 0;
	}
	for (i = 0; i < NOPS; i++) {
		if (strcmp(argv[1], ops[i].name) == 0) {
			long iters = ops[i].iters;
			if (argc == 3) {
				char *end;
				iters = strtol(argv[2], &end, 10);
				if (*argv[2] == '\0' || *end != '\0' || iters < 1)
					usage();
			}
			run_op(&ops[i], iters);
			return 0;
		}
	}
	usage();
	return 2;
}
