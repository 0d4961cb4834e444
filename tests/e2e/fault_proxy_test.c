// SPDX-License-Identifier: Apache-2.0
/*
 * Fault injection against the real shunt-proxy on loopback (issue 9), started
 * as root so that its default privilege drop (uid/gid 1337, no capabilities)
 * is what runs; every group also checks the proxy still is that user.
 *
 *   fault_proxy_test PATH/shunt-proxy [GROUP...]
 *   groups: privs accesslog upstream reload idle backpressure (default: all)
 *
 * privs        --user errors exit 2 (unknown user, malformed, not root asking
 *              for another user), --user root keeps root with a warning;
 *              the running proxy is 1337:1337 with CapEff/CapPrm/CapBnd 0 and
 *              no_new_privs, and SIGHUP still re-reads its (0644) config
 * accesslog    the access log, opened as root, belongs to 1337; disabling and
 *              re-enabling it and a logrotate (rename + SIGHUP) reopen it as
 *              1337 and the lines land in the right file
 * upstream     the upstream is stopped under load: 502/503 answers, each
 *              within 1.5 s (no hang), then restarted: 200s again
 * reload       SIGHUP with a broken config under load: 0 failed requests, the
 *              old policy still applies, the log says why (file:line:col);
 *              then a good config: the new policy applies
 * idle         10,000 concurrent keep-alive idle connections: proxy RSS growth
 *              bounded; slowloris clients get 408 at headerTimeoutMs; the
 *              maxConnections limit rejects the surplus; a normal client and
 *              an old idle connection are served meanwhile
 * backpressure a client pipelines requests for 16 MiB responses and does not
 *              read: the upstream's writes stall (the proxy stopped reading
 *              it), proxy RSS stays bounded; then the client reads all of it,
 *              byte-exact
 *
 * Root needed (exit 77 otherwise, 1 under CI=true). Everything is on
 * 127.0.0.1; the proxy dies with the test (PR_SET_PDEATHSIG).
 */
#include "testutil.h"

#include "../proxy/proxy_testlib.h"
#include "../proxy/upstream_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UNDER_ASAN PT_UNDER_ASAN

#define N_IDLE	   10000
#define N_SLOW	   5
#define MAX_CONNS  (N_IDLE + 40)
#define HEADER_MS  2000
#define BIG_SIZE   (16u << 20)
#define BIG_N	   8
#define MAX_BUF	   (1u << 20)
/* Measured: ~4 KiB per keep-alive connection after one request (40-41 MiB
 * for 10,000, half of them after a 5 KiB head: the connection, the parser's
 * initial head and path buffers; an idle connection holds no input buffer,
 * the upstream output buffer is the worker's). The bound (~5.7 KiB each)
 * catches a buffer kept while idle (without the trim: 98 MiB). */
#define RSS_IDLE_MB 56
#define RSS_BIG_MB  32

static const char *proxy_bin;
static char tmpdir[64], cfg_path[128];
static const char *access_log; /* proxy.accessLog in write_config(>= 0), or none */
static uint16_t port_main, port_big, port_admin, port_up, port_bigup;
static struct us_server *up;

/* ---- the proxy process and its log ---- */

static struct pt_proc px = PT_PROC_INIT;

static size_t log_mark(void)
{
	return pt_proc_mark(&px);
}

/* Wait (bounded) until the log after `from` contains s. */
static bool wait_log(size_t from, const char *s, int timeout_ms)
{
	return pt_proc_wait_log(&px, from, s, timeout_ms);
}

static void dump_log(void)
{
	pt_proc_dump_log(&px, 0, 4000);
}

/* In the child: become uid/gid 1337 holding CAP_NET_BIND_SERVICE in the
 * ambient set (what k8s runAsUser + capabilities.add gives a container). */
static int become_1337_with_net_bind(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	unsigned long long last = 63;

	for (unsigned long long i = 0; i <= last; i++)
		if (i != CAP_NET_BIND_SERVICE && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) &&
		    errno == EINVAL)
			break;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setresgid(1337, 1337, 1337) || setresuid(1337, 1337, 1337))
		return -1;
	d[0].effective = d[0].permitted = d[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &h, d))
		return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0);
}

static void proxy_start_as(const char *user, bool nonroot_cap);

static void proxy_start_user(const char *user)
{
	proxy_start_as(user, false);
}

static void proxy_start_as(const char *user, bool nonroot_cap)
{
	/* started as root without --user: the default drop to 1337:1337 */
	char *argv[] = {(char *)proxy_bin,	"--config",   cfg_path, "--log-level", "info",
			user ? "--user" : NULL, (char *)user, NULL};
	size_t mark = log_mark();
	int err = pt_proc_spawn(&px, argv, nonroot_cap ? become_1337_with_net_bind : NULL);

	CHECK(err == 0, "start %s: %s", proxy_bin, strerror(-err));
	if (!wait_log(mark, "listening:", 10000)) {
		dump_log();
		CHECK(0, "proxy did not start");
	}
}

static void proxy_start(void)
{
	proxy_start_user(NULL);
}

static void proxy_stop(void)
{
	int st;

	if (px.pid <= 0)
		return;
	kill(px.pid, SIGTERM);
	st = pt_proc_reap(&px);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		dump_log();
		CHECK(0, "proxy exit status %d", st);
	}
}

