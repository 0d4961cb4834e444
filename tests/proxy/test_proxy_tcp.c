// SPDX-License-Identifier: Apache-2.0
/*
 * shunt-proxy's tcp listeners ("mode": "tcp", proxy/tcp.c) end to end: the
 * real binary (argv[1]) relaying to in-process upstreams on loopback, without
 * shuntd (every splice call fails with ENOPROTOOPT: the relay copies, and the
 * access log says "spliced":false).
 *
 * Addresses: 127.0.0.1 is workload default/client; 127.0.0.2 is
 * default/backend, whose only ALLOW rule needs HTTP fields (so Istio's TCP
 * semantics deny every TCP connection to it); 127.0.0.4 is default/plain,
 * selected by no policy (allowed).
 *
 * Upstreams (threads, one per connection):
 *   echo: echoes every byte; at the client's EOF sends "<EOF>" and closes
 *         (so the client sees that its half-close arrived while the other
 *         direction still flowed);
 *   sink: sends "HELLO", shuts its write side down at once, then reads to EOF
 *         and records the byte count and hash (the client keeps sending after
 *         it saw the upstream's EOF).
 *
 * Synchronisation is by events only: the proxy's stderr lines, socket EOFs,
 * the sink's condition variable, inotify on the access log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "proxy_testlib.h"
#include "upstream_server.h"

#define IO_TIMEOUT_MS 20000
#define BIG	      (8u << 20)

static const char *proxy_bin;
static char tmpdir[256], cfg_path[300], log_path[300];
static struct pt_proc px = PT_PROC_INIT;
static struct us_server *http_up; /* HTTP upstream on 127.0.0.2 */

/* ---- upstream servers ---- */

enum srv_mode { SRV_ECHO, SRV_SINK };

#define SRV_MAX_CONNS 64

struct srv {
	enum srv_mode mode;
	int lfd, stop[2];
	uint16_t port;
	pthread_t acceptor;
	pthread_t conns[SRV_MAX_CONNS];
	atomic_uint n_conns;
	/* sink results (under lock) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned sink_done;
	uint64_t sink_bytes, sink_hash;
};

struct srv_conn {
	struct srv *s;
	int fd;
};

static struct srv echo4, sink4, echo2;

static int write_all(int fd, const void *p, size_t n)
{
	return pt_send_all(fd, p, n);
}

static void *srv_conn_main(void *arg)
{
	struct srv_conn *c = arg;
	struct srv *s = c->s;
	static __thread char buf[65536];
	uint64_t total = 0, h = US_FNV_INIT;
	ssize_t n;

	if (s->mode == SRV_SINK) {
		write_all(c->fd, "HELLO", 5);
		shutdown(c->fd, SHUT_WR);
	}
	while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
		total += (uint64_t)n;
		if (s->mode == SRV_SINK)
			h = us_fnv1a(h, buf, (size_t)n);
		else if (write_all(c->fd, buf, (size_t)n))
			break;
	}
	if (s->mode == SRV_ECHO && n == 0) {
		write_all(c->fd, "<EOF>", 5);
		shutdown(c->fd, SHUT_WR);
	}
	if (s->mode == SRV_SINK) {
		pthread_mutex_lock(&s->lock);
		s->sink_done++;
		s->sink_bytes = n == 0 ? total : (uint64_t)-1;
		s->sink_hash = h;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *srv_accept_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
				      {.fd = s->stop[0], .events = POLLIN}};
		struct srv_conn *c;
		unsigned k;
		int fd;

		if (poll(p, 2, -1) < 0 && errno == EINTR)
			continue;
		if (p[1].revents)
			return NULL;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		k = atomic_load(&s->n_conns);
		c = malloc(sizeof(*c));
		CHECK(c && k < SRV_MAX_CONNS, "upstream: too many connections");
		c->s = s;
		c->fd = fd;
		CHECK(pthread_create(&s->conns[k], NULL, srv_conn_main, c) == 0, "thread");
		atomic_store(&s->n_conns, k + 1);
	}
}

static void srv_start(struct srv *s, const char *ip, enum srv_mode mode)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	s->mode = mode;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	CHECK(s->lfd >= 0 && bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		      listen(s->lfd, 64) == 0 &&
		      getsockname(s->lfd, (struct sockaddr *)&sa, &len) == 0,
	      "upstream on %s: %s", ip, strerror(errno));
	s->port = ntohs(sa.sin_port);
	CHECK(pipe2(s->stop, O_CLOEXEC) == 0, "pipe");
	CHECK(pthread_create(&s->acceptor, NULL, srv_accept_main, s) == 0, "thread");
}

static void srv_stop(struct srv *s)
{
	CHECK(write(s->stop[1], "x", 1) == 1, "stop");
	pthread_join(s->acceptor, NULL);
	for (unsigned k = 0; k < atomic_load(&s->n_conns); k++)
		pthread_join(s->conns[k], NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
}

/* Wait until the sink finished n connections; its last count and hash. */
static void sink_wait(struct srv *s, unsigned n, uint64_t *bytes, uint64_t *hash)
{
	struct timespec ts;

	us_abs_deadline(&ts, IO_TIMEOUT_MS);
	pthread_mutex_lock(&s->lock);
	while (s->sink_done < n)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts))
			break;
	CHECK(s->sink_done >= n, "sink: connection %u did not finish", n);
	*bytes = s->sink_bytes;
	*hash = s->sink_hash;
	pthread_mutex_unlock(&s->lock);
}

