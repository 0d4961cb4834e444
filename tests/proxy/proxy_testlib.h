/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the tests that run a real shunt-proxy (test_proxy_e2e,
 * test_proxy_leak, tests/e2e/fault_proxy_test): a child process with its
 * stderr captured by a reader thread (wait for a line such as "listening:"
 * with a deadline), loopback client sockets, /proc sampling.
 * Header-only (static inline); the tests link upstream_server.c anyway.
 * Test code: failures of the environment abort through CHECK (testutil.h).
 */
#ifndef SHUNT_TESTS_PROXY_TESTLIB_H
#define SHUNT_TESTS_PROXY_TESTLIB_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "upstream_server.h"

#if defined(__SANITIZE_ADDRESS__)
#define PT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PT_UNDER_ASAN 1
#endif
#endif
#ifndef PT_UNDER_ASAN
#define PT_UNDER_ASAN 0
#endif

static inline uint64_t pt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- a child process and its stderr ---- */

#define PT_LOG_HEAD 4096

struct pt_proc {
	pid_t pid; /* -1: not running */
	int fd;
	pthread_t reader;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *buf; /* everything the child wrote to stderr, NUL-terminated */
	size_t len, cap;
	/* 0: keep everything (offsets from pt_proc_mark stay valid); else keep
	 * the first PT_LOG_HEAD bytes and the newest max/2 when len reaches max */
	size_t max;
	bool eof;
};

#define PT_PROC_INIT                                                    \
	{                                                               \
		.pid = -1, .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER, \
		.cond = PTHREAD_COND_INITIALIZER                        \
	}

