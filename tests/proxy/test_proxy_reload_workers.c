// SPDX-License-Identifier: Apache-2.0
/*
 * shunt-proxy applies a new worker count and a new admin address on SIGHUP
 * (issue 5), end to end on loopback: the real binary (argv[1]) in front of
 * the in-process upstream of upstream_server.c.
 *
 *  - workers 1 -> 3 -> 1 -> 3 -> 1 (proxy.workers) under continuous load:
 *    threads making requests on new connections and on keep-alive ones; no
 *    request fails, the shunt_proxy_workers gauge follows, new workers serve
 *    socket sets of their own, retiring ones hand theirs over (the number of
 *    listening sockets never drops: none is closed, so no queued connection
 *    is reset) and are joined; the allow counter and the access log count
 *    exactly the requests answered, those of retired workers included.
 *  - the admin listener moved by a reload: the new address answers, the old
 *    one refuses; a reload to an address already in use keeps the old one
 *    (and the rest of the config applies); the next reload retries.
 *  - --workers pins the count: proxy.workers changes are ignored (warned).
 *
 * A request on a keep-alive connection the proxy closed before answering it
 * (nothing of a response received) is sent again on a new connection, as
 * HTTP clients do (RFC 9112, 9.3.1): a retiring worker closes its idle
 * keep-alive connections. Counted and printed; anything else is a failure.
 * Synchronisation: the proxy's stderr lines and /metrics, polled with a
 * deadline.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "proxy_testlib.h"
#include "upstream_server.h"

#define IO_MS	    10000
#define N_LOAD	    4
#define PER_RELOAD  150 /* requests answered between two reloads */
#define KEEP_ALIVES 20	/* requests per keep-alive connection */

static const char *proxy_bin;
static char tmpdir[256], cfg_path[300], log_path[300];
static uint16_t port_main, port_extra, port_admin[3];
static struct us_server *up;
static struct pt_proc px = PT_PROC_INIT;

static void cleanup(void)
{
	pt_proc_kill(&px);
	pt_workdir_remove(tmpdir, cfg_path, log_path);
}

/* extra: also a listener on port_extra */
static void write_config_x(unsigned workers, uint16_t admin, bool extra)
{
	char buf[4096], tmp[400], xl[160] = "";
	FILE *f;

	if (extra)
		snprintf(xl, sizeof(xl),
			 ", {\"name\": \"extra\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
			 "\"127.0.0.2:%u\"}",
			 port_extra, us_port(up));

	snprintf(buf, sizeof(buf),
		 "{\n"
		 " \"workloads\": [\n"
		 "  {\"name\": \"client\", \"namespace\": \"default\", \"addresses\": "
		 "[\"127.0.0.1\"]},\n"
		 "  {\"name\": \"backend\", \"namespace\": \"default\", \"labels\": {\"app\": "
		 "\"backend\"}, \"addresses\": [\"127.0.0.2\"]}],\n"
		 " \"authorizationPolicies\": [\n"
		 "  {\"metadata\": {\"name\": \"backend-allow\", \"namespace\": \"default\"},\n"
		 "   \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"backend\"}}, "
		 "\"action\": \"ALLOW\",\n"
		 "    \"rules\": [{\"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": "
		 "[\"/public/*\"]}}]}]}}],\n"
		 " \"proxy\": {\n"
		 "  \"workers\": %u,\n"
		 "  \"listeners\": [{\"name\": \"main\", \"address\": \"127.0.0.1:%u\", "
		 "\"upstream\": \"127.0.0.2:%u\"}%s],\n"
		 "  \"admin\": \"127.0.0.1:%u\",\n"
		 "  \"accessLog\": \"%s\"}\n"
		 "}\n",
		 workers, port_main, us_port(up), xl, admin, log_path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg_path);
	f = fopen(tmp, "w");
	CHECK(f && fputs(buf, f) >= 0 && fclose(f) == 0, "write %s", tmp);
	CHECK(rename(tmp, cfg_path) == 0, "rename");
}

static void write_config(unsigned workers, uint16_t admin)
{
	write_config_x(workers, admin, false);
}

static void proxy_start(const char *extra)
{
	pt_proxy_start(&px, proxy_bin, cfg_path, extra, IO_MS);
}