/* ---- proxy ---- */

static uint16_t p_relay, p_sink, p_refused, p_denied, p_open, p_web, p_http_enf, p_http_open,
	p_admin, p_closed;

static void cleanup(void)
{
	pt_proc_kill(&px);
	pt_workdir_remove(tmpdir, cfg_path, log_path);
}

static void write_config(bool web_tcp)
{
	char buf[8192], tmp[400];
	FILE *f;

	snprintf(buf, sizeof(buf),
		 "{\"workloads\": [\n"
		 "  {\"name\": \"client\", \"namespace\": \"default\", \"serviceAccount\": "
		 "\"client\", "
		 "\"addresses\": [\"127.0.0.1\"]},\n"
		 "  {\"name\": \"backend\", \"namespace\": \"default\", \"serviceAccount\": "
		 "\"backend\", \"labels\": {\"app\": \"backend\"}, \"addresses\": "
		 "[\"127.0.0.2\"]},\n"
		 "  {\"name\": \"plain\", \"namespace\": \"default\", \"serviceAccount\": "
		 "\"plain\", "
		 "\"addresses\": [\"127.0.0.4\"]}],\n"
		 " \"authorizationPolicies\": [\n"
		 "  {\"metadata\": {\"name\": \"backend-get\", \"namespace\": \"default\"},\n"
		 "   \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"backend\"}}, "
		 "\"action\": "
		 "\"ALLOW\",\n"
		 "    \"rules\": [{\"to\": [{\"operation\": {\"methods\": [\"GET\"]}}]}]}}],\n"
		 " \"proxy\": {\"admin\": \"127.0.0.1:%u\", \"accessLog\": \"%s\",\n"
		 "  \"limits\": {\"maxBufferBytes\": 65536},\n"
		 "  \"listeners\": [\n"
		 "   {\"name\": \"relay\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.4:%u\", \"mode\": \"tcp\"},\n"
		 "   {\"name\": \"sink\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.4:%u\", \"mode\": \"tcp\"},\n"
		 "   {\"name\": \"refused\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.4:%u\", \"mode\": \"tcp\"},\n"
		 "   {\"name\": \"denied\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.2:%u\", \"mode\": \"tcp\", \"enforce\": true},\n"
		 "   {\"name\": \"open\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.2:%u\", \"mode\": \"tcp\", \"enforce\": false},\n"
		 "   {\"name\": \"web\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.4:%u\", \"mode\": \"%s\"},\n"
		 "   {\"name\": \"http-enforced\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.2:%u\"},\n"
		 "   {\"name\": \"http-open\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
		 "\"127.0.0.2:%u\", \"enforce\": false}]}}\n",
		 p_admin, log_path, p_relay, echo4.port, p_sink, sink4.port, p_refused, p_closed,
		 p_denied, echo2.port, p_open, echo2.port, p_web, echo4.port,
		 web_tcp ? "tcp" : "http", p_http_enf, us_port(http_up), p_http_open,
		 us_port(http_up));
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg_path);
	f = fopen(tmp, "w");
	CHECK(f && fputs(buf, f) >= 0 && fclose(f) == 0, "write %s", tmp);
	CHECK(rename(tmp, cfg_path) == 0, "rename");
}

static void proxy_start(void)
{
	pt_proxy_start(&px, proxy_bin, cfg_path, NULL, IO_TIMEOUT_MS);
}

/* ---- client helpers ---- */