static void cleanup(void)
{
	char cmd[128];

	pt_proc_kill(&px);
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

/* the new file appears whole (rename), readable by the proxy's user: 0644 */
static void write_config(int variant)
{
	char tmp[160], buf[4096];
	FILE *f;

	if (variant < 0) {
		snprintf(buf, sizeof(buf),
			 "{\"proxy\": {\"listeners\": [{\"address\": \"127.0.0.1:%u\",\n"
			 "  \"upstream\": \"127.0.0.1:%u\"}],\n"
			 " \"limits\": {\"maxConections\": 5}}}\n",
			 port_main, port_up);
	} else {
		snprintf(buf, sizeof(buf),
			 "{\"workloads\": [{\"name\": \"backend\", \"labels\": {\"app\": "
			 "\"backend\"},\n"
			 "   \"addresses\": [\"127.0.0.1\"]}],\n"
			 " \"authorizationPolicies\": [{\"metadata\": {\"name\": \"allow\", "
			 "\"namespace\": \"default\"},\n"
			 "   \"spec\": {\"selector\": {\"matchLabels\": {\"app\": \"backend\"}}, "
			 "\"action\": \"ALLOW\",\n"
			 "    \"rules\": [{\"to\": [{\"operation\": {\"methods\": [\"GET\"], "
			 "\"paths\": [\"/public/*\"%s]}}]}]}}],\n"
			 " \"proxy\": {\"workers\": 2, %s%s%s\"listeners\": [\n"
			 "   {\"name\": \"main\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
			 "\"127.0.0.1:%u\"},\n"
			 "   {\"name\": \"big\", \"address\": \"127.0.0.1:%u\", \"upstream\": "
			 "\"127.0.0.1:%u\"}],\n"
			 "  \"admin\": \"127.0.0.1:%u\",\n"
			 "  \"limits\": {\"headerTimeoutMs\": %d, \"idleTimeoutMs\": 60000,\n"
			 "    \"connectTimeoutMs\": 1000, \"upstreamTimeoutMs\": 5000,\n"
			 "    \"maxConnections\": %d, \"maxBufferBytes\": %u}}}\n",
			 variant == 1 ? ", \"/private/*\"" : "",
			 access_log ? "\"accessLog\": \"" : "", access_log ? access_log : "",
			 access_log ? "\", " : "", port_main, port_up, port_big, port_bigup,
			 port_admin, HEADER_MS, MAX_CONNS, MAX_BUF);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg_path);
	f = fopen(tmp, "w");
	CHECK(f && fputs(buf, f) >= 0 && fclose(f) == 0, "write %s", tmp);
	CHECK(chmod(tmp, 0644) == 0 && rename(tmp, cfg_path) == 0, "rename");
}

/* ---- HTTP client ---- */

struct hc {
	int fd;
	size_t off, len;
	char buf[16384];
};

struct resp {
	int status;
	size_t clen, got;
	bool close; /* Connection: close */
};

typedef bool (*body_fn)(void *ctx, size_t off, const char *p, size_t n);

/* 0 = wait for data, 1 = readable, -ETIMEDOUT */
static int wait_readable(int fd, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint64_t t = pt_now_ms();
	int r;

	if (t >= deadline)
		return -ETIMEDOUT;
	r = poll(&pfd, 1, (int)(deadline - t));
	if (r == 0)
		return -ETIMEDOUT;
	return r < 0 ? -errno : 1;
}

static ssize_t hc_fill(struct hc *c, uint64_t deadline)
{
	ssize_t n;
	int r;

	if (c->off && c->off == c->len)
		c->off = c->len = 0;
	if (c->len == sizeof(c->buf)) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	r = wait_readable(c->fd, deadline);
	if (r < 0)
		return r;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0)
		return -errno;
	c->len += (size_t)n;
	return n;
}

/*
 * Read one response (Content-Length framed). 0, -EPIPE (connection closed
 * before a complete response), -ETIMEDOUT, -EPROTO (unparsable),
 * -EBADMSG (body check failed).
 */
static int hc_read(struct hc *c, struct resp *r, int timeout_ms, body_fn fn, void *ctx)
{
	uint64_t deadline = pt_now_ms() + (uint64_t)timeout_ms;
	char *end, *p;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	for (;;) {
		end = c->len > c->off ? memmem(c->buf + c->off, c->len - c->off, "\r\n\r\n", 4)
				      : NULL;
		if (end)
			break;
		if (c->len - c->off >= sizeof(c->buf) - 1)
			return -EPROTO;
		n = hc_fill(c, deadline);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return n == -ECONNRESET ? -EPIPE : (int)n;
	}
	p = c->buf + c->off;
	if (sscanf(p, "HTTP/1.%*d %d", &r->status) != 1)
		return -EPROTO;
	for (char *l = memmem(p, (size_t)(end + 2 - p), "\r\n", 2) + 2; l < end;) {
		char *eol = memmem(l, (size_t)(end + 2 - l), "\r\n", 2);

		if (strncasecmp(l, "content-length:", 15) == 0)
			r->clen = strtoull(l + 15, NULL, 10);
		else if (strncasecmp(l, "connection:", 11) == 0 &&
			 memmem(l, (size_t)(eol - l), "close", 5))
			r->close = true;
		l = eol + 2;
	}
	c->off = (size_t)(end + 4 - c->buf);
	while (r->got < r->clen) {
		size_t avail = c->len - c->off, take = r->clen - r->got;

		if (avail) {
			if (take > avail)
				take = avail;
			if (fn && !fn(ctx, r->got, c->buf + c->off, take))
				return -EBADMSG;
			r->got += take;
			c->off += take;
			continue;
		}
		c->off = c->len = 0;
		n = hc_fill(c, deadline);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return n == -ECONNRESET ? -EPIPE : (int)n;
	}
	return 0;
}

static int hc_get(struct hc *c, const char *path, struct resp *r, int timeout_ms)
{
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: backend\r\n\r\n", path);
	int err = pt_send_all(c->fd, req, (size_t)n);

	if (err)
		return -EPIPE;
	return hc_read(c, r, timeout_ms, NULL, NULL);
}