/* Reap the proxy (SIGTERM sent); it must exit 0. */
static void proxy_stop_wait(void)
{
	int st;

	st = pt_proc_reap(&px);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) /* e.g. LeakSanitizer's report */
		pt_proc_dump_log(&px, 0, 8192);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "proxy exit status %d", st);
}

static void proxy_stop(void)
{
	kill(px.pid, SIGTERM);
	proxy_stop_wait();
}

static void expect_log(size_t from, const char *s)
{
	if (!pt_proc_wait_log(&px, from, s, IO_MS)) {
		pt_proc_dump_log(&px, from, 8192);
		CHECK(0, "no log line \"%s\"", s);
	}
}

/* SIGHUP; returns the log mark from before it. */
static size_t reload(void)
{
	size_t mark = pt_proc_mark(&px);

	CHECK(kill(px.pid, SIGHUP) == 0, "SIGHUP");
	expect_log(mark, "reloaded ");
	return mark;
}

static void ms_sleep_poll(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};

	nanosleep(&ts, NULL); /* polling interval, not synchronisation */
}

/* ---- a small HTTP/1.1 client ---- */

/* One response (Content-Length framing) on fd into buf. Returns the status,
 * 0 if the connection ended (EOF/reset) before any byte of it, -1 on any
 * other problem (partial response, timeout); *body points into buf. */
static int read_response(int fd, char *buf, size_t cap, const char **body, size_t *body_len)
{
	size_t len = 0, need = 0;
	char *end = NULL;
	int status = -1;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, IO_MS) != 1)
			return -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			return len == 0 && (n == 0 || errno == ECONNRESET) ? 0 : -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (!end) {
			const char *cl;

			end = strstr(buf, "\r\n\r\n");
			if (!end)
				continue;
			if (sscanf(buf, "HTTP/1.1 %d ", &status) != 1)
				return -1;
			cl = strcasestr(buf, "\r\ncontent-length:");
			if (!cl || cl > end)
				return -1;
			need = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
			if (need >= cap)
				return -1;
		}
		if (len >= need) {
			*body = end + 4;
			*body_len = need - (size_t)(end + 4 - buf);
			return len == need ? status : -1;
		}
	}
}

/* ---- load ---- */

static atomic_bool load_stop;
static atomic_ulong load_ok, load_failed, load_retried;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_err[256];

static void load_fail(const char *fmt, int id, unsigned long n, int e)
{
	pthread_mutex_lock(&err_lock);
	if (!first_err[0]) {
		int k = snprintf(first_err, sizeof(first_err), "thread %d request %lu: ", id, n);

		snprintf(first_err + k, sizeof(first_err) - (size_t)k, fmt, e);
	}
	pthread_mutex_unlock(&err_lock);
	atomic_fetch_add(&load_failed, 1);
}

/* Even threads: keep-alive connections (KEEP_ALIVES requests each); odd
 * threads: one request per connection. Every answer is checked. */