static int cli(uint16_t port)
{
	int fd = pt_connect_from(NULL, port);
	struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};

	CHECK(fd >= 0, "connect to proxy port %u: %s", port, strerror(-fd));
	/* a stuck relay fails the test instead of hanging it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read until EOF (or cap); returns the byte count, -errno on an error
 * before any byte (ECONNRESET), and stores the error in *err. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap, int *err)
{
	size_t got = 0;

	*err = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static uint8_t pattern(size_t i, unsigned seed)
{
	return (uint8_t)(i * 131u + (i >> 12) * 7u + seed);
}

/* ---- access log (inotify: no polling) ---- */

static char *log_wait(const char *needle1, const char *needle2)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	uint64_t deadline = pt_now_ms() + IO_TIMEOUT_MS;
	char *buf = malloc(1 << 20);

	CHECK(in >= 0 && buf, "inotify");
	CHECK(inotify_add_watch(in, log_path, IN_MODIFY) >= 0, "watch %s: %s", log_path,
	      strerror(errno));
	for (;;) {
		FILE *f = fopen(log_path, "r");
		size_t n = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
		char *line, *save = NULL;
		uint64_t now = pt_now_ms();
		struct pollfd p = {.fd = in, .events = POLLIN};
		char ev[4096];

		if (f)
			fclose(f);
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (strstr(line, needle1) && (!needle2 || strstr(line, needle2))) {
				close(in);
				memmove(buf, line, strlen(line) + 1);
				return buf;
			}
		CHECK(now < deadline, "access log has no line with %s %s", needle1,
		      needle2 ? needle2 : "");
		poll(&p, 1, (int)(deadline - now));
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
}

static char *http_get_admin(const char *path)
{
	char req[128];
	static char resp[65536];
	int fd = cli(p_admin), err;
	ssize_t n;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", path);
	CHECK(write_all(fd, req, strlen(req)) == 0, "admin send");
	n = read_to_eof(fd, resp, sizeof(resp) - 1, &err);
	close(fd);
	CHECK(n > 0, "admin %s: no answer (%s)", path, strerror(err));
	resp[n] = '\0';
	return resp;
}

/* ---- tests ---- */

struct sender {
	int fd;
	size_t len;
	unsigned seed;
	int err;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	size_t chunk = 100000, off = 0;
	uint8_t *b = malloc(chunk);

	CHECK(b, "oom");
	while (off < s->len && !s->err) {
		size_t n = s->len - off < chunk ? s->len - off : chunk;

		for (size_t i = 0; i < n; i++)
			b[i] = pattern(off + i, s->seed);
		s->err = write_all(s->fd, b, n);
		off += n;
	}
	if (!s->err && shutdown(s->fd, SHUT_WR))
		s->err = -errno;
	free(b);
	return NULL;
}

/* 8 MiB through the relay to the echo upstream and back, concurrently:
 * byte-exact both ways, the client's half-close reaches the upstream while
 * the echo still flows ("<EOF>" arrives after all echoed bytes), then EOF. */
static void test_big_echo(void)
{
	struct sender s = {.fd = cli(p_relay), .len = BIG, .seed = 3};
	char *got = malloc(BIG + 64), want[256], *line;
	pthread_t th;
	ssize_t n;
	int err;

	CHECK(got, "oom");
	CHECK(pthread_create(&th, NULL, sender_main, &s) == 0, "thread");
	n = read_to_eof(s.fd, got, BIG + 64, &err);
	pthread_join(th, NULL);
	CHECK(s.err == 0, "send: %s", strerror(-s.err));
	CHECK(err == 0 && n == BIG + 5, "echo: %zd bytes (want %u), error %s", n, BIG + 5,
	      strerror(err));
	for (size_t i = 0; i < BIG; i++)
		CHECK((uint8_t)got[i] == pattern(i, 3), "byte %zu differs", i);
	CHECK(memcmp(got + BIG, "<EOF>", 5) == 0, "the upstream did not see the client's EOF");
	close(s.fd);
	free(got);
	snprintf(want, sizeof(want), "\"destination\":\"127.0.0.4:%u\",\"mode\":\"tcp\"",
		 echo4.port);
	line = log_wait(want, "\"bytes_in\":8388608,\"bytes\":8388613,");
	CHECK(strstr(line, "\"source\":\"default/client\"") &&
		      strstr(line, "\"verdict\":\"allow\",\"policy\":null") &&
		      strstr(line, "\"spliced\":false,\"spliced_in\":0,\"spliced_out\":0}"),
	      "log line: %s", line);
	free(line);
	printf("8 MiB echo both ways + client half-close ok\n");
}