/* One request on a fresh connection; the status (or -errno). */
static int get_once(uint16_t port, const char *path)
{
	struct hc *c = calloc(1, sizeof(*c));
	struct resp r;
	int err;

	CHECK(c, "oom");
	c->fd = pt_connect_from(NULL, port);
	if (c->fd < 0) {
		err = c->fd;
		free(c);
		return err;
	}
	err = hc_get(c, path, &r, 5000);
	close(c->fd);
	free(c);
	return err ? err : r.status;
}

/* a counter from the admin /metrics text (sum over label sets), or -1 */
static long long metric(const char *name)
{
	struct hc *c = calloc(1, sizeof(*c));
	char req[] = "GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n";
	char *text = NULL;
	size_t len = 0;
	long long sum = -1;
	ssize_t n;

	CHECK(c, "oom");
	c->fd = pt_connect_from(NULL, port_admin);
	CHECK(c->fd >= 0, "admin connect");
	CHECK(pt_send_all(c->fd, req, sizeof(req) - 1) == 0, "admin send");
	for (;;) {
		text = realloc(text, len + 65536 + 1);
		CHECK(text, "oom");
		CHECK(wait_readable(c->fd, pt_now_ms() + 5000) == 1, "admin timeout");
		n = recv(c->fd, text + len, 65536, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t nl = strlen(name);

		if (strncmp(l, name, nl) == 0 && (l[nl] == ' ' || l[nl] == '{')) {
			char *sp = strchr(l, ' ');

			if (sum < 0)
				sum = 0;
			if (sp)
				sum += strtoll(sp + 1, NULL, 10);
		}
	}
	close(c->fd);
	free(c);
	free(text);
	return sum;
}

/* ---- privs ---- */

/* every thread of the proxy: uid/gid 1337, no capability, no_new_privs, no
 * bounding set beyond bnd_max */
static int check_task_privs(const char *status_path, unsigned long long bnd_max)
{
	char buf[4096];
	unsigned u[4] = {0}, g[4] = {0};
	unsigned long long eff = 1, prm = 1, bnd = 1, amb = 1;
	int nnp = -1;
	FILE *f = fopen(status_path, "re");

	if (!f)
		return 0; /* thread gone */
	while (fgets(buf, sizeof(buf), f)) {
		sscanf(buf, "Uid: %u %u %u %u", &u[0], &u[1], &u[2], &u[3]);
		sscanf(buf, "Gid: %u %u %u %u", &g[0], &g[1], &g[2], &g[3]);
		sscanf(buf, "CapEff: %llx", &eff);
		sscanf(buf, "CapPrm: %llx", &prm);
		sscanf(buf, "CapBnd: %llx", &bnd);
		sscanf(buf, "CapAmb: %llx", &amb);
		sscanf(buf, "NoNewPrivs: %d", &nnp);
	}
	fclose(f);
	for (int i = 0; i < 4; i++)
		CHECK(u[i] == 1337 && g[i] == 1337, "%s: uid/gid %u/%u, want 1337", status_path,
		      u[i], g[i]);
	CHECK(eff == 0 && prm == 0 && (bnd & ~bnd_max) == 0 && amb == 0,
	      "%s: caps eff %llx prm %llx bnd %llx amb %llx", status_path, eff, prm, bnd, amb);
	CHECK(nnp == 1, "%s: NoNewPrivs %d", status_path, nnp);
	return 1;
}

static void check_proxy_privs_bnd(unsigned long long bnd_max)
{
	char path[64], tpath[384];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)px.pid);
	d = opendir(path);
	CHECK(d, "open %s", path);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(tpath, sizeof(tpath), "%s/%s/status", path, de->d_name);
			n += check_task_privs(tpath, bnd_max);
		}
	closedir(d);
	CHECK(n >= 3, "%d threads, want the control thread + 2 workers", n);
}

static void check_proxy_privs(void)
{
	check_proxy_privs_bnd(0);
}

/* Run the proxy with --user USER (as uid run_as unless -1); its exit status. */
static int proxy_cli(const char *user, int run_as)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);
		if (run_as >= 0 &&
		    (setgroups(0, NULL) || setresgid((gid_t)run_as, (gid_t)run_as, (gid_t)run_as) ||
		     setresuid((uid_t)run_as, (uid_t)run_as, (uid_t)run_as)))
			_exit(126);
		execl(proxy_bin, proxy_bin, "--config", cfg_path, "--user", user, (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_cli(void)
{
	char path[64], buf[4096];
	unsigned uid = 1;
	size_t mark;
	FILE *f;

	CHECK(proxy_cli("shunt-no-such-user", -1) == 2, "--user unknown: exit 2");
	CHECK(proxy_cli("1337:", -1) == 2, "--user '1337:': exit 2");
	CHECK(proxy_cli("a:b:c", -1) == 2, "--user a:b:c: exit 2");
	CHECK(proxy_cli("1337", 65534) == 2, "not root, --user 1337: exit 2");
	CHECK(proxy_cli("0:0", 65534) == 2, "not root, --user 0:0: exit 2");
	/* --user root keeps root, with a warning */
	proxy_start_user("root");
	CHECK(wait_log(0, "running as root (no privilege drop)", 5000),
	      "no warning for --user root");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)px.pid);
	f = fopen(path, "re");
	CHECK(f, "open %s", path);
	while (fgets(buf, sizeof(buf), f))
		sscanf(buf, "Uid: %u", &uid);
	fclose(f);
	CHECK(uid == 0, "--user root: uid %u", uid);
	proxy_stop();
	/* started as 1337 with CAP_NET_BIND_SERVICE: binds, then no thread
	 * (the workers included) keeps it */
	mark = log_mark();
	proxy_start_as(NULL, true);
	CHECK(wait_log(mark, "capabilities: none in 3 thread(s)", 5000),
	      "no 'capabilities: none' line for a proxy started with net_bind_service");
	check_proxy_privs_bnd(1ULL << CAP_NET_BIND_SERVICE);
	CHECK(get_once(port_main, "/public/x") == 200, "proxy started as 1337 serves");
	proxy_stop();
	printf("cli: --user errors exit 2 (unknown, malformed, not root); --user root keeps root "
	       "with a warning; started as 1337 with net_bind_service, no thread keeps it\n");
}

