// SPDX-License-Identifier: Apache-2.0
/*
 * Leak run: 100,000 requests through the real shunt-proxy (argv[1]) to the
 * in-process test upstream, then SIGTERM. Asserts:
 *  - every request got the answer its kind calls for (200 allowed, 403
 *    denied, 400 malformed) and exactly the allowed ones reached the upstream;
 *  - the proxy's open fds and RSS after 100k requests are not above what
 *    they were after 10k (small slack): nothing grows per request;
 *  - it exits 0 on SIGTERM, and its leak checker finds no definite or
 *    indirect leak: LeakSanitizer when the proxy is an ASan build (the
 *    SHUNT_SANITIZE build), valgrind --leak-check=full in the normal build
 *    when valgrind is installed (SHUNT_LEAK_VALGRIND=0 turns it off, =1
 *    requires it). SHUNT_LEAK_REQUESTS=N changes the count (default 100000).
 *
 * Each round of 100 requests mixes: one keep-alive connection with 80
 * pipelined requests (allowed GETs, POSTs with Content-Length and chunked
 * bodies, denied requests with and without a body to skip) ending in a
 * malformed request; 19 one-request connections (allowed and denied with
 * Connection: close, malformed, an unknown source, a client that closes
 * after its answer); and one client that disconnects in the middle of a head
 * (not counted). Synchronisation is by responses, EOF and waitpid only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "testutil.h"
#include "proxy_testlib.h"
#include "upstream_server.h"

#define IO_TIMEOUT_MS 20000
#define PER_ROUND     100
#define ALLOWED_ROUND 71 /* requests per round that must reach the upstream */

#define UNDER_ASAN    PT_UNDER_ASAN

static char tmpdir[256], cfg_path[300];
static struct pt_proc px = PT_PROC_INIT;
static uint16_t port;
static struct us_server *up;

static void cleanup(void)
{
	pt_proc_kill(&px);
	if (cfg_path[0])
		unlink(cfg_path);
	if (tmpdir[0])
		rmdir(tmpdir);
}

static void write_config(void)
{
	FILE *f = fopen(cfg_path, "w");

	CHECK(f, "open %s", cfg_path);
	fprintf(f,
		"{\"workloads\": ["
		" {\"name\": \"client\", \"serviceAccount\": \"client\", \"addresses\": "
		"[\"127.0.0.1\"]},"
		" {\"name\": \"backend\", \"labels\": {\"app\": \"backend\"}, \"addresses\": "
		"[\"127.0.0.2\"]}],"
		" \"authorizationPolicies\": ["
		" {\"metadata\": {\"name\": \"deny-admin\"}, \"spec\": {\"selector\": "
		"{\"matchLabels\": {\"app\": \"backend\"}}, \"action\": \"DENY\","
		"  \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/public/admin/*\"]}}]}]}},"
		" {\"metadata\": {\"name\": \"allow\"}, \"spec\": {\"selector\": {\"matchLabels\": "
		"{\"app\": \"backend\"}}, \"rules\": ["
		"  {\"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
		"[\"/public/*\"]}}]},"
		"  {\"from\": [{\"source\": {\"principals\": "
		"[\"cluster.local/ns/default/sa/client\"]}}],"
		"   \"to\": [{\"operation\": {\"methods\": [\"POST\"], \"paths\": "
		"[\"/upload/*\"]}}]}]}}],"
		" \"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1:%u\", \"upstream\": "
		"\"127.0.0.2:%u\"}]}}\n",
		port, us_port(up));
	CHECK(fclose(f) == 0, "write %s", cfg_path);
}

/* in the child, ASan build: LSan at exit; a small quarantine so RSS
 * reflects live memory */
static int asan_child_opts(void)
{
	const char *o = getenv("ASAN_OPTIONS");
	char opts[1024];

	snprintf(opts, sizeof(opts), "%s%sdetect_leaks=1:quarantine_size_mb=4", o ? o : "",
		 o && *o ? ":" : "");
	return setenv("ASAN_OPTIONS", opts, 1);
}