static void *load_main(void *arg)
{
	int id = (int)(intptr_t)arg, fd = -1, on_conn = 0;
	bool keep = id % 2 == 0;
	unsigned long n = 0;
	char req[128], want[96], buf[1024];

	while (!atomic_load(&load_stop)) {
		const char *body;
		size_t blen;
		int rl, wl, st;

		if (fd < 0) {
			fd = pt_connect_from(NULL, port_main);
			if (fd < 0) {
				load_fail("connect: %d", id, n, -fd);
				fd = -1;
				continue;
			}
			on_conn = 0;
		}
		rl = snprintf(req, sizeof(req), "GET /public/r/%d/%lu HTTP/1.1\r\nHost: b\r\n\r\n",
			      id, n);
		wl = snprintf(want, sizeof(want), "GET /public/r/%d/%lu len=0 ", id, n);
		st = pt_send_all(fd, req, (size_t)rl)
			     ? 0
			     : read_response(fd, buf, sizeof(buf), &body, &blen);
		if (st == 200 && blen >= (size_t)wl && memcmp(body, want, (size_t)wl) == 0) {
			atomic_fetch_add(&load_ok, 1);
			n++;
			on_conn++;
			if (!keep || on_conn >= KEEP_ALIVES) {
				close(fd);
				fd = -1;
			}
			continue;
		}
		close(fd);
		fd = -1;
		if (st == 0 && on_conn > 0) {
			/* a reused connection closed before any answer: send again */
			atomic_fetch_add(&load_retried, 1);
			continue;
		}
		if (st == 0)
			load_fail("new connection closed without an answer%.0d", id, n, 0);
		else if (st == 200)
			load_fail("wrong body%.0d", id, n, 0);
		else
			load_fail("status %d", id, n, st);
		n++;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Wait until the load answered `more` requests more than now. */
static void load_progress(unsigned long more, const char *when)
{
	unsigned long target = atomic_load(&load_ok) + more;
	uint64_t deadline = pt_now_ms() + IO_MS;

	while (atomic_load(&load_ok) < target) {
		CHECK(pt_now_ms() < deadline, "%s: load stalled at %lu (want %lu, %lu failed: %s)",
		      when, atomic_load(&load_ok), target, atomic_load(&load_failed), first_err);
		ms_sleep_poll();
	}
}

/* ---- admin ---- */

/* GET /metrics on the admin port; the value of the line starting with
 * `name ` (-1 if absent), -2 if the connection failed (errno_out). */
static long long metric(uint16_t port, const char *name, int *errno_out)
{
	static const char rq[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
	static char buf[1 << 16];
	char key[128];
	const char *body, *p;
	size_t blen;
	int fd = pt_connect_from(NULL, port), st;

	if (errno_out)
		*errno_out = fd < 0 ? -fd : 0;
	if (fd < 0)
		return -2;
	st = pt_send_all(fd, rq, sizeof(rq) - 1)
		     ? -1
		     : read_response(fd, buf, sizeof(buf), &body, &blen);
	close(fd);
	CHECK(st == 200, "GET /metrics on %u: %d", port, st);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(buf, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void wait_metric(uint16_t port, const char *name, long long want)
{
	uint64_t deadline = pt_now_ms() + IO_MS;
	long long v;

	while ((v = metric(port, name, NULL)) != want) {
		CHECK(pt_now_ms() < deadline, "%s is %lld, want %lld", name, v, want);
		ms_sleep_poll();
	}
}

/* Listening sockets on 127.0.0.1:port (this network namespace). */
static int listening_sockets(uint16_t port)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/net/tcp", "re");
	int n = 0;

	CHECK(f, "/proc/net/tcp");
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64], st[8];

		if (sscanf(line, " %*[^:]: %63s %63s %7s", local, remote, st) == 3 &&
		    strcmp(local, want) == 0 && strcmp(st, "0A") == 0)
			n++;
	}
	fclose(f);
	return n;
}

static void wait_listening(int want, unsigned from, unsigned to)
{
	uint64_t deadline = pt_now_ms() + IO_MS;

	while (listening_sockets(port_main) != want) {
		CHECK(pt_now_ms() < deadline && listening_sockets(port_main) <= want,
		      "%d listening sockets after %u -> %u (want %d)", listening_sockets(port_main),
		      from, to, want);
		ms_sleep_poll();
	}
}

static unsigned long access_log_lines(const char *needle)
{
	char line[2048];
	unsigned long n = 0;
	FILE *f = fopen(log_path, "re");

	CHECK(f, "open %s", log_path);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* ---- tests ---- */

static void set_workers(unsigned from, unsigned to, int cycle)
{
	char want[96];
	size_t mark;

	write_config(to, port_admin[0]);
	mark = reload();
	snprintf(want, sizeof(want), "reload: workers %u -> %u", from, to);
	expect_log(mark, want);
	wait_metric(port_admin[0], "shunt_proxy_workers", to);
	if (to > from) {
		for (unsigned i = from; i < to; i++) {
			/* the first time a fresh set; then the set worker i had */
			snprintf(want, sizeof(want),
				 "worker %u: serving socket set %u (%d socket(s)", i, i,
				 cycle == 0 ? 0 : 1);
			expect_log(mark, want);
		}
	} else {
		for (unsigned i = to; i < from; i++) {
			snprintf(want, sizeof(want),
				 "worker %u: handed socket set %u over (1 socket", i, i);
			expect_log(mark, want);
			snprintf(want, sizeof(want),
				 "worker %u: serving socket set %u (1 socket(s)", i % to, i);
			expect_log(mark, want);
			snprintf(want, sizeof(want), "worker %u: retired", i);
			expect_log(mark, want);
		}
		wait_metric(port_admin[0], "shunt_proxy_workers_retiring", 0);
	}
	/* three sockets: a fresh set is opened by its worker after the log
	 * line; none is ever closed (the sets only move) */
	wait_listening(3, from, to);
	load_progress(PER_RELOAD, want);
	printf("  workers %u -> %u under load: ok (%lu answered so far)\n", from, to,
	       atomic_load(&load_ok));
}

/*
 * Connections the kernel queued while the proxy could not accept (stopped),
 * on every socket of the 3 sets and on a listener the same reload removes:
 * then a reload to 1 worker without that listener. Each is answered, whether
 * a retiring worker accepted it before handing its set over, or the worker
 * that took the set over did (its accept queue moves with it), or the removed
 * listener's queue was emptied before its close.
 */
#define N_QUEUED 24
static void queued_across_reload(void)
{
	int fds[N_QUEUED + 1], st;
	char req[96], want[96], buf[1024];
	const char *body;
	size_t blen, mark;

	write_config_x(3, port_admin[0], true);
	mark = reload();
	expect_log(mark, "reload: workers 1 -> 3");
	wait_metric(port_admin[0], "shunt_proxy_workers", 3);
	wait_listening(3, 1, 3);
	CHECK(kill(px.pid, SIGSTOP) == 0, "SIGSTOP");
	CHECK(waitpid(px.pid, &st, WUNTRACED) == px.pid && WIFSTOPPED(st), "proxy not stopped");
	for (int i = 0; i <= N_QUEUED; i++) {
		int n = snprintf(req, sizeof(req), "GET /public/q/%d HTTP/1.1\r\nHost: b\r\n\r\n",
				 i);

		/* the handshake completes in the kernel: queued on a listener */
		fds[i] = pt_connect_from(NULL, i == N_QUEUED ? port_extra : port_main);
		CHECK(fds[i] >= 0, "connect %d while stopped: %s", i, strerror(-fds[i]));
		CHECK(pt_send_all(fds[i], req, (size_t)n) == 0, "send %d", i);
	}
	write_config_x(1, port_admin[0], false);
	mark = pt_proc_mark(&px);
	CHECK(kill(px.pid, SIGHUP) == 0 && kill(px.pid, SIGCONT) == 0, "SIGHUP + SIGCONT");
	for (int i = 0; i <= N_QUEUED; i++) {
		int wl = snprintf(want, sizeof(want), "GET /public/q/%d len=0 ", i);

		st = read_response(fds[i], buf, sizeof(buf), &body, &blen);
		CHECK(st == 200 && blen >= (size_t)wl && memcmp(body, want, (size_t)wl) == 0,
		      "connection %d queued across the reload: status %d", i, st);
		close(fds[i]);
	}
	expect_log(mark, "reload: workers 3 -> 1");
	expect_log(mark, "worker 1: retired");
	expect_log(mark, "worker 2: retired");
	wait_metric(port_admin[0], "shunt_proxy_workers", 1);
	wait_listening(3, 3, 1);
	CHECK(pt_connect_from(NULL, port_extra) == -ECONNREFUSED, "removed listener still open");
	printf("%d connections queued on the sockets of a 3 -> 1 reload (and 1 on a listener it "
	       "removed): all answered\n",
	       N_QUEUED);
}

static void test_workers_reload(void)
{
	pthread_t t[N_LOAD];
	unsigned long ok;
	uint64_t deadline;

	write_config(1, port_admin[0]);
	proxy_start(NULL);
	CHECK(metric(port_admin[0], "shunt_proxy_workers", NULL) == 1, "1 worker at start");
	CHECK(listening_sockets(port_main) == 1, "one listening socket at start");
	for (int i = 0; i < N_LOAD; i++)
		CHECK(pthread_create(&t[i], NULL, load_main, (void *)(intptr_t)i) == 0, "thread");
	load_progress(PER_RELOAD, "before the reloads");
	set_workers(1, 3, 0);
	set_workers(3, 1, 0);
	set_workers(1, 3, 1);
	set_workers(3, 1, 1);
	atomic_store(&load_stop, true);
	for (int i = 0; i < N_LOAD; i++)
		pthread_join(t[i], NULL);
	ok = atomic_load(&load_ok);
	CHECK(atomic_load(&load_failed) == 0, "%lu of %lu requests failed; first: %s",
	      atomic_load(&load_failed), ok + atomic_load(&load_failed), first_err);
	queued_across_reload();
	ok += N_QUEUED + 1;
	/* every answered request is counted and logged once, by whichever
	 * worker (retired or not) answered it */
	deadline = pt_now_ms() + IO_MS;
	while (metric(port_admin[0], "shunt_proxy_requests_total{verdict=\"allow\"}", NULL) !=
	       (long long)ok) {
		CHECK(pt_now_ms() < deadline, "allow counter %lld, %lu answered",
		      metric(port_admin[0], "shunt_proxy_requests_total{verdict=\"allow\"}", NULL),
		      ok);
		ms_sleep_poll();
	}
	CHECK(access_log_lines("\"/public/") == ok, "access log: %lu lines, %lu answered",
	      access_log_lines("\"/public/"), ok);
	printf("workers 1 -> 3 -> 1 -> 3 -> 1 under load: %lu requests, 0 failed, %lu resent "
	       "after a keep-alive close; counters and access log complete: ok\n",
	       ok, atomic_load(&load_retried));
}

static void test_admin_reload(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port_admin[2])};
	char want[160];
	size_t mark;
	int fd, e, one = 1;
	long long gen;

	/* moved: the new address answers, the old one refuses */
	write_config(1, port_admin[1]);
	mark = reload();
	snprintf(want, sizeof(want),
		 "reload: admin listener moved from 127.0.0.1:%u to 127.0.0.1:%u", port_admin[0],
		 port_admin[1]);
	expect_log(mark, want);
	CHECK(metric(port_admin[1], "shunt_proxy_workers", NULL) == 1, "new admin address");
	CHECK(metric(port_admin[0], "shunt_proxy_workers", &e) == -2 && e == ECONNREFUSED,
	      "old admin address still answers (errno %d)", e);

	/* an address in use: the running admin listener stays */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0,
	      "hold 127.0.0.1:%u", port_admin[2]);
	gen = metric(port_admin[1], "shunt_proxy_config_generation", NULL);
	write_config(1, port_admin[2]);
	mark = reload();
	snprintf(want, sizeof(want),
		 "reload: admin listener 127.0.0.1:%u: cannot listen: address already in use; "
		 "keeping the admin listener 127.0.0.1:%u",
		 port_admin[2], port_admin[1]);
	expect_log(mark, want);
	CHECK(metric(port_admin[1], "shunt_proxy_config_generation", NULL) == gen + 1,
	      "the rest of the config did not apply");
	close(fd);
	/* the next reload tries again (the running address is what counts) */
	mark = reload();
	snprintf(want, sizeof(want),
		 "reload: admin listener moved from 127.0.0.1:%u to 127.0.0.1:%u", port_admin[1],
		 port_admin[2]);
	expect_log(mark, want);
	CHECK(metric(port_admin[2], "shunt_proxy_config_generation", NULL) == gen + 2,
	      "admin on its retried address");
	CHECK(metric(port_admin[1], "shunt_proxy_workers", &e) == -2 && e == ECONNREFUSED,
	      "previous admin address still answers (errno %d)", e);
	proxy_stop();
	printf("admin address: moved, in use (kept), retried: ok\n");
}