static void test_privs(void)
{
	size_t mark = log_mark();

	check_proxy_privs();
	CHECK(wait_log(0, "privileges: uid 1337 gid 1337", 5000), "no privileges log line");
	CHECK(get_once(port_main, "/private/x") == 403, "policy v0 denies /private");
	/* SIGHUP re-reads the config as uid 1337 */
	write_config(1);
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "reloaded ", 5000), "reload as 1337 failed");
	CHECK(get_once(port_main, "/private/x") == 200, "policy v1 allows /private");
	write_config(0);
	mark = log_mark();
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "reloaded ", 5000), "reload back failed");
	check_proxy_privs();
	printf("privs: proxy runs as 1337:1337, no capabilities, no_new_privs, reloads ok\n");
}

/* ---- access log after the privilege drop (logrotate) ---- */

static bool file_has(const char *path, const char *s)
{
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	return strstr(buf, s) != NULL;
}

/* the access line is written when the response is complete: poll for it */
static bool wait_file_has(const char *path, const char *s, int timeout_ms)
{
	uint64_t deadline = pt_now_ms() + (uint64_t)timeout_ms;
	struct timespec ts = {0, 2000000};

	while (!file_has(path, s)) {
		if (pt_now_ms() > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static void reload_ok(const char *what)
{
	size_t mark = log_mark();

	write_config(0);
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "reloaded ", 5000), "reload (%s) not logged", what);
	CHECK(!wait_log(mark, "cannot open access log", 0), "reload (%s): %s", what,
	      "the access log could not be reopened");
}

static void check_owner(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	CHECK(st.st_uid == 1337 && st.st_gid == 1337, "%s belongs to %u:%u, not the run user", path,
	      (unsigned)st.st_uid, (unsigned)st.st_gid);
}

/* The proxy opens the access log as root, before it drops to 1337; SIGHUP
 * (logrotate, re-enable) reopens it as 1337: the file must be the run user's,
 * and the directory writable by it (documented). */
static void test_access_log(void)
{
	char dir[160], path[192], rotated[200];

	snprintf(dir, sizeof(dir), "%s/log", tmpdir);
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	CHECK(mkdir(dir, 0755) == 0 && chown(dir, 1337, 1337) == 0, "mkdir %s", dir);
	access_log = path;
	write_config(0);
	proxy_start();
	check_owner(path);
	CHECK(get_once(port_main, "/public/al-start") == 200, "request");
	CHECK(wait_file_has(path, "/public/al-start", 5000), "request not in the access log");
	/* disable, then enable the same (root-created) file as 1337 */
	access_log = NULL;
	reload_ok("access log off");
	CHECK(get_once(port_main, "/public/al-off") == 200, "request");
	access_log = path;
	reload_ok("access log on again");
	CHECK(get_once(port_main, "/public/al-on") == 200, "request");
	CHECK(wait_file_has(path, "/public/al-on", 5000), "no access line after re-enabling");
	CHECK(!file_has(path, "/public/al-off"), "logged while disabled");
	/* logrotate: move the file away, SIGHUP; the proxy creates a new one */
	CHECK(rename(path, rotated) == 0, "rename");
	reload_ok("after logrotate");
	CHECK(get_once(port_main, "/public/al-rotated") == 200, "request");
	CHECK(wait_file_has(path, "/public/al-rotated", 5000), "no access line after the rotate");
	check_owner(path);
	CHECK(!file_has(rotated, "/public/al-rotated"), "logged to the rotated file");
	CHECK(file_has(rotated, "/public/al-on"), "the rotated file lost its lines");
	access_log = NULL;
	write_config(0);
	proxy_stop();
	printf("accesslog: opened as root and owned by 1337; re-enabled and reopened after "
	       "logrotate as 1337\n");
}

/* ---- load generator (upstream, reload) ---- */

struct load {
	pthread_t th;
	atomic_bool stop;
	atomic_int phase; /* set by the test */
	/* [bucket][status]: bucket = the phase a request started AND ended in,
	 * or LOAD_STRADDLE when the test changed the phase while it was in
	 * flight (its outcome may be that of either phase) */
	atomic_ulong n[4][600];
	atomic_ulong errors[4];			      /* timeouts, unparsable, ... */
	atomic_ulong max_ms[4];			      /* slowest request */
	atomic_ulong streak200, streak5xx, streak503; /* consecutive */
	atomic_ulong total;
	const char *path;
};

#define LOAD_STRADDLE 3

static void *load_main(void *arg)
{
	struct load *l = arg;
	struct hc *c = calloc(1, sizeof(*c));
	unsigned long i = 0;

	CHECK(c, "oom");
	c->fd = -1;
	while (!atomic_load(&l->stop)) {
		int ph = atomic_load(&l->phase);
		char path[128];
		struct resp r;
		uint64_t t0;
		int err;

		if (c->fd < 0) {
			c->off = c->len = 0;
			c->fd = pt_connect_from(NULL, port_main);
			if (c->fd < 0) {
				atomic_fetch_add(&l->errors[ph], 1);
				continue;
			}
		}
		snprintf(path, sizeof(path), "%s%lu", l->path, i++);
		t0 = pt_now_ms();
		err = hc_get(c, path, &r, 4000);
		/* the test changes the phase before it injects the fault: a request
		 * that ends in the phase it started in saw only that phase */
		if (atomic_load(&l->phase) != ph)
			ph = LOAD_STRADDLE;
		if ((err == -EPIPE) && r.status == 0 && ph == 0) {
			/* never expected: a broken keep-alive connection before any fault */
			atomic_fetch_add(&l->errors[ph], 1);
		}
		if (err) {
			if (err != -EPIPE)
				atomic_fetch_add(&l->errors[ph], 1);
			else
				atomic_fetch_add(&l->n[ph][0], 1); /* connection closed */
			close(c->fd);
			c->fd = -1;
			continue;
		}
		uint64_t ms = pt_now_ms() - t0;
		unsigned long prev = atomic_load(&l->max_ms[ph]);

		while (ms > prev && !atomic_compare_exchange_weak(&l->max_ms[ph], &prev, ms))
			;
		if (r.status > 0 && r.status < 600)
			atomic_fetch_add(&l->n[ph][r.status], 1);
		atomic_fetch_add(&l->total, 1);
		if (r.status == 200) {
			atomic_fetch_add(&l->streak200, 1);
			atomic_store(&l->streak5xx, 0);
			atomic_store(&l->streak503, 0);
		} else {
			atomic_store(&l->streak200, 0);
			if (r.status >= 500)
				atomic_fetch_add(&l->streak5xx, 1);
			if (r.status == 503)
				atomic_fetch_add(&l->streak503, 1);
			else
				atomic_store(&l->streak503, 0);
		}
		if (r.close) {
			close(c->fd);
			c->fd = -1;
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

static bool wait_counter(atomic_ulong *v, unsigned long want, int timeout_ms)
{
	uint64_t deadline = pt_now_ms() + (uint64_t)timeout_ms;
	struct timespec ts = {0, 2000000};

	/* a bounded poll of a condition another thread advances */
	while (atomic_load(v) < want) {
		if (pt_now_ms() > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static void test_upstream(void)
{
	struct load *l = calloc(1, sizeof(*l));
	unsigned long straddled = 0;

	CHECK(l, "oom");
	l->path = "/public/up-";
	CHECK(pthread_create(&l->th, NULL, load_main, l) == 0, "thread");
	CHECK(wait_counter(&l->streak200, 50, 10000), "no 200s before the fault");
	/* kill the upstream: its listener and every connection go away */
	atomic_store(&l->phase, 1);
	us_stop(up);
	up = NULL;
	/* a request in flight when the upstream died may get a 502; after that,
	 * every connect is refused: 503 */
	CHECK(wait_counter(&l->streak503, 30, 10000), "no run of 503 after killing the upstream");
	atomic_store(&l->phase, 2);
	CHECK(us_start_port(&up, "127.0.0.1", port_up) == 0, "restart upstream on port %u",
	      port_up);
	CHECK(wait_counter(&l->streak200, 30, 10000), "no run of 200s after the restart");
	atomic_store(&l->stop, true);
	pthread_join(l->th, NULL);
	for (int ph = 0; ph < 4; ph++)
		for (int s = 1; s < 600; s++)
			if (atomic_load(&l->n[ph][s]) && s != 200 && s != 502 && s != 503)
				CHECK(0, "phase %d: unexpected status %d x%lu", ph, s,
				      atomic_load(&l->n[ph][s]));
	CHECK(atomic_load(&l->n[0][200]) >= 50 && atomic_load(&l->n[0][503]) == 0 &&
		      atomic_load(&l->n[0][502]) == 0 && atomic_load(&l->n[0][0]) == 0 &&
		      atomic_load(&l->errors[0]) == 0,
	      "before the fault: 200s only (%lu x 200, %lu x 502, %lu x 503, %lu closed)",
	      atomic_load(&l->n[0][200]), atomic_load(&l->n[0][502]), atomic_load(&l->n[0][503]),
	      atomic_load(&l->n[0][0]));
	for (int ph = 0; ph < 4; ph++)
		CHECK(atomic_load(&l->errors[ph]) == 0, "phase %d: %lu client errors (timeouts)",
		      ph, atomic_load(&l->errors[ph]));
	CHECK(atomic_load(&l->max_ms[1]) < 1500,
	      "a request took %lu ms while the upstream was down", atomic_load(&l->max_ms[1]));
	for (int s = 0; s < 600; s++)
		straddled += atomic_load(&l->n[LOAD_STRADDLE][s]);
	printf("upstream: %lu x 200, killed: %lu x 503 + %lu x 502 (slowest %lu ms), restarted: "
	       "%lu x 200 (+%lu x 503 before it listened), %lu in flight at a phase change\n",
	       atomic_load(&l->n[0][200]), atomic_load(&l->n[1][503]), atomic_load(&l->n[1][502]),
	       atomic_load(&l->max_ms[1]), atomic_load(&l->n[2][200]), atomic_load(&l->n[2][503]),
	       straddled);
	free(l);
}

static void test_reload(void)
{
	struct load *l = calloc(1, sizeof(*l));
	size_t mark = log_mark();
	unsigned long before;

	CHECK(l, "oom");
	l->path = "/public/rl-";
	CHECK(pthread_create(&l->th, NULL, load_main, l) == 0, "thread");
	CHECK(wait_counter(&l->total, 50, 10000), "no load");
	/* broken: unknown key in limits */
	write_config(-1);
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "keeping the running config", 5000), "no reload failure logged");
	/* the diagnostics are logged after that line */
	CHECK(wait_log(mark, "unknown key 'maxConections'", 5000), "the log does not say why");
	CHECK(wait_log(mark, "config.json:3:", 5000), "no file:line:col in the log");
	before = atomic_load(&l->total);
	CHECK(wait_counter(&l->total, before + 50, 10000), "load stalled after a broken reload");
	CHECK(get_once(port_main, "/private/x") == 403, "old policy must still deny /private");
	CHECK(get_once(port_main, "/public/x") == 200, "old policy must still allow /public");
	/* a good one */
	mark = log_mark();
	write_config(1);
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "reloaded ", 5000), "good reload not logged");
	CHECK(get_once(port_main, "/private/x") == 200, "new policy must allow /private");
	before = atomic_load(&l->total);
	CHECK(wait_counter(&l->total, before + 50, 10000), "load stalled after a good reload");
	atomic_store(&l->stop, true);
	pthread_join(l->th, NULL);
	for (int s = 0; s < 600; s++)
		if (s != 200)
			CHECK(atomic_load(&l->n[0][s]) == 0, "%lu requests failed with %d",
			      atomic_load(&l->n[0][s]), s);
	CHECK(atomic_load(&l->errors[0]) == 0, "%lu client errors", atomic_load(&l->errors[0]));
	write_config(0);
	mark = log_mark();
	kill(px.pid, SIGHUP);
	CHECK(wait_log(mark, "reloaded ", 5000), "reload back failed");
	printf("reload: broken config under load: %lu requests, 0 failed, old policy kept, "
	       "diagnostics logged; good config applied\n",
	       atomic_load(&l->total));
	free(l);
}

/* ---- 10,000 idle connections + slowloris ---- */

static void raise_nofile(rlim_t want)
{
	struct rlimit rl = {want, want};

	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
		CHECK(rl.rlim_max >= want, "RLIMIT_NOFILE hard limit %llu < %llu",
		      (unsigned long long)rl.rlim_max, (unsigned long long)want);
		rl.rlim_cur = want;
		CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
	}
}

static void test_idle(void)
{
	int *fds = calloc(N_IDLE, sizeof(int)), slow[N_SLOW], extra[40], n_rejected = 0;
	static const char head[] = "GET /public/slow HTTP/1.1\r\nHost: backend\r\nX-Slow: ";
	struct hc *c = calloc(1, sizeof(*c));
	long rss0, rss1, rss_slow;
	long long rejected0;
	uint64_t t0, t408[N_SLOW];
	int got408 = 0, status, n;
	char *big_req = malloc(8192);

	CHECK(fds && c && big_req, "oom");
	n = sprintf(big_req, "GET /public/idle/");
	memset(big_req + n, 'p', 700);
	n += 700;
	n += sprintf(big_req + n, " HTTP/1.1\r\nHost: backend\r\nX-Pad: ");
	memset(big_req + n, 'x', 4000);
	n += 4000;
	sprintf(big_req + n, "\r\n\r\n");
	rss0 = pt_status_kb(px.pid, "VmRSS");
	rejected0 = metric("shunt_proxy_connections_rejected_total");
	/* 10,000 keep-alive connections, each after one request: in batches, so the
	 * upstream (a small poll server) sees at most ~100 at once */
	t0 = pt_now_ms();
	for (int b = 0; b < N_IDLE; b += 100) {
		for (int i = b; i < b + 100; i++) {
			static const char req[] =
				"GET /public/idle HTTP/1.1\r\nHost: backend\r\n\r\n";

			fds[i] = pt_connect_from(NULL, port_main);
			CHECK(fds[i] >= 0, "connection %d: %s", i, strerror(-fds[i]));
			/* every other one with a large head: the parser's buffers
			 * grow for it and must shrink back once it is idle */
			if (i % 2)
				CHECK(pt_send_all(fds[i], big_req, strlen(big_req)) == 0, "send %d",
				      i);
			else
				CHECK(pt_send_all(fds[i], req, sizeof(req) - 1) == 0, "send %d", i);
		}
		for (int i = b; i < b + 100; i++) {
			struct resp r;

			c->fd = fds[i];
			c->off = c->len = 0;
			CHECK(hc_read(c, &r, 10000, NULL, NULL) == 0 && r.status == 200,
			      "idle connection %d: first request failed (status %d)", i, r.status);
		}
	}
	rss1 = pt_status_kb(px.pid, "VmRSS");
	printf("idle: %d keep-alive connections open in %llu ms; proxy RSS %ld -> %ld KiB (+%ld "
	       "KiB, %.0f B per connection)\n",
	       N_IDLE, (unsigned long long)(pt_now_ms() - t0), rss0, rss1, rss1 - rss0,
	       (double)(rss1 - rss0) * 1024.0 / N_IDLE);
	if (!UNDER_ASAN)
		CHECK(rss1 - rss0 < RSS_IDLE_MB * 1024, "proxy RSS grew by %ld KiB (> %d MiB)",
		      rss1 - rss0, RSS_IDLE_MB);
	CHECK(metric("shunt_proxy_connections_active") >= N_IDLE, "active connections metric");

	/* slowloris: a head that never ends, one byte at a time */
	for (int i = 0; i < N_SLOW; i++) {
		slow[i] = pt_connect_from(NULL, port_main);
		CHECK(slow[i] >= 0, "slowloris connect");
		CHECK(pt_send_all(slow[i], head, sizeof(head) - 1) == 0, "slowloris send");
		t408[i] = pt_now_ms();
	}
	/* the limit: MAX_CONNS - N_IDLE - N_SLOW more are accepted, the rest closed */
	for (int i = 0; i < 40; i++) {
		extra[i] = pt_connect_from(NULL, port_main);
		CHECK(extra[i] >= 0, "extra connect %d", i);
	}
	{
		/* a rejected connection is closed at once; an accepted one stays silent
		 * (until headerTimeoutMs) */
		struct pollfd pfd[40];
		uint64_t deadline = pt_now_ms() + 500;

		for (int i = 0; i < 40; i++)
			pfd[i] = (struct pollfd){.fd = extra[i], .events = POLLIN};
		while (pt_now_ms() < deadline) {
			if (poll(pfd, 40, (int)(deadline - pt_now_ms())) <= 0)
				break;
			for (int i = 0; i < 40; i++) {
				char ch;

				if (!pfd[i].revents)
					continue;
				CHECK(recv(extra[i], &ch, 1, 0) <= 0,
				      "data on an extra connection");
				n_rejected++;
				pfd[i].fd = -1;
			}
		}
	}
	CHECK(n_rejected >= 40 - (MAX_CONNS - N_IDLE - N_SLOW),
	      "maxConnections %d: %d of 40 extra connections rejected", MAX_CONNS, n_rejected);
	CHECK(metric("shunt_proxy_connections_rejected_total") - rejected0 >= n_rejected,
	      "rejected metric");
	t0 = pt_now_ms();
	while (metric("shunt_proxy_connections_active") > N_IDLE + N_SLOW) {
		struct timespec ts = {0, 10000000};

		CHECK(pt_now_ms() - t0 < 5000, "extra connections not released");
		nanosleep(&ts, NULL);
	}
	t0 = pt_now_ms();
	/* trickle until each slowloris connection is answered */
	while (got408 < N_SLOW) {
		struct pollfd pfd[N_SLOW];
		int np = 0;

		CHECK(pt_now_ms() - t0 < 60000, "test too slow");
		for (int i = 0; i < N_SLOW; i++)
			if (slow[i] >= 0)
				pfd[np++] = (struct pollfd){.fd = slow[i], .events = POLLIN};
		if (poll(pfd, (nfds_t)np, 100) > 0) {
			for (int k = 0; k < np; k++) {
				int i;
				struct resp r;

				if (!pfd[k].revents)
					continue;
				for (i = 0; slow[i] != pfd[k].fd; i++)
					;
				c->fd = slow[i];
				c->off = c->len = 0;
				CHECK(hc_read(c, &r, 2000, NULL, NULL) == 0 && r.status == 408,
				      "slowloris %d: want 408, got %d", i, r.status);
				t408[i] = pt_now_ms() - t408[i];
				CHECK(t408[i] >= HEADER_MS - 100 && t408[i] < HEADER_MS + 2000,
				      "slowloris answered after %llu ms (headerTimeoutMs %d)",
				      (unsigned long long)t408[i], HEADER_MS);
				close(slow[i]);
				slow[i] = -1;
				got408++;
			}
			continue;
		}
		/* the poll timed out: one more header byte each, as slowloris does */
		for (int i = 0; i < N_SLOW; i++)
			if (slow[i] >= 0)
				(void)send(slow[i], "a", 1, MSG_NOSIGNAL);
		if (got408 == 0) {
			/* meanwhile a normal client and an old idle connection are served */
			status = get_once(port_main, "/public/normal");
			CHECK(status == 200, "normal client during slowloris: %d", status);
		}
	}
	{
		static const char req[] = "GET /public/again HTTP/1.1\r\nHost: backend\r\n\r\n";
		struct resp r;

		c->fd = fds[N_IDLE / 2];
		c->off = c->len = 0;
		CHECK(pt_send_all(c->fd, req, sizeof(req) - 1) == 0 &&
			      hc_read(c, &r, 5000, NULL, NULL) == 0 && r.status == 200,
		      "an idle connection is served again");
	}
	rss_slow = pt_status_kb(px.pid, "VmRSS");
	for (int i = 0; i < N_IDLE; i++)
		close(fds[i]);
	printf("idle: %d slowloris clients got 408 after %llu..%llu ms (headerTimeoutMs %d), "
	       "%d of 40 over maxConnections rejected, normal clients served; RSS %ld KiB\n",
	       N_SLOW, (unsigned long long)t408[0], (unsigned long long)t408[N_SLOW - 1], HEADER_MS,
	       n_rejected, rss_slow);
	/* all closed again: the proxy counts them down */
	t0 = pt_now_ms();
	while (metric("shunt_proxy_connections_active") > 5) {
		struct timespec ts = {0, 20000000};

		CHECK(pt_now_ms() - t0 < 10000, "connections not released: %lld",
		      metric("shunt_proxy_connections_active"));
		nanosleep(&ts, NULL);
	}
	free(fds);
	free(big_req);
	free(c);
}

/* ---- a client that does not read ---- */

static uint8_t big_byte(unsigned k, size_t off)
{
	return (uint8_t)((off * 2654435761u >> 13) + k * 31u);
}

struct bigup {
	int lfd;
	pthread_t th;
	atomic_ulong written;
	atomic_bool done;
};

/* The upstream for the big listener: one connection, BIG_N requests, each
 * answered with BIG_SIZE bytes (blocking writes: they stall when the proxy
 * stops reading). */
static void *bigup_main(void *arg)
{
	struct bigup *b = arg;
	char *chunk = malloc(65536), rbuf[4096], acc[8192];
	size_t acc_len = 0;
	int fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);

	CHECK(fd >= 0 && chunk, "bigup accept");
	for (unsigned k = 0; k < BIG_N; k++) {
		char head[128];
		int n;
		char *e;

		while (!(e = memmem(acc, acc_len, "\r\n\r\n", 4))) {
			ssize_t r = recv(fd, rbuf, sizeof(rbuf), 0);

			CHECK(r > 0 && acc_len + (size_t)r <= sizeof(acc), "bigup read request %u",
			      k);
			memcpy(acc + acc_len, rbuf, (size_t)r);
			acc_len += (size_t)r;
		}
		acc_len -= (size_t)(e + 4 - acc);
		memmove(acc, e + 4, acc_len);
		n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
			     BIG_SIZE);
		CHECK(pt_send_all(fd, head, (size_t)n) == 0, "bigup head");
		for (size_t off = 0; off < BIG_SIZE; off += 65536) {
			for (size_t i = 0; i < 65536; i++)
				chunk[i] = (char)big_byte(k, off + i);
			CHECK(pt_send_all(fd, chunk, 65536) == 0, "bigup body");
			atomic_fetch_add(&b->written, 65536);
		}
	}
	atomic_store(&b->done, true);
	close(fd);
	free(chunk);
	return NULL;
}