static void proxy_start(const char *bin, bool valgrind)
{
	char *vg_argv[] = {"valgrind",
			   "--leak-check=full",
			   "--show-leak-kinds=definite,indirect",
			   "--errors-for-leak-kinds=definite,indirect",
			   "--error-exitcode=99",
			   (char *)bin,
			   "--config",
			   cfg_path,
			   "--log-level",
			   "warn",
			   NULL};
	char *px_argv[] = {(char *)bin, "--config", cfg_path, "--log-level", "info", NULL};
	int err;

	px.max = 1 << 20; /* keep the start (listening) and the end (leak reports) */
	err = pt_proc_spawn(&px, valgrind ? vg_argv : px_argv, UNDER_ASAN ? asan_child_opts : NULL);
	CHECK(err == 0, "start %s: %s", bin, strerror(-err));
}

/* ---- /proc sampling ---- */

/* Connections the client closed are closed by the proxy when its loop gets
 * to them: poll the fd count (deadline) until it is at most `limit`. */
static int settled_fds(int limit)
{
	uint64_t deadline = pt_now_ms() + 10000;
	int n;

	while ((n = pt_count_fds(px.pid)) > limit && pt_now_ms() < deadline) {
		struct pollfd none;

		poll(&none, 0, 10); /* re-check a condition, with a deadline */
	}
	return n;
}

/* ---- client ---- */

static int connect_from(const char *src)
{
	int fd = pt_connect_from(src, port);

	CHECK(fd >= 0, "connect: %s", strerror(-fd));
	return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
	int err = pt_send_all(fd, p, len);

	CHECK(err == 0, "send: %s", strerror(-err));
}

struct reader {
	llhttp_t p;
	int status[128];
	int n;
};

static int rd_headers_complete(llhttp_t *p)
{
	struct reader *r = p->data;

	if (r->n < 128)
		r->status[r->n] = p->status_code;
	return 0;
}

static int rd_message_complete(llhttp_t *p)
{
	((struct reader *)p->data)->n++;
	return 0;
}

static llhttp_settings_t rd_settings;

/* Read until n responses arrived (and EOF too if want_eof). */
static void read_responses(int fd, struct reader *r, int n, bool want_eof)
{
	static char buf[1 << 16];

	while (r->n < n || want_eof) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;

		CHECK(poll(&pfd, 1, IO_TIMEOUT_MS) == 1, "timeout waiting for response %d of %d",
		      r->n + 1, n);
		got = recv(fd, buf, sizeof(buf), 0);
		if (got <= 0) {
			CHECK(want_eof && r->n >= n, "proxy closed after %d of %d responses", r->n,
			      n);
			return;
		}
		CHECK(llhttp_execute(&r->p, buf, (size_t)got) == HPE_OK, "bad response: %s",
		      llhttp_get_error_reason(&r->p));
	}
}

static void reader_init(struct reader *r)
{
	memset(r, 0, sizeof(*r));
	llhttp_init(&r->p, HTTP_RESPONSE, &rd_settings);
	r->p.data = r;
}

#define H11 " HTTP/1.1\r\nHost: backend\r\n\r\n"

static unsigned long n_requests, n_200, n_403, n_400;

static void expect(const struct reader *r, const int *want, int n, const char *what)
{
	CHECK(r->n == n, "%s: %d responses, want %d", what, r->n, n);
	for (int i = 0; i < n; i++) {
		CHECK(r->status[i] == want[i], "%s: response %d is %d, want %d", what, i,
		      r->status[i], want[i]);
		n_200 += want[i] == 200;
		n_403 += want[i] == 403;
		n_400 += want[i] == 400;
	}
	n_requests += (unsigned long)n;
}

/* One keep-alive connection: 4 pipelined batches of 20, then a malformed
 * request (400, closed by the proxy). */