/* The upstream half-closes first: the client gets "HELLO" + EOF and then
 * still sends 8 MiB that arrive intact; the upstream's EOF comes once the
 * client shuts down. */
static void test_upstream_half_close(void)
{
	struct sender s = {.fd = cli(p_sink), .len = BIG, .seed = 9};
	char got[64];
	uint64_t bytes, hash, want = US_FNV_INIT;
	uint8_t *b = malloc(BIG);
	ssize_t n;
	int err;

	CHECK(b, "oom");
	n = read_to_eof(s.fd, got, sizeof(got), &err);
	CHECK(err == 0 && n == 5 && memcmp(got, "HELLO", 5) == 0,
	      "greeting + EOF: %zd bytes, error %s", n, strerror(err));
	sender_main(&s);
	CHECK(s.err == 0, "send after the upstream's EOF: %s", strerror(-s.err));
	sink_wait(&sink4, 1, &bytes, &hash);
	for (size_t i = 0; i < BIG; i++)
		b[i] = pattern(i, 9);
	want = us_fnv1a(want, b, BIG);
	CHECK(bytes == BIG && hash == want, "sink got %llu bytes (want %u), hash %s",
	      (unsigned long long)bytes, BIG, hash == want ? "ok" : "differs");
	close(s.fd);
	free(b);
	printf("upstream half-close ok\n");
}

/* Nothing listens upstream: the client's connection is closed, no data. */
static void test_refused(void)
{
	int fd = cli(p_refused), err;
	char buf[16], want[128];
	ssize_t n = read_to_eof(fd, buf, sizeof(buf), &err);

	CHECK(n == 0 && (err == 0 || err == ECONNRESET), "refused upstream: %zd bytes, %s", n,
	      strerror(err));
	close(fd);
	snprintf(want, sizeof(want), "\"destination\":\"127.0.0.4:%u\"", p_closed);
	free(log_wait(want, "\"verdict\":\"error\""));
	printf("upstream refused ok\n");
}

/* The only ALLOW rule of backend needs HTTP fields: a TCP connection to it
 * is denied (reset at once, no upstream connection); with enforce false the
 * same destination is relayed. */
static void test_enforce(void)
{
	unsigned before = atomic_load(&echo2.n_conns);
	char buf[64], want[128], *line;
	int fd = cli(p_denied), err;
	ssize_t n;

	/* whatever the client sends is never relayed */
	write_all(fd, "ping", 4);
	n = read_to_eof(fd, buf, sizeof(buf), &err);
	CHECK(n == 0 && (err == 0 || err == ECONNRESET), "denied: %zd bytes, %s", n, strerror(err));
	close(fd);
	snprintf(want, sizeof(want), "\"destination\":\"127.0.0.2:%u\"", echo2.port);
	line = log_wait(want, "\"verdict\":\"deny\"");
	CHECK(strstr(line, "\"bytes_in\":0,\"bytes\":0,"), "denied line: %s", line);
	free(line);
	CHECK(atomic_load(&echo2.n_conns) == before, "a denied connection reached the upstream");

	fd = cli(p_open);
	CHECK(write_all(fd, "ping", 4) == 0 && shutdown(fd, SHUT_WR) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf), &err);
	CHECK(err == 0 && n == 9 && memcmp(buf, "ping<EOF>", 9) == 0,
	      "enforce false: %zd bytes, %s", n, strerror(err));
	close(fd);
	line = log_wait(want, "\"policy\":\"none\"");
	CHECK(strstr(line, "\"verdict\":\"allow\"") && strstr(line, "\"bytes_in\":4,\"bytes\":9,"),
	      "open line: %s", line);
	free(line);
	printf("enforce true (L4 deny, HTTP-only ALLOW) / false ok\n");
}

/* An http listener with enforce false allows what the policy denies. */
static void test_http_enforce(void)
{
	static const char req[] = "POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n"
				  "Connection: close\r\n\r\nhi";
	char buf[4096];
	int fd, err;
	ssize_t n;

	fd = cli(p_http_enf);
	CHECK(write_all(fd, req, sizeof(req) - 1) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf) - 1, &err);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(buf, "HTTP/1.1 403 ", 13) == 0, "enforced POST: %s", buf);
	fd = cli(p_http_open);
	CHECK(write_all(fd, req, sizeof(req) - 1) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf) - 1, &err);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strstr(buf, "POST /x len=2"),
	      "unenforced POST: %s", buf);
	free(log_wait(
		"\"method\":\"POST\",\"path\":\"/x\",\"verdict\":\"allow\",\"policy\":\"none\"",
		NULL));
	printf("http listener enforce false ok\n");
}