struct bigcheck {
	unsigned k;
};

static bool big_check(void *ctx, size_t off, const char *p, size_t n)
{
	struct bigcheck *bc = ctx;

	for (size_t i = 0; i < n; i++)
		if ((uint8_t)p[i] != big_byte(bc->k, off + i))
			return false;
	return true;
}

static void test_backpressure(struct bigup *b)
{
	struct hc *c = calloc(1, sizeof(*c));
	char req[BIG_N * 64];
	size_t len = 0;
	unsigned long w, last = 0;
	long rss0 = pt_status_kb(px.pid, "VmRSS"), rss_stall, rss_end;
	uint64_t t0, still;
	const size_t total = (size_t)BIG_N * BIG_SIZE;

	CHECK(c, "oom");
	for (unsigned k = 0; k < BIG_N; k++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
					"GET /public/big%u HTTP/1.1\r\nHost: backend\r\n\r\n", k);
	c->fd = pt_connect_from(NULL, port_big);
	CHECK(c->fd >= 0, "connect big");
	CHECK(pt_send_all(c->fd, req, len) == 0, "pipelined requests");
	/* the client reads nothing: the upstream's writes must stall, i.e. the
	 * proxy stops reading from it; stall = no progress for 500 ms */
	t0 = still = pt_now_ms();
	for (;;) {
		struct timespec ts = {0, 20000000};

		CHECK(!atomic_load(&b->done), "the upstream wrote all %zu bytes: no backpressure",
		      total);
		CHECK(pt_now_ms() - t0 < 20000, "upstream never stalled");
		w = atomic_load(&b->written);
		if (w != last) {
			last = w;
			still = pt_now_ms();
		} else if (w && pt_now_ms() - still >= 500) {
			break;
		}
		nanosleep(&ts, NULL);
	}
	rss_stall = pt_status_kb(px.pid, "VmRSS");
	printf("backpressure: client reads nothing: upstream stalled after %lu of %zu bytes; "
	       "proxy RSS %ld -> %ld KiB\n",
	       w, total, rss0, rss_stall);
	CHECK(w < total / 2, "upstream wrote %lu of %zu bytes before stalling", w, total);
	if (!UNDER_ASAN)
		CHECK(rss_stall - rss0 < RSS_BIG_MB * 1024, "proxy RSS %ld KiB, before %ld KiB",
		      rss_stall, rss0);
	/* now read everything */
	for (unsigned k = 0; k < BIG_N; k++) {
		struct bigcheck bc = {.k = k};
		struct resp r;
		int err = hc_read(c, &r, 30000, big_check, &bc);

		CHECK(err == 0 && r.status == 200 && r.got == BIG_SIZE,
		      "big response %u: err %d status %d, %zu bytes", k, err, r.status, r.got);
	}
	rss_end = pt_status_kb(px.pid, "VmRSS");
	if (!UNDER_ASAN)
		CHECK(rss_end - rss0 < RSS_BIG_MB * 1024, "proxy RSS %ld KiB after %zu MiB",
		      rss_end, total >> 20);
	printf("backpressure: %d pipelined responses of %u MiB read byte-exact; proxy RSS %ld "
	       "KiB\n",
	       BIG_N, BIG_SIZE >> 20, rss_end);
	close(c->fd);
	free(c);
}