/* One request on a new connection; its status (0/-1 as read_response). */
static int get_once(const char *path)
{
	char req[128], buf[1024];
	const char *body;
	size_t blen;
	int fd = pt_connect_from(NULL, port_main), n, st;

	CHECK(fd >= 0, "connect: %s", strerror(-fd));
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", path);
	st = pt_send_all(fd, req, (size_t)n) ? -1
					     : read_response(fd, buf, sizeof(buf), &body, &blen);
	close(fd);
	return st;
}

/* N_GATED requests held by the upstream (/public/gate) on new connections. */
#define N_GATED 6
static void gated_send(int *fds)
{
	unsigned long base = us_requests(up);
	static const char rq[] = "GET /public/gate HTTP/1.1\r\nHost: b\r\n\r\n";

	for (int i = 0; i < N_GATED; i++) {
		fds[i] = pt_connect_from(NULL, port_main);
		CHECK(fds[i] >= 0, "connect: %s", strerror(-fds[i]));
		CHECK(pt_send_all(fds[i], rq, sizeof(rq) - 1) == 0, "send gate %d", i);
	}
	CHECK(us_wait_requests(up, base + N_GATED, IO_MS) == 0, "gated requests not upstream");
}

static void gated_answered(int *fds, const char *when)
{
	char buf[1024];
	const char *body;
	size_t blen;

	us_gate_release(up);
	for (int i = 0; i < N_GATED; i++) {
		int st = read_response(fds[i], buf, sizeof(buf), &body, &blen);

		CHECK(st == 200 && blen >= 17 && memcmp(body, "GET /public/gate ", 17) == 0,
		      "%s: held request %d: status %d", when, i, st);
		close(fds[i]);
	}
}