static void test_metrics(void)
{
	char *m = http_get_admin("/metrics");

	CHECK(strstr(m, "shunt_proxy_tcp_connections_total{verdict=\"deny\"} 1\n") &&
		      strstr(m, "shunt_proxy_tcp_connections_total{verdict=\"error\"} 1\n") &&
		      strstr(m, "shunt_proxy_tcp_spliced_total 0\n") &&
		      strstr(m, "shunt_proxy_tcp_spliced_bytes_total 0\n"),
	      "metrics:\n%s", m);
	CHECK(!strstr(m, "shunt_proxy_tcp_connections_total{verdict=\"allow\"} 0\n"),
	      "no allowed tcp connection counted:\n%s", m);
	printf("metrics ok\n");
}

/* A reload turns the http listener "web" into a tcp one on the same socket. */
static void test_reload_mode(void)
{
	char buf[256];
	size_t mark;
	ssize_t n;
	int fd, err;

	fd = cli(p_web);
	CHECK(write_all(fd, "hello\r\n\r\n", 9) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf) - 1, &err);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0, "http listener: %s", buf);
	write_config(true);
	mark = pt_proc_mark(&px);
	kill(px.pid, SIGHUP);
	CHECK(pt_proc_wait_log(&px, mark, "reloaded", IO_TIMEOUT_MS), "no reload");
	fd = cli(p_web);
	CHECK(write_all(fd, "hello\r\n\r\n", 9) == 0 && shutdown(fd, SHUT_WR) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf) - 1, &err);
	close(fd);
	CHECK(err == 0 && n == 14 && memcmp(buf, "hello\r\n\r\n<EOF>", 14) == 0,
	      "tcp after reload: %zd bytes, %s", n, strerror(err));
	printf("reload http -> tcp ok\n");
}

/* SIGTERM drains: a live relay keeps working until its sides are done, then
 * the proxy exits cleanly. */
static void test_drain(void)
{
	char buf[64];
	size_t mark = pt_proc_mark(&px);
	int fd = cli(p_relay), err, st;
	ssize_t n;

	CHECK(write_all(fd, "a", 1) == 0 && read(fd, buf, 1) == 1, "relay before SIGTERM");
	kill(px.pid, SIGTERM);
	CHECK(pt_proc_wait_log(&px, mark, "draining (1 connections)", IO_TIMEOUT_MS),
	      "no drain with the relay counted");
	CHECK(write_all(fd, "bc", 2) == 0 && shutdown(fd, SHUT_WR) == 0, "send");
	n = read_to_eof(fd, buf, sizeof(buf), &err);
	CHECK(err == 0 && n == 7 && memcmp(buf, "bc<EOF>", 7) == 0, "relay while draining: %zd", n);
	close(fd);
	st = pt_proc_reap(&px);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	printf("drain ok\n");
}

int main(int argc, char **argv)
{
	pt_main_start(argc, argv, &proxy_bin, "shunt-proxy-tcp", tmpdir, sizeof(tmpdir), cfg_path,
		      sizeof(cfg_path), log_path, sizeof(log_path));
	atexit(cleanup);
	srv_start(&echo4, "127.0.0.4", SRV_ECHO);
	srv_start(&sink4, "127.0.0.4", SRV_SINK);
	srv_start(&echo2, "127.0.0.2", SRV_ECHO);
	CHECK(us_start(&http_up, "127.0.0.2") == 0, "http upstream on 127.0.0.2");
	p_relay = pt_free_port("127.0.0.1");
	p_sink = pt_free_port("127.0.0.1");
	p_refused = pt_free_port("127.0.0.1");
	p_denied = pt_free_port("127.0.0.1");
	p_open = pt_free_port("127.0.0.1");
	p_web = pt_free_port("127.0.0.1");
	p_http_enf = pt_free_port("127.0.0.1");
	p_http_open = pt_free_port("127.0.0.1");
	p_admin = pt_free_port("127.0.0.1");
	p_closed = pt_free_port("127.0.0.4");
	write_config(false);
	proxy_start();
	test_big_echo();
	test_upstream_half_close();
	test_refused();
	test_enforce();
	test_http_enforce();
	test_metrics();
	test_reload_mode();
	test_drain();
	srv_stop(&echo4);
	srv_stop(&sink4);
	srv_stop(&echo2);
	us_stop(http_up);
	return 0;
}