static bool want(int argc, char **argv, const char *g)
{
	if (argc <= 2)
		return true;
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], g) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sa);
	struct bigup *b = calloc(1, sizeof(*b));

	CHECK(argc >= 2, "usage: %s path/to/shunt-proxy [group...]", argv[0]);
	proxy_bin = argv[1];
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP: needs root (the proxy's privilege drop)\n");
		return getenv("CI") && strcmp(getenv("CI"), "true") == 0 ? 1 : 77;
	}
	raise_nofile(N_IDLE + 1024); /* inherited by the proxy */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/shunt-fault.XXXXXX");
	CHECK(mkdtemp(tmpdir), "mkdtemp");
	atexit(cleanup);
	/* the proxy re-reads its config as uid 1337 */
	CHECK(chmod(tmpdir, 0755) == 0, "chmod");
	snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", tmpdir);
	CHECK(us_start(&up, "127.0.0.1") == 0, "upstream");
	port_up = us_port(up);
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(b && b->lfd >= 0 && bind(b->lfd, (struct sockaddr *)&sa, slen) == 0 &&
		      listen(b->lfd, 4) == 0 &&
		      getsockname(b->lfd, (struct sockaddr *)&sa, &slen) == 0,
	      "big upstream");
	port_bigup = ntohs(sa.sin_port);
	port_main = pt_free_port("127.0.0.1");
	port_big = pt_free_port("127.0.0.1");
	port_admin = pt_free_port("127.0.0.1");
	write_config(0);
	if (want(argc, argv, "privs"))
		test_cli();
	if (want(argc, argv, "accesslog"))
		test_access_log();
	proxy_start();

	if (want(argc, argv, "privs"))
		test_privs();
	if (want(argc, argv, "upstream"))
		test_upstream();
	if (want(argc, argv, "reload"))
		test_reload();
	if (want(argc, argv, "idle"))
		test_idle();
	if (want(argc, argv, "backpressure")) {
		CHECK(pthread_create(&b->th, NULL, bigup_main, b) == 0, "thread");
		test_backpressure(b);
		pthread_join(b->th, NULL);
	}
	check_proxy_privs();
	proxy_stop();
	close(b->lfd);
	free(b);
	if (up)
		us_stop(up);
	free(px.buf);
	printf("fault_proxy_test: all ok\n");
	return 0;
}