/*
 * Requests in flight on workers that a reload retires: the count goes back
 * up while they still run (the new workers take the socket sets back and
 * serve), the held requests are answered; then the same with SIGTERM
 * arriving while workers retire: they finish, the proxy exits 0.
 */
static void test_regrow_while_retiring(void)
{
	int fds[N_GATED];
	size_t mark;

	write_config(3, port_admin[0]);
	proxy_start(NULL);
	wait_listening(3, 0, 3);
	gated_send(fds);
	write_config(1, port_admin[0]);
	mark = reload();
	expect_log(mark, "reload: workers 3 -> 1");
	write_config(3, port_admin[0]);
	mark = reload();
	expect_log(mark, "reload: workers 1 -> 3");
	expect_log(mark, "worker 1: serving socket set 1 (1 socket(s)");
	expect_log(mark, "worker 2: serving socket set 2 (1 socket(s)");
	wait_metric(port_admin[0], "shunt_proxy_workers", 3);
	wait_listening(3, 1, 3);
	for (int i = 0; i < 30; i++)
		CHECK(get_once("/public/regrow") == 200, "request %d after regrowing", i);
	gated_answered(fds, "regrown");
	wait_metric(port_admin[0], "shunt_proxy_workers_retiring", 0);

	gated_send(fds);
	write_config(1, port_admin[0]);
	mark = reload();
	expect_log(mark, "reload: workers 3 -> 1");
	mark = pt_proc_mark(&px);
	CHECK(kill(px.pid, SIGTERM) == 0, "SIGTERM");
	expect_log(mark, "worker 0: draining");
	gated_answered(fds, "SIGTERM while retiring");
	proxy_stop_wait();
	printf("workers regrown while retiring ones finish requests, SIGTERM while retiring: ok\n");
}