static inline void pt_log_append(struct pt_proc *p, const char *b, size_t n)
{
	if (p->max && p->len + n >= p->max) {
		size_t keep = p->max / 2;

		if (p->len > PT_LOG_HEAD + keep) {
			memmove(p->buf + PT_LOG_HEAD, p->buf + p->len - keep, keep);
			p->len = PT_LOG_HEAD + keep;
		}
	}
	if (p->len + n + 1 > p->cap) {
		p->cap = (p->len + n + 1) * 2;
		p->buf = realloc(p->buf, p->cap);
		CHECK(p->buf, "oom");
	}
	memcpy(p->buf + p->len, b, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static inline void *pt_proc_reader(void *arg)
{
	struct pt_proc *p = arg;
	char b[4096];
	ssize_t n;

	while ((n = read(p->fd, b, sizeof(b))) > 0) {
		pthread_mutex_lock(&p->lock);
		if (getenv("SHUNT_TEST_VERBOSE"))
			fwrite(b, 1, (size_t)n, stderr);
		pt_log_append(p, b, (size_t)n);
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->lock);
	p->eof = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Where the log ends now: wait for text written after this point. */
static inline size_t pt_proc_mark(struct pt_proc *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->len;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* Wait (bounded) until the log after offset `from` contains s. */
static inline bool pt_proc_wait_log(struct pt_proc *p, size_t from, const char *s, int timeout_ms)
{
	struct timespec ts;
	bool found;

	us_abs_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		found = p->buf && p->len >= from && strstr(p->buf + from, s);
		if (found || p->eof || pthread_cond_timedwait(&p->cond, &p->lock, &ts))
			break;
	}
	found = p->buf && p->len >= from && strstr(p->buf + from, s);
	pthread_mutex_unlock(&p->lock);
	return found;
}

/* The log from offset `from` (tail > 0: at most its last `tail` bytes). */
static inline void pt_proc_dump_log(struct pt_proc *p, size_t from, size_t tail)
{
	pthread_mutex_lock(&p->lock);
	if (p->buf && p->len >= from) {
		if (tail && p->len - from > tail)
			from = p->len - tail;
		fprintf(stderr, "---- child stderr\n%s\n", p->buf + from);
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * Start argv[0] (PATH searched) with stderr into the log; the child dies with
 * the test (PDEATHSIG). child_setup (may be NULL) runs in the child before
 * exec; a non-zero return makes the child exit 126. Returns 0 or -errno.
 */
static inline int pt_proc_spawn(struct pt_proc *p, char *const argv[], int (*child_setup)(void))
{
	int fds[2], err;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	p->eof = false;
	p->pid = fork();
	if (p->pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
		dup2(fds[1], 2);
		if (child_setup && child_setup())
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	p->fd = fds[0];
	err = -pthread_create(&p->reader, NULL, pt_proc_reader, p);
	if (err) {
		close(p->fd);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
	return err;
}

/* Reap the child (after it exits or was signalled) and its reader; returns
 * the wait status. */
static inline int pt_proc_reap(struct pt_proc *p)
{
	int st;

	CHECK(waitpid(p->pid, &st, 0) == p->pid, "waitpid: %s", strerror(errno));
	p->pid = -1;
	pthread_join(p->reader, NULL);
	close(p->fd);
	p->fd = -1;
	return st;
}

/* For an exit handler: kill and reap a child still running. */
static inline void pt_proc_kill(struct pt_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = -1;
	}
}

/* Start shunt-proxy (bin) on config cfg, with one extra argument or none,
 * and wait up to timeout_ms for its "listening:" line (its log dumped if it
 * does not come). The log level is SHUNT_TEST_LOG_LEVEL, else info. */
static inline void pt_proxy_start(struct pt_proc *p, const char *bin, const char *cfg,
				  const char *extra, int timeout_ms)
{
	const char *level = getenv("SHUNT_TEST_LOG_LEVEL");
	char *argv[] = {(char *)bin,
			"--config",
			(char *)cfg,
			"--log-level",
			(char *)(level ? level : "info"),
			(char *)extra,
			NULL};
	size_t mark = pt_proc_mark(p);
	int err = pt_proc_spawn(p, argv, NULL);

	CHECK(err == 0, "start %s: %s", bin, strerror(-err));
	if (!pt_proc_wait_log(p, mark, "listening:", timeout_ms)) {
		pt_proc_dump_log(p, mark, 0);
		CHECK(0, "proxy did not start");
	}
}

/* ---- the test's directory ---- */

/* mkdtemp dir (a "/tmp/NAME.XXXXXX" template of dlen bytes) with cfg and log
 * paths in it (config.json, access.log). Started as root, shunt-proxy runs as
 * uid/gid 1337 (--user default) and must read the config on SIGHUP and reopen
 * the access log there: the directory is then 1337's. */
static inline void pt_workdir(char *dir, size_t dlen, const char *name, char *cfg, size_t clen,
			      char *log, size_t llen)
{
	snprintf(dir, dlen, "/tmp/%s.XXXXXX", name);
	CHECK(mkdtemp(dir), "mkdtemp");
	if (geteuid() == 0)
		CHECK(chown(dir, 1337, 1337) == 0, "chown %s", dir);
	snprintf(cfg, clen, "%s/config.json", dir);
	snprintf(log, llen, "%s/access.log", dir);
}

/* Remove what pt_workdir() made (dir empty: nothing was made). */
static inline void pt_workdir_remove(const char *dir, const char *cfg, const char *log)
{
	if (!dir[0])
		return;
	unlink(cfg);
	unlink(log);
	rmdir(dir);
}

/* The start of a proxy test's main(): argv[1] is shunt-proxy (into *bin);
 * stdout unbuffered (our lines stay in order with the proxy's stderr),
 * SIGPIPE ignored (a peer's reset is an error return, not a death), and the
 * work directory with its paths (pt_workdir). */
static inline void pt_main_start(int argc, char **argv, const char **bin, const char *name,
				 char *dir, size_t dlen, char *cfg, size_t clen, char *log,
				 size_t llen)
{
	CHECK(argc == 2, "usage: %s path/to/shunt-proxy", argv[0]);
	*bin = argv[1];
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	pt_workdir(dir, dlen, name, cfg, clen, log, llen);
}

/* ---- loopback sockets ---- */

/* A free TCP port on ip (bound and released). */
static inline uint16_t pt_free_port(const char *ip)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0, "socket");
	inet_pton(AF_INET, ip, &sa.sin_addr);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s", ip);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "getsockname");
	close(fd);
	return ntohs(sa.sin_port);
}

/* Connect to 127.0.0.1:port (from src, an IPv4 address, unless NULL), with
 * TCP_NODELAY. Returns the fd or -errno of connect(). */
static inline int pt_connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	CHECK(fd >= 0, "socket: %s", strerror(errno));
	if (src) {
		struct sockaddr_in me = {.sin_family = AF_INET};

		inet_pton(AF_INET, src, &me.sin_addr);
		CHECK(bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0, "bind %s", src);
	}
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Send everything (no SIGPIPE); 0 or -errno. */
static inline int pt_send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- /proc sampling ---- */

static inline int pt_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	CHECK(d, "opendir %s", path);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A "Field: N kB" line of /proc/pid/status (VmRSS, VmHWM), in KiB. */
static inline long pt_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	CHECK(f, "open %s", path);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = strtol(line + fl + 1, NULL, 10);
	fclose(f);
	CHECK(v >= 0, "%s of %d missing", field, (int)pid);
	return v;
}

#endif /* SHUNT_TESTS_PROXY_TESTLIB_H */
