// SPDX-License-Identifier: Apache-2.0
/*
 * Helper of the interception e2e test and benchmark (tests/e2e/intercept_*.sh).
 * Deliberately "unmodified": it knows nothing about shunt, it only uses the
 * socket API an application or Envoy uses.
 *
 *   intercept_tool connect HOST PORT
 *       connect(); prints "connected" (exit 0) or the errno name, e.g. "EPERM"
 *       (exit 3 for EPERM, 4 for anything else). With INTERCEPT_MARK=N in the
 *       environment the socket gets SO_MARK N first (as a proxy marks its own
 *       connections; needs CAP_NET_ADMIN).
 *   intercept_tool origdst-server PORT COUNT
 *       listens on 127.0.0.1:PORT and [::1]:PORT, prints "listening", then for
 *       each of COUNT accepted connections reads SO_ORIGINAL_DST (IPv4) or
 *       IP6T_SO_ORIGINAL_DST (IPv6) like Envoy's original_dst listener filter
 *       and prints "orig ADDR:PORT" (or "orig error ERRNO").
 *   intercept_tool session HOST PORT
 *       one keep-alive HTTP/1.1 connection; each stdin line "GET /path" sends a
 *       request and prints "STATUS BODY-FIRST-LINE"; exits at stdin EOF.
 *   intercept_tool bench HOST PORT PATH N
 *       N sequential GETs on one keep-alive connection (after 100 warm-up
 *       requests); prints "p50_us P p99_us P mean_us M n N".
 *   intercept_tool upgrade-server HOST PORT COUNT
 *       listens on HOST:PORT, prints "listening"; for each of COUNT
 *       connections (one at a time): reads an HTTP head, answers 101
 *       Switching Protocols, then echoes every byte until EOF.
 *   intercept_tool upgrade HOST PORT PATH N
 *       sends GET PATH with "Upgrade: echo", expects 101, then N round trips
 *       of a 64-byte numbered message and N more sent in bursts of 16 before
 *       reading their echoes (N a multiple of 16); every byte is checked;
 *       prints "echo 2N ok".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static int parse_addr(const char *host, const char *port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	int p = atoi(port);

	memset(ss, 0, sizeof(*ss));
	if (p <= 0 || p > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static int dial(const char *host, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (parse_addr(host, port, &ss, &len)) {
		fprintf(stderr, "intercept_tool: bad address %s %s\n", host, port);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (getenv("INTERCEPT_MARK")) {
		unsigned int mark = (unsigned int)strtoul(getenv("INTERCEPT_MARK"), NULL, 10);

		if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int cmd_connect(const char *host, const char *port)
{
	int fd = dial(host, port);

	if (fd >= 0) {
		printf("connected\n");
		close(fd);
		return 0;
	}
	printf("%s\n", fd == -EPERM ? "EPERM" : strerror(-fd));
	return fd == -EPERM ? 3 : 4;
}

static int listen_on(int family, int port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void print_orig(int c, int family)
{
	struct sockaddr_storage ss = {0};
	socklen_t len = sizeof(ss);
	char a[INET6_ADDRSTRLEN];
	int r;

	if (family == AF_INET)
		r = getsockopt(c, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
	else
		r = getsockopt(c, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
	if (r) {
		printf("orig error %s\n", strerror(errno));
	} else if (ss.ss_family == AF_INET && len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		printf("orig %s:%u\n", a, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		printf("orig [%s]:%u\n", a, ntohs(in6->sin6_port));
	} else {
		printf("orig error family %d len %u\n", ss.ss_family, (unsigned)len);
	}
	fflush(stdout);
}

static int cmd_origdst_server(const char *port, const char *count)
{
	struct pollfd p[2];
	int n = atoi(count), done = 0, i;

	p[0].fd = listen_on(AF_INET, atoi(port));
	p[1].fd = listen_on(AF_INET6, atoi(port));
	if (p[0].fd < 0 || p[1].fd < 0) {
		fprintf(stderr, "intercept_tool: listen on port %s failed\n", port);
		return 1;
	}
	p[0].events = p[1].events = POLLIN;
	printf("listening\n");
	fflush(stdout);
	while (done < n) {
		if (poll(p, 2, -1) < 0)
			return 1;
		for (i = 0; i < 2; i++) {
			int c;

			if (!(p[i].revents & POLLIN))
				continue;
			c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			print_orig(c, i == 0 ? AF_INET : AF_INET6);
			close(c);
			done++;
		}
	}
	return 0;
}

/* Read one HTTP response (Content-Length framed). Returns status or -1. */
static int read_response(int fd, char *body, size_t cap)
{
	static char buf[65536];
	size_t got = 0, need;
	char *end, *cl;
	int status;
	long clen = 0;

	for (;;) {
		ssize_t r;

		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (got >= sizeof(buf) - 1)
			return -1;
		r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EAGAIN)
			continue; /* spurious EAGAIN on accelerated blocking sockets */
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	cl = strcasestr(buf, "\r\ncontent-length:");
	if (cl && cl < end)
		clen = strtol(cl + 17, NULL, 10);
	need = (size_t)(end + 4 - buf) + (size_t)clen;
	if (need >= sizeof(buf))
		return -1;
	while (got < need) {
		ssize_t r = read(fd, buf + got, need - got);

		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	buf[need] = '\0';
	if (body) {
		const char *b = end + 4;
		size_t l = strcspn(b, "\r\n");

		if (l >= cap)
			l = cap - 1;
		memcpy(body, b, l);
		body[l] = '\0';
	}
	return status;
}

static int get(int fd, const char *host, const char *path, char *body, size_t cap)
{
	char req[1024];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);

	if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n)
		return -1;
	return read_response(fd, body, cap);
}