static void keepalive_conn(unsigned round)
{
	static char batch[8192];
	int want[20], fd = connect_from(NULL);
	struct reader r;

	for (int b = 0; b < 4; b++) {
		size_t len = 0;
		int n = 0;

		for (int i = 0; i < 12; i++, n++) {
			len += (size_t)snprintf(batch + len, sizeof(batch) - len,
						"GET /public/r%u-%d-%d" H11, round, b, i);
			want[n] = 200;
		}
		for (int i = 0; i < 3; i++, n++) {
			len += (size_t)snprintf(batch + len, sizeof(batch) - len, "%s",
						i == 2 ? "GET /public/x/../admin/y" H11
						       : "GET /public/admin/x" H11);
			want[n] = 403;
		}
		for (int i = 0; i < 2; i++, n++) {
			len += (size_t)snprintf(batch + len, sizeof(batch) - len,
						"POST /upload/%d HTTP/1.1\r\nHost: backend\r\n"
						"Content-Length: 100\r\n\r\n%0100d",
						i, i);
			want[n] = 200;
		}
		len += (size_t)snprintf(
			batch + len, sizeof(batch) - len,
			"POST /upload/c HTTP/1.1\r\nHost: backend\r\n"
			"Transfer-Encoding: chunked\r\n\r\n"
			"5\r\nhello\r\n1a;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
		want[n++] = 200;
		/* denied with a body: skipped by its length, connection kept */
		len += (size_t)snprintf(batch + len, sizeof(batch) - len,
					"POST /private HTTP/1.1\r\nHost: backend\r\n"
					"Content-Length: 50\r\n\r\n%050d",
					b);
		want[n++] = 403;
		len += (size_t)snprintf(batch + len, sizeof(batch) - len, "DELETE /public/r" H11);
		want[n++] = 403;
		CHECK(n == 20 && len < sizeof(batch), "batch");
		reader_init(&r);
		send_all(fd, batch, len);
		read_responses(fd, &r, n, false);
		expect(&r, want, n, "keep-alive batch");
	}
	/* duplicate Content-Length: malformed, 400 and closed */
	reader_init(&r);
	send_all(fd,
		 "POST /upload/x HTTP/1.1\r\nHost: backend\r\nContent-Length: 1\r\n"
		 "Content-Length: 2\r\n\r\nab",
		 sizeof("POST /upload/x HTTP/1.1\r\nHost: backend\r\nContent-Length: 1\r\n"
			"Content-Length: 2\r\n\r\nab") -
			 1);
	read_responses(fd, &r, 1, true);
	want[0] = 400;
	expect(&r, want, 1, "malformed after keep-alive");
	close(fd);
}

/* One request on its own connection; want_eof: the proxy closes. */
static void single(const char *src, const char *req, int status, bool want_eof)
{
	int fd = connect_from(src);
	struct reader r;

	reader_init(&r);
	send_all(fd, req, strlen(req));
	read_responses(fd, &r, 1, want_eof);
	expect(&r, &status, 1, req);
	close(fd);
}

static void round_of_100(unsigned round)
{
	static const char *const malformed[] = {
		"GET /public/lf HTTP/1.1\nHost: backend\n\n",
		"GET /public/a%2Fb" H11,
		"POST /upload/te HTTP/1.1\r\nHost: backend\r\nContent-Length: 3\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	};
	char req[256];
	int fd;

	keepalive_conn(round); /* 81 requests */
	for (int i = 0; i < 8; i++) {
		snprintf(
			req, sizeof(req),
			"GET /public/c%u-%d HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n",
			round, i);
		single(NULL, req, 200, true);
	}
	for (int i = 0; i < 3; i++)
		single(NULL,
		       "GET /public/admin/c HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n",
		       403, true);
	for (int i = 0; i < 3; i++)
		single(NULL, malformed[i], 400, true);
	/* unknown source: POST needs the client principal */
	for (int i = 0; i < 2; i++)
		single("127.0.0.3",
		       "POST /upload/z HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n"
		       "Content-Length: 3\r\n\r\nabc",
		       403, true);
	/* keep-alive, the client closes after its answer */
	for (int i = 0; i < 3; i++)
		single(NULL, "GET /public/k" H11, 200, false);
	/* gone in the middle of a head, with a reset (not counted) */
	fd = connect_from(NULL);
	send_all(fd, "GET /public/half HTTP/1.1\r\nHos", 30);
	{
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

int main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] : NULL;
	const char *env_n = getenv("SHUNT_LEAK_REQUESTS");
	const char *env_vg = getenv("SHUNT_LEAK_VALGRIND");
	/* default: valgrind when installed (normal build), LSan in the ASan build */
	bool valgrind = env_vg ? !strcmp(env_vg, "1")
			       : !UNDER_ASAN && system("valgrind --version >/dev/null 2>&1") == 0;
	unsigned long total = env_n ? strtoul(env_n, NULL, 10) : 100000;
	unsigned rounds = (unsigned)(total / PER_ROUND), sample_round = rounds / 10;
	int fds0, fds10 = 0, fds100, st;
	long rss10 = 0, rss100;
	uint64_t t0;
	bool leak_checked = UNDER_ASAN || valgrind;

	CHECK(bin, "usage: %s SHUNT_PROXY", argv[0]);
	CHECK(rounds >= 10, "SHUNT_LEAK_REQUESTS must be at least %d", 10 * PER_ROUND);
	CHECK(!valgrind || UNDER_ASAN == 0, "valgrind needs the normal (non-ASan) build");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	llhttp_settings_init(&rd_settings);
	rd_settings.on_headers_complete = rd_headers_complete;
	rd_settings.on_message_complete = rd_message_complete;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/shunt-leak-XXXXXX");
	CHECK(mkdtemp(tmpdir), "mkdtemp");
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", tmpdir);
	CHECK(us_start(&up, "127.0.0.2") == 0, "upstream on 127.0.0.2");
	port = pt_free_port("127.0.0.1");
	write_config();
	proxy_start(bin, valgrind);
	if (!pt_proc_wait_log(&px, 0, valgrind ? "==" : "listening:", IO_TIMEOUT_MS)) {
		pt_proc_dump_log(&px, 0, 0);
		CHECK(0, "proxy did not start");
	}
	/* valgrind: warn level hides "listening:", wait for the port instead */
	if (valgrind) {
		uint64_t deadline = pt_now_ms() + 60000;

		for (;;) {
			struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				close(fd);
				break;
			}
			close(fd);
			CHECK(pt_now_ms() < deadline, "proxy under valgrind did not listen");
			poll(NULL, 0, 50); /* re-check a condition, with a deadline */
		}
	}
	fds0 = pt_count_fds(px.pid);
	printf("proxy pid %d: %d fds at start; %u rounds of %d requests (%s)\n", (int)px.pid, fds0,
	       rounds, PER_ROUND,
	       valgrind	    ? "valgrind"
	       : UNDER_ASAN ? "LeakSanitizer"
			    : "no leak checker");

	t0 = pt_now_ms();
	for (unsigned i = 1; i <= rounds; i++) {
		round_of_100(i);
		if (i == sample_round) {
			fds10 = settled_fds(fds0 + 16);
			rss10 = pt_status_kb(px.pid, "VmRSS");
			printf("after %lu requests: %d fds, RSS %ld kB (%.1f s)\n", n_requests,
			       fds10, rss10, (double)(pt_now_ms() - t0) / 1000);
		}
	}
	fds100 = settled_fds(fds10 + 2);
	rss100 = pt_status_kb(px.pid, "VmRSS");
	printf("after %lu requests: %d fds, RSS %ld kB (%.1f s, %.0f req/s)\n", n_requests, fds100,
	       rss100, (double)(pt_now_ms() - t0) / 1000,
	       (double)n_requests * 1000 / (double)(pt_now_ms() - t0 + 1));
	printf("answers: %lu 200, %lu 403, %lu 400; upstream saw %lu requests\n", n_200, n_403,
	       n_400, us_requests(up));

	CHECK(n_requests == (unsigned long)rounds * PER_ROUND, "%lu requests", n_requests);
	CHECK(us_requests(up) == (unsigned long)rounds * ALLOWED_ROUND,
	      "upstream saw %lu requests, %lu were allowed", us_requests(up),
	      (unsigned long)rounds * ALLOWED_ROUND);
	CHECK(fds10 <= fds0 + 16, "%d fds after 10%% of the run, %d at start", fds10, fds0);
	CHECK(fds100 <= fds10 + 2, "fds grow: %d after 10%%, %d at the end", fds10, fds100);
	/* 8 MiB over 90k requests is < 100 bytes per request */
	CHECK(rss100 <= rss10 + 8192 + rss10 / 8, "RSS grows: %ld kB after 10%%, %ld kB at the end",
	      rss10, rss100);

	kill(px.pid, SIGTERM);
	st = pt_proc_reap(&px);
	/* LSan reports and exits non-zero; valgrind exits 99 on a definite or
	 * indirect leak or any memory error */
	if (px.buf &&
	    (strstr(px.buf, "LeakSanitizer") || strstr(px.buf, "ERROR: AddressSanitizer"))) {
		pt_proc_dump_log(&px, 0, 0);
		CHECK(0, "leak report (above)");
	}
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		pt_proc_dump_log(&px, 0, 4000);
		CHECK(0, "proxy exit status %d (signal %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		      WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	us_stop(up);
	printf("%lu requests, no fd/RSS growth, clean exit%s\n", n_requests,
	       leak_checked ? ", no leak" : " (no leak checker in this build)");
	return 0;
}
