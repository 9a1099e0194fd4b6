// netprobe: small network probes whose output is the same natively and in
// an instance with the same network.
//   netprobe ifaddrs             one line per IPv4/IPv6 address: NAME ADDR (getifaddrs)
//   netprobe connect ADDR PORT   a blocking TCP connect: "ok" or the errno's name
//   netprobe nbconnect ADDR PORT a non-blocking TCP connect completed through epoll:
//                                "EINPROGRESS ok" (or the errno's names)
//   netprobe sendto ADDR PORT    one UDP datagram: "ok" or the errno's name
//   netprobe bind ADDR PORT      a TCP bind: the port getsockname shows, or the errno's name
//   netprobe socket FAMILY TYPE  socket(inet|inet6|packet|ax25, stream|dgram|raw): "ok" or the errno's name
//   netprobe loopback            TCP over 127.0.0.1 and ::1 in one process: "ok4 ok6"
//   netprobe serve PORT          on 127.0.0.1:PORT, print "listening", then greet each
//                                client with "hello from PORT" until killed
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int addr(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len) {
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof *a6;
		return AF_INET6;
	}
	fprintf(stderr, "bad address %s\n", s);
	exit(2);
}

static int result(int r) {
	if (r < 0) {
		printf("%s\n", strerrorname_np(errno));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int loop(int family) {
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = addr(family == AF_INET ? "127.0.0.1" : "::1", 0, &ss, &len);
	int l = socket(fam, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	int c = socket(fam, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len) < 0)
		return -1;
	int a = accept(l, NULL, NULL);
	char buf[4] = {0};
	if (a < 0 || write(c, "hi", 2) != 2 || read(a, buf, sizeof buf) != 2 || strcmp(buf, "hi") != 0)
		return -1;
	close(a), close(c), close(l);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "ifaddrs")) {
		struct ifaddrs *ifa, *p;
		if (getifaddrs(&ifa) < 0)
			return result(-1);
		for (p = ifa; p; p = p->ifa_next) {
			char buf[INET6_ADDRSTRLEN];
			if (!p->ifa_addr)
				continue;
			int f = p->ifa_addr->sa_family;
			if (f == AF_INET)
				inet_ntop(f, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, buf, sizeof buf);
			else if (f == AF_INET6)
				inet_ntop(f, &((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr, buf, sizeof buf);
			else
				continue;
			printf("%s %s\n", p->ifa_name, buf);
		}
		freeifaddrs(ifa);
		return 0;
	}
	if ((!strcmp(argv[1], "connect") || !strcmp(argv[1], "sendto")) && argc == 4) {
		struct sockaddr_storage ss;
		socklen_t len;
		int udp = !strcmp(argv[1], "sendto");
		int fam = addr(argv[2], atoi(argv[3]), &ss, &len);
		int s = socket(fam, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
		if (s < 0)
			return result(-1);
		if (udp)
			return result(sendto(s, "x", 1, 0, (struct sockaddr *)&ss, len));
		return result(connect(s, (struct sockaddr *)&ss, len));
	}
	if (!strcmp(argv[1], "nbconnect") && argc == 4) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fam = addr(argv[2], atoi(argv[3]), &ss, &len);
		int s = socket(fam, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (s < 0)
			return result(-1);
		if (connect(s, (struct sockaddr *)&ss, len) == 0) {
			printf("connected at once\n");
			return 0;
		}
		printf("%s ", strerrorname_np(errno));
		int ep = epoll_create1(0);
		struct epoll_event ev = {.events = EPOLLOUT}, got;
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0 || epoll_wait(ep, &got, 1, 20000) != 1)
			return result(-1);
		int err = 0;
		socklen_t elen = sizeof err;
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return result(-1);
		errno = err;
		return result(err ? -1 : 0);
	}
	if (!strcmp(argv[1], "bind") && argc == 4) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fam = addr(argv[2], atoi(argv[3]), &ss, &len);
		int s = socket(fam, SOCK_STREAM, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&ss, len) < 0 || getsockname(s, (struct sockaddr *)&ss, &len) < 0)
			return result(-1);
		printf("%d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
		return 0;
	}
	if (!strcmp(argv[1], "socket") && argc == 4) {
		int fam = !strcmp(argv[2], "inet") ? AF_INET : !strcmp(argv[2], "inet6") ? AF_INET6 :
			  !strcmp(argv[2], "packet") ? AF_PACKET : AF_AX25;
		int type = !strcmp(argv[3], "stream") ? SOCK_STREAM : !strcmp(argv[3], "dgram") ? SOCK_DGRAM : SOCK_RAW;
		return result(socket(fam, type, fam == AF_PACKET ? htons(3) : type == SOCK_RAW ? IPPROTO_ICMP : 0));
	}
	if (!strcmp(argv[1], "serve") && argc == 3) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fam = addr("127.0.0.1", atoi(argv[2]), &ss, &len), one = 1;
		int l = socket(fam, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (l < 0 || bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, 8) < 0)
			return result(-1);
		printf("listening\n");
		fflush(stdout);
		for (;;) {
			char msg[64];
			int c = accept(l, NULL, NULL);
			if (c < 0)
				return result(-1);
			int n = snprintf(msg, sizeof msg, "hello from %s\n", argv[2]);
			if (write(c, msg, n) != n)
				return result(-1);
			close(c);
		}
	}
	if (!strcmp(argv[1], "loopback")) {
		int r4 = loop(AF_INET), r6 = loop(AF_INET6);
		printf("%s %s\n", r4 ? strerrorname_np(errno) : "ok4", r6 ? strerrorname_np(errno) : "ok6");
		return r4 || r6;
	}
	return 2;
}