static void test_workers_pinned(void)
{
	size_t mark;

	write_config(3, port_admin[0]);
	proxy_start("--workers=2");
	CHECK(metric(port_admin[0], "shunt_proxy_workers", NULL) == 2, "--workers 2 at start");
	write_config(1, port_admin[0]);
	mark = reload();
	expect_log(mark, "reload: proxy.workers ignored: --workers 2 given at start");
	CHECK(metric(port_admin[0], "shunt_proxy_workers", NULL) == 2, "--workers 2 after reload");
	proxy_stop();
	printf("--workers pins the count: ok\n");
}

int main(int argc, char **argv)
{
	pt_main_start(argc, argv, &proxy_bin, "shunt-proxy-reload3", tmpdir, sizeof(tmpdir),
		      cfg_path, sizeof(cfg_path), log_path, sizeof(log_path));
	atexit(cleanup);
	CHECK(us_start(&up, "127.0.0.2") == 0, "upstream server on 127.0.0.2");
	port_main = pt_free_port("127.0.0.1");
	port_extra = pt_free_port("127.0.0.1");
	for (int i = 0; i < 3; i++)
		port_admin[i] = pt_free_port("127.0.0.1");
	test_workers_reload();
	test_admin_reload();
	test_regrow_while_retiring();
	test_workers_pinned();
	us_stop(up);
	return 0;
}