static int cmd_session(const char *host, const char *port)
{
	char line[512], body[256];
	int fd = dial(host, port);

	if (fd < 0) {
		printf("connect %s\n", strerror(-fd));
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *path;
		int st;

		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "GET ", 4))
			continue;
		path = line + 4;
		st = get(fd, host, path, body, sizeof(body));
		printf("%d %s\n", st, st < 0 ? "error" : body);
		fflush(stdout);
		if (st < 0)
			return 1;
	}
	close(fd);
	return 0;
}

/* Write all n bytes (blocking socket). 0 or -1. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes (blocking socket). 0, or -1 at EOF or error. */
static int read_full(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue; /* spurious EAGAIN on accelerated blocking sockets */
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void upgrade_serve(int c)
{
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				 "Upgrade: echo\r\n\r\n";
	char buf[16384];
	size_t got = 0;
	char *end = NULL;

	while (!end) {
		ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);

		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return;
		got += (size_t)r;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end && got == sizeof(buf) - 1)
			return;
	}
	if (write_all(c, ok, sizeof(ok) - 1))
		return;
	/* bytes that came with the head are the first to echo */
	got -= (size_t)(end + 4 - buf);
	if (got && write_all(c, end + 4, got))
		return;
	for (;;) {
		ssize_t r = read(c, buf, sizeof(buf));

		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0 || write_all(c, buf, (size_t)r))
			return;
	}
}

static int cmd_upgrade_server(const char *host, const char *port, const char *count)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, n = atoi(count), fd, i;

	if (parse_addr(host, port, &ss, &len))
		return 1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		fprintf(stderr, "intercept_tool: listen on %s:%s: %s\n", host, port,
			strerror(errno));
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (i = 0; i < n; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0)
			return 1;
		upgrade_serve(c);
		close(c);
	}
	close(fd);
	return 0;
}

/* Message i of the echo stream: its number, then a pattern of it. */
static void echo_msg(char m[64], unsigned i)
{
	unsigned k;

	snprintf(m, 64, "%08u:", i);
	for (k = 9; k < 64; k++)
		m[k] = (char)('a' + (i + k) % 26);
}

static int cmd_upgrade(const char *host, const char *port, const char *path, const char *count)
{
	char req[1024], m[64], back[16 * 64];
	unsigned n = (unsigned)atoi(count), i, k;
	int fd = dial(host, port), st, len, rc = 1;

	if (fd < 0) {
		printf("connect %s\n", strerror(-fd));
		return 1;
	}
	if (n == 0 || n % 16) {
		printf("N must be a positive multiple of 16\n");
		goto cleanup;
	}
	len = snprintf(
		req, sizeof(req),
		"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", path,
		host);
	if (len <= 0 || (size_t)len >= sizeof(req) || write_all(fd, req, (size_t)len))
		goto cleanup;
	st = read_response(fd, NULL, 0);
	if (st != 101) {
		printf("status %d\n", st);
		goto cleanup;
	}
	for (i = 0; i < n; i++) { /* round trips */
		echo_msg(m, i);
		if (write_all(fd, m, 64) || read_full(fd, back, 64) || memcmp(m, back, 64)) {
			printf("echo %u wrong\n", i);
			goto cleanup;
		}
	}
	for (i = n; i < 2 * n; i += 16) { /* bursts: order across messages */
		for (k = 0; k < 16; k++) {
			echo_msg(m, i + k);
			if (write_all(fd, m, 64))
				goto cleanup;
		}
		if (read_full(fd, back, sizeof(back)))
			goto cleanup;
		for (k = 0; k < 16; k++) {
			echo_msg(m, i + k);
			if (memcmp(m, back + 64 * k, 64)) {
				printf("echo %u wrong\n", i + k);
				goto cleanup;
			}
		}
	}
	printf("echo %u ok\n", 2 * n);
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int cmd_bench(const char *host, const char *port, const char *path, const char *count)
{
	int n = atoi(count), i, fd = dial(host, port), rc = 1;
	unsigned long long *lat = NULL, sum = 0;

	if (fd < 0 || n <= 0) {
		fprintf(stderr, "intercept_tool: bench: connect failed\n");
		goto cleanup;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat)
		goto cleanup;
	for (i = 0; i < 100; i++)
		if (get(fd, host, path, NULL, 0) != 200)
			goto cleanup;
	for (i = 0; i < n; i++) {
		unsigned long long t0 = now_ns();

		if (get(fd, host, path, NULL, 0) != 200)
			goto cleanup;
		lat[i] = now_ns() - t0;
		sum += lat[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("p50_us %.1f p90_us %.1f p99_us %.1f p999_us %.1f mean_us %.1f n %d\n",
	       lat[n / 2] / 1e3, lat[(size_t)n * 90 / 100] / 1e3, lat[(size_t)n * 99 / 100] / 1e3,
	       lat[(size_t)n * 999 / 1000] / 1e3, (double)sum / n / 1e3, n);
	rc = 0;
cleanup:
	free(lat);
	if (fd >= 0)
		close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return cmd_connect(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "origdst-server"))
		return cmd_origdst_server(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "session"))
		return cmd_session(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "upgrade-server"))
		return cmd_upgrade_server(argv[2], argv[3], argv[4]);
	if (argc == 6 && !strcmp(argv[1], "upgrade"))
		return cmd_upgrade(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 6 && !strcmp(argv[1], "bench"))
		return cmd_bench(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: intercept_tool connect HOST PORT | origdst-server PORT COUNT |\n"
			"       session HOST PORT | bench HOST PORT PATH N |\n"
			"       upgrade-server HOST PORT COUNT | upgrade HOST PORT PATH N\n");
	return 2;
}
