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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* tcprr and tcpbulk: a TCP connection over 127.0.0.1 to a child that
 * echoes (tcprr) or reads and discards (tcpbulk). */
static int tcp_fd = -1;
static pid_t tcp_pid = -1;
#define BULK_CHUNK (1 << 20)
static char bulk_buf[BULK_CHUNK];

static void op_tcprr(void)
{
	char c = 't';
	if (write(tcp_fd, &c, 1) != 1)
		die("tcp write");
	if (read(tcp_fd, &c, 1) != 1)
		die("tcp read");
}

/* one iteration sends 1 MiB */
static void op_tcpbulk(void)
{
	size_t off = 0;
	while (off < sizeof bulk_buf) {
		ssize_t n = write(tcp_fd, bulk_buf + off, sizeof bulk_buf - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("tcp bulk write");
		}
		off += (size_t)n;
	}
}

static void setup_tcp(int echo)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("tcp listen");
	tcp_pid = fork();
	if (tcp_pid < 0)
		die("fork tcp child");
	if (tcp_pid == 0) {
		static char buf[BULK_CHUNK];
		int c = accept(l, NULL, NULL);
		if (c < 0)
			_exit(2);
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		for (;;) {
			ssize_t n = read(c, buf, echo ? 1 : sizeof buf);
			if (n == 0)
				_exit(0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				_exit(3);
			}
			if (echo && write(c, buf, (size_t)n) != n)
				_exit(4);
		}
	}
	close(l);
	tcp_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp_fd < 0 || connect(tcp_fd, (struct sockaddr *)&a, len) < 0)
		die("tcp connect");
	setsockopt(tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(bulk_buf, 'b', sizeof bulk_buf);
}

/* udpsendto: a datagram with an address to a local UDP socket nobody reads
 * (once its buffer is full the kernel drops them: sendto still succeeds). */
static int udp_fd = -1, udp_sink = -1;
static struct sockaddr_in udp_to;

static void setup_udpsendto(void)
{
	socklen_t len = sizeof udp_to;
	udp_to.sin_family = AF_INET;
	udp_to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	udp_sink = socket(AF_INET, SOCK_DGRAM, 0);
	udp_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (udp_sink < 0 || udp_fd < 0 || bind(udp_sink, (struct sockaddr *)&udp_to, len) < 0 ||
	    getsockname(udp_sink, (struct sockaddr *)&udp_to, &len) < 0)
		die("udp setup");
}

static void op_udpsendto(void)
{
	if (sendto(udp_fd, "u", 1, 0, (struct sockaddr *)&udp_to, sizeof udp_to) != 1)
		die("udp sendto");
}

static void teardown_udpsendto(void)
{
	close(udp_fd);
	close(udp_sink);
	udp_fd = udp_sink = -1;
}

static void setup_tcprr(void) { setup_tcp(1); }
static void setup_tcpbulk(void) { setup_tcp(0); }

static void teardown_tcp(void)
{
	close(tcp_fd);
	tcp_fd = -1;
	reap(tcp_pid);
	tcp_pid = -1;
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
	int batches; /* 0: BATCHES */
	void (*setup)(void);
	void (*fn)(void);
	void (*teardown)(void);
};

static const struct op ops[] = {
	{"getppid", 600000, 0, NULL, op_getppid, NULL},
	{"stat", 100000, 0, setup_file, op_stat, NULL},
	{"openclose", 50000, 0, setup_file, op_openclose, NULL},
	{"read4k", 150000, 0, setup_read4k, op_read4k, teardown_read4k},
	{"forkwait", 1000, 0, NULL, op_forkwait, NULL},
	{"forkexec", 200, 0, NULL, op_forkexec, NULL},
	{"pipe", 12000, 0, setup_pipe, op_pipe, teardown_pipe},
	{"tcprr", 20000, 0, setup_tcprr, op_tcprr, teardown_tcp},
	{"udpsendto", 100000, 0, setup_udpsendto, op_udpsendto, teardown_udpsendto},
	/* ns per MiB; batches of 1 GiB (after a 102 MiB warm-up) */
	{"tcpbulk", 1024, 3, setup_tcpbulk, op_tcpbulk, teardown_tcp},
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
	int b, batches = op->batches ? op->batches : BATCHES;

	if (warm < 1)
		warm = 1;
	if (op->setup)
		op->setup();
	for (i = 0; i < warm; i++)
		op->fn();
	for (b = 0; b < batches; b++) {
		double t0 = now_ns();
		for (i = 0; i < iters; i++)
			op->fn();
		per[b] = (now_ns() - t0) / (double)iters;
	}
	if (op->teardown)
		op->teardown();
	qsort(per, batches, sizeof per[0], cmp_double);
	printf("%s %.1f\n", op->name, per[batches / 2]);
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
