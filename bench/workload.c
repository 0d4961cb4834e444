/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench workloads.
 *
 * rr: the client sends exactly N bytes, the server reads N and echoes them,
 * the client reads N; one sample = one CLOCK_MONOTONIC round trip.
 * stream: the sender write()s N bytes at a time for warmup + duration, the
 * receiver reads with a 1 MiB buffer and times the bytes it got while the
 * sender was inside its measured window.
 *
 * The client/sender marks the start and end of the measured window in
 * shared memory (phase 0 -> 1 -> 2); both ends read getrusage() at those
 * points, so warm-up and setup never count towards CPU per op.
 */
#include "workload.h"
#include "workload_int.h"
#include "podnet.h"
#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define RECV_BUF	 (1u << 20)
#define MIN_WARM_ITERS	 16
#define SETUP_TIMEOUT_MS 10000
#define SLACK_SECONDS	 10.0

volatile sig_atomic_t bench_stop;

uint64_t wl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double wl_cpu_us_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int wl_side_fail(struct side *s, const char *what, int err)
{
	s->failed = 1;
	if (err == EAGAIN || err == EWOULDBLOCK)
		snprintf(s->msg, sizeof(s->msg), "%s: timed out (data lost or stalled?)", what);
	else if (err)
		snprintf(s->msg, sizeof(s->msg), "%s: %s", what, strerror(err));
	else
		snprintf(s->msg, sizeof(s->msg), "%s", what);
	return 1;
}

/* A failure of the connection itself (stall, loss, reordering), as opposed to
 * a setup error: the caller records it against the path and carries on. */
int wl_side_fail_data(struct side *s, const char *what, int err)
{
	s->data_path = 1;
	return wl_side_fail(s, what, err);
}

struct bench_shared *bench_shared_new(size_t max_samples)
{
	size_t len = sizeof(struct bench_shared) + max_samples * sizeof(uint32_t);
	struct bench_shared *sh;

	sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return NULL;
	sh->cap = max_samples;
	sh->map_len = len;
	return sh;
}

void bench_shared_free(struct bench_shared *sh)
{
	if (sh)
		munmap(sh, sh->map_len);
}

bool bench_cpu_usable(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return false;
	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	return CPU_ISSET(cpu, &set);
}

/* ---- child side ---------------------------------------------------------- */

uint32_t wl_server_ip(const struct bench_cell_spec *spec)
{
	return spec->server_ip ? spec->server_ip : htonl(INADDR_LOOPBACK);
}

int wl_child_setup(const struct bench_cell_spec *spec, const struct bench_cpulist *cpus,
		   const char *netns, pid_t parent, struct side *s)
{
	cpu_set_t set;
	char path[4096];
	int fd;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* timed waits (the open-loop schedule, windows) wake on time, not up to
	 * the default 50 us of timer slack later: that lateness would be charged
	 * to every path as latency */
	prctl(PR_SET_TIMERSLACK, 1UL);
	if (getppid() != parent)
		return wl_side_fail(s, "parent exited", 0);
	if (spec->cgroup) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", spec->cgroup);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return wl_side_fail(s, "open cgroup.procs", errno);
		if (write(fd, "0\n", 2) != 2) {
			int e = errno;

			close(fd);
			return wl_side_fail(s, "join cgroup", e);
		}
		close(fd);
	}
	if (netns) {
		int ret = bench_join_netns(netns);

		if (ret)
			return wl_side_fail(s, "join the pod's netns", -ret);
	}
	CPU_ZERO(&set);
	for (int c = 0; c < BENCH_CPU_MAX && c < CPU_SETSIZE; c++)
		if (bench_cpulist_has(cpus, c))
			CPU_SET(c, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return wl_side_fail(s, "sched_setaffinity", errno);
	return 0;
}

int wl_set_timeouts(int fd, double secs)
{
	struct timeval tv = {.tv_sec = (time_t)secs,
			     .tv_usec = (suseconds_t)((secs - floor(secs)) * 1e6)};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

void wl_unix_addr(const struct bench_cell_spec *spec, pid_t parent, struct sockaddr_un *sun,
		  socklen_t *len)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* abstract namespace: nothing to unlink afterwards */
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "shunt-bench-%d-%u", (int)parent,
		     spec->id);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int wl_send_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 1 = got len bytes, 0 = EOF before the first byte, -errno otherwise
 * (-EPIPE for EOF inside a message). */
int wl_recv_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return got ? -EPIPE : 0;
		got += (size_t)n;
	}
	return 1;
}

int wl_bind_server(const struct bench_cell_spec *spec, pid_t parent, int port, int sock_flags,
		   struct side *s, uint16_t *ready_port)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	socklen_t alen;
	int lfd, one = 1;

	if (spec->kind == BENCH_PATH_UNIX) {
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
		wl_unix_addr(spec, parent, &sun, &alen);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, alen)) {
			wl_side_fail(s, "bind unix socket", errno);
			goto fail;
		}
		return lfd;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | sock_flags, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = wl_server_ip(spec);
	sin.sin_port = htons((uint16_t)port);
	alen = sizeof(sin);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sin, alen) ||
	    getsockname(lfd, (struct sockaddr *)&sin, &alen)) {
		wl_side_fail(s,
			     spec->server_ip ? "bind the server pod's address" : "bind 127.0.0.1",
			     errno);
		goto fail;
	}
	*ready_port = sin.sin_port;
	return lfd;
fail:
	if (lfd >= 0)
		close(lfd);
	return -1;
}

int wl_send_ready(int ready_fd, uint16_t port, struct side *s)
{
	struct ready_msg msg = {.ok = 1, .port = port};

	if (write(ready_fd, &msg, sizeof(msg)) != sizeof(msg)) {
		wl_side_fail(s, "write ready pipe", errno);
		return -1;
	}
	return 0;
}

int wl_tcp_bytes(int fd, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(ti.tcpi_bytes_sent))
		return -EOPNOTSUPP;
	/* sent, plus still queued for TCP: a sender that just wrote its last
	 * byte may have much of it in the send queue (redirected bytes never
	 * enter it) */
	*out = ti.tcpi_bytes_sent + ti.tcpi_notsent_bytes;
	return 0;
}

void wl_read_tcp_info(int fd, struct side *s)
{
	if (wl_tcp_bytes(fd, &s->tcp_bytes) == 0)
		s->tcp_info_ok = 1;
}

static int rr_server(const struct bench_cell_spec *spec, struct bench_shared *sh, int fd)
{
	struct side *s = &sh->server;
	uint8_t *buf = malloc(spec->size);
	bool started = false;
	double cpu0 = 0;
	int ret;

	if (!buf)
		return wl_side_fail(s, "malloc", ENOMEM);
	for (;;) {
		ret = wl_recv_all(fd, buf, spec->size);
		if (ret == 0)
			break;
		if (ret < 0) {
			free(buf);
			return wl_side_fail_data(s, "server recv", -ret);
		}
		s->recv_bytes += spec->size;
		if (!started && atomic_load_explicit(&sh->phase, memory_order_relaxed) >= 1) {
			started = true;
			cpu0 = wl_cpu_us_now();
		}
		if (started)
			s->win_ops++;
		ret = wl_send_all(fd, buf, spec->size);
		if (ret) {
			free(buf);
			return wl_side_fail_data(s, "server send", -ret);
		}
		s->app_bytes += spec->size;
	}
	if (started)
		s->cpu_us = wl_cpu_us_now() - cpu0;
	if (spec->kind != BENCH_PATH_UNIX)
		wl_read_tcp_info(fd, s);
	free(buf);
	return 0;
}

static int rr_roundtrip(int fd, uint8_t *out, uint8_t *in, size_t size, uint64_t iter,
			struct side *s)
{
	int ret;

	out[0] = (uint8_t)iter;
	out[size - 1] = (uint8_t)~iter;
	ret = wl_send_all(fd, out, size);
	if (ret)
		return wl_side_fail_data(s, "client send", -ret);
	ret = wl_recv_all(fd, in, size);
	if (ret <= 0)
		return wl_side_fail_data(s, ret == 0 ? "client recv: server closed" : "client recv",
					 ret == 0 ? 0 : -ret);
	if (in[0] != out[0] || in[size - 1] != out[size - 1])
		return wl_side_fail_data(s, "echo mismatch (bytes lost or reordered)", 0);
	s->app_bytes += size;
	s->recv_bytes += size;
	return 0;
}

static int rr_client(const struct bench_cell_spec *spec, struct bench_shared *sh, int fd)
{
	struct side *s = &sh->client;
	uint8_t *out = malloc(spec->size), *in = malloc(spec->size);
	uint64_t iter = 0, t_prev, t_end, t;
	double cpu0;
	int ret = 1;

	if (!out || !in) {
		wl_side_fail(s, "malloc", ENOMEM);
		goto cleanup;
	}
	memset(out, 0xa5, spec->size);
	t_end = wl_now_ns() + (uint64_t)(spec->warmup * 1e9);
	do {
		if (rr_roundtrip(fd, out, in, spec->size, iter++, s))
			goto cleanup;
	} while (iter < MIN_WARM_ITERS || wl_now_ns() < t_end);

	atomic_store(&sh->phase, 1);
	cpu0 = wl_cpu_us_now();
	t_prev = wl_now_ns();
	t_end = t_prev + (uint64_t)(spec->duration * 1e9);
	while (sh->n < sh->cap) {
		if (rr_roundtrip(fd, out, in, spec->size, iter++, s))
			goto cleanup;
		t = wl_now_ns();
		sh->samples[sh->n++] =
			t - t_prev > UINT32_MAX ? UINT32_MAX : (uint32_t)(t - t_prev);
		t_prev = t;
		if (t >= t_end)
			break;
	}
	s->cpu_us = wl_cpu_us_now() - cpu0;
	s->win_ops = sh->n;
	atomic_store(&sh->phase, 2);
	if (spec->kind != BENCH_PATH_UNIX)
		wl_read_tcp_info(fd, s);
	ret = 0;
cleanup:
	free(out);
	free(in);
	return ret;
}

static int stream_sender(const struct bench_cell_spec *spec, struct bench_shared *sh, int fd)
{
	struct side *s = &sh->client;
	uint8_t *buf = malloc(spec->size);
	/* read the clock every write for big writes, every 8th for small ones */
	unsigned check_mask = spec->size >= 4096 ? 0 : 7;
	uint64_t t_win, t_end, writes = 0, win_start = 0;
	double cpu0 = 0;
	int phase = 0, ret;

	if (!buf)
		return wl_side_fail(s, "malloc", ENOMEM);
	memset(buf, 0x5a, spec->size);
	t_win = wl_now_ns() + (uint64_t)(spec->warmup * 1e9);
	t_end = t_win + (uint64_t)(spec->duration * 1e9);
	for (;;) {
		ret = wl_send_all(fd, buf, spec->size);
		if (ret) {
			free(buf);
			return wl_side_fail_data(s, "sender write", -ret);
		}
		s->app_bytes += spec->size;
		writes++;
		if (writes & check_mask)
			continue;
		uint64_t t = wl_now_ns();

		if (phase == 0 && t >= t_win) {
			phase = 1;
			atomic_store(&sh->phase, 1);
			cpu0 = wl_cpu_us_now();
			win_start = writes;
		} else if (phase == 1 && t >= t_end) {
			s->cpu_us = wl_cpu_us_now() - cpu0;
			s->win_ops = writes - win_start;
			atomic_store(&sh->phase, 2);
			break;
		}
	}
	if (spec->kind != BENCH_PATH_UNIX)
		wl_read_tcp_info(fd, s);
	free(buf);
	shutdown(fd, SHUT_WR);
	return 0;
}

static int stream_receiver(const struct bench_cell_spec *spec, struct bench_shared *sh, int fd)
{
	struct side *s = &sh->server;
	uint8_t *buf = malloc(RECV_BUF);
	uint64_t t, ts = 0, te = 0, bs = 0, be = 0;
	bool started = false, stopped = false;
	double cpu0 = 0;

	if (!buf)
		return wl_side_fail(s, "malloc", ENOMEM);
	for (;;) {
		ssize_t n = recv(fd, buf, RECV_BUF, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;

			free(buf);
			return wl_side_fail_data(s, "receiver read", e);
		}
		if (n == 0)
			break;
		t = wl_now_ns();
		s->recv_bytes += (uint64_t)n;
		if (stopped)
			continue;
		int ph = atomic_load_explicit(&sh->phase, memory_order_relaxed);

		if (ph >= 1 && !started) {
			/* bytes of this read were sent before the window: not counted */
			started = true;
			ts = te = t;
			bs = be = s->recv_bytes;
			cpu0 = wl_cpu_us_now();
		} else if (ph == 1) {
			te = t;
			be = s->recv_bytes;
		} else if (ph == 2 && started) {
			stopped = true;
			s->cpu_us = wl_cpu_us_now() - cpu0;
		}
	}
	if (started && !stopped)
		s->cpu_us = wl_cpu_us_now() - cpu0;
	free(buf);
	s->win_bytes = be - bs;
	s->win_secs = (double)(te - ts) / 1e9;
	if (!started || s->win_bytes == 0 || te == ts) {
		/* no read completed inside the sender's window (the receiver was
		 * not scheduled): a measurement problem, retried by the caller */
		s->short_window = 1;
		return wl_side_fail(
			s, "receiver: no read inside the measured window (raise --duration)", 0);
	}
	return 0;
}

static int server_main(const struct bench_cell_spec *spec, struct bench_shared *sh, int ready_fd,
		       pid_t parent, int port)
{
	struct side *s = &sh->server;
	uint16_t ready_port = 0;
	struct pollfd pfd;
	int lfd = -1, fd = -1, one = 1, ret = 1;

	if (wl_child_setup(spec, spec->server_cpus, spec->server_netns, parent, s))
		goto cleanup;
	lfd = wl_bind_server(spec, parent, port, 0, s, &ready_port);
	if (lfd < 0)
		goto cleanup;
	if (listen(lfd, 1)) {
		wl_side_fail(s, "listen", errno);
		goto cleanup;
	}
	if (wl_send_ready(ready_fd, ready_port, s))
		goto cleanup;
	pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
	if (poll(&pfd, 1, SETUP_TIMEOUT_MS) != 1) {
		wl_side_fail(s, "no client connected", ETIMEDOUT);
		goto cleanup;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		wl_side_fail(s, "accept", errno);
		goto cleanup;
	}
	if (spec->kind != BENCH_PATH_UNIX && spec->workload == BENCH_RR)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	wl_set_timeouts(fd, spec->warmup + spec->duration + SLACK_SECONDS);
	if (spec->workload == BENCH_RR)
		ret = rr_server(spec, sh, fd);
	else
		ret = stream_receiver(spec, sh, fd);
cleanup:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	return ret;
}

static int client_main(const struct bench_cell_spec *spec, struct bench_shared *sh, uint16_t port,
		       pid_t parent)
{
	struct side *s = &sh->client;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	socklen_t alen;
	int fd = -1, one = 1, ret = 1;

	if (wl_child_setup(spec, spec->client_cpus, spec->client_netns, parent, s))
		goto cleanup;
	if (spec->kind == BENCH_PATH_UNIX) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		wl_unix_addr(spec, parent, &sun, &alen);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, alen)) {
			wl_side_fail(s, "connect unix socket", errno);
			goto cleanup;
		}
	} else {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = wl_server_ip(spec);
		sin.sin_port = port;
		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
			wl_side_fail(s,
				     spec->server_ip ? "connect to the server pod"
						     : "connect 127.0.0.1",
				     errno);
			goto cleanup;
		}
		if (spec->workload == BENCH_RR)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	wl_set_timeouts(fd, spec->warmup + spec->duration + SLACK_SECONDS);
	if (spec->workload == BENCH_RR)
		ret = rr_client(spec, sh, fd);
	else
		ret = stream_sender(spec, sh, fd);
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- parent side --------------------------------------------------------- */

int wl_pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

void wl_kill_and_reap(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++) {
		if (pids[i] > 0)
			while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
				;
		pids[i] = -1;
	}
}

/* Wait for all pids until deadline_ms from now. Returns 0 when all exited
 * with status 0, 1 when some failed, -ETIMEDOUT or -EINTR. Reaps what exited. */
int wl_wait_children(pid_t *pids, int n, int timeout_ms)
{
	struct pollfd pfd[2];
	uint64_t deadline = wl_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int left = 0, failed = 0;

	for (int i = 0; i < n; i++) {
		pfd[i].fd = pids[i] > 0 ? wl_pidfd_open_(pids[i]) : -1;
		pfd[i].events = POLLIN;
		if (pids[i] > 0)
			left++;
	}
	while (left) {
		uint64_t t = wl_now_ns();
		int ret;

		if (bench_stop) {
			failed = -EINTR;
			break;
		}
		if (t >= deadline) {
			failed = -ETIMEDOUT;
			break;
		}
		ret = poll(pfd, (nfds_t)n, (int)((deadline - t) / 1000000ull) + 1);
		if (ret < 0 && errno != EINTR) {
			failed = -errno;
			break;
		}
		for (int i = 0; i < n && ret > 0; i++) {
			int status;

			if (pids[i] <= 0 || !(pfd[i].revents & POLLIN))
				continue;
			if (waitpid(pids[i], &status, 0) == pids[i]) {
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					failed = failed < 0 ? failed : 1;
				pids[i] = -1;
				left--;
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return failed;
}

void bench_fill_latency(uint32_t *v, size_t n, struct bench_sample *out)
{
	bench_sort_u32(v, n);
	out->p50 = bench_pct_u32(v, n, 50) / 1e3;
	out->p90 = bench_pct_u32(v, n, 90) / 1e3;
	out->p99 = bench_pct_u32(v, n, 99) / 1e3;
	out->p999 = bench_pct_u32(v, n, 99.9) / 1e3;
	out->max = n ? v[n - 1] / 1e3 : 0;
	for (int i = 0; i < BENCH_CDF_N; i++)
		out->cdf_us[i] = bench_pct_u32(v, n, bench_cdf_q[i]) / 1e3;
}

static void fill_sample(const struct bench_cell_spec *spec, struct bench_shared *sh,
			struct bench_sample *out)
{
	const struct side *c = &sh->client, *s = &sh->server;
	double cpu = 0;

	memset(out, 0, sizeof(*out));
	if (c->win_ops)
		cpu += c->cpu_us / (double)c->win_ops;
	if (spec->workload == BENCH_RR) {
		size_t n = sh->n;
		uint32_t *v = sh->samples;

		bench_fill_latency(v, n, out);
		out->ops = n;
		if (s->win_ops)
			cpu += s->cpu_us / (double)s->win_ops;
		out->cpu_us_per_mb = NAN;
	} else {
		double ops = (double)s->win_bytes / (double)spec->size;

		out->mbps = (double)s->win_bytes / s->win_secs / 1e6;
		out->ops = (uint64_t)ops;
		if (ops > 0)
			cpu += s->cpu_us / ops;
		out->cpu_us_per_mb = cpu / (double)spec->size * 1e6;
	}
	out->cpu_us_per_op = cpu;
	out->tcp_fraction = NAN;
	if (spec->kind != BENCH_PATH_UNIX && c->tcp_info_ok &&
	    (spec->workload == BENCH_STREAM || s->tcp_info_ok)) {
		uint64_t app = c->app_bytes, tcp = c->tcp_bytes;

		if (spec->workload == BENCH_RR) {
			app += s->app_bytes;
			tcp += s->tcp_bytes;
		}
		if (app)
			out->tcp_fraction = (double)tcp / (double)app;
	}
	out->valid = true;
}

void wl_cell_reset(struct bench_shared *sh, struct bench_sample *out)
{
	memset(out, 0, sizeof(*out));
	memset(&sh->client, 0, sizeof(sh->client));
	memset(&sh->server, 0, sizeof(sh->server));
	atomic_store(&sh->phase, 0);
	sh->n = 0;
}

int wl_start_server(const struct bench_cell_spec *spec, struct bench_shared *sh,
		    wl_server_fn server, int port, pid_t *pid, uint16_t *ready_port, char *err,
		    size_t errlen)
{
	pid_t parent = getpid();
	struct ready_msg msg = {0};
	struct pollfd pfd;
	int rp[2] = {-1, -1}, ret = 0;

	if (pipe2(rp, O_CLOEXEC)) {
		ret = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-ret));
		return ret;
	}
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		goto cleanup;
	}
	if (*pid == 0) {
		close(rp[0]);
		_exit(server(spec, sh, rp[1], parent, port));
	}
	close(rp[1]);
	rp[1] = -1;

	pfd = (struct pollfd){.fd = rp[0], .events = POLLIN};
	for (;;) {
		int n = poll(&pfd, 1, SETUP_TIMEOUT_MS);

		if (bench_stop) {
			ret = -EINTR;
			goto cleanup;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1) {
			ret = -ETIMEDOUT;
			snprintf(err, errlen, "server did not start listening");
			goto cleanup;
		}
		break;
	}
	if (read(rp[0], &msg, sizeof(msg)) != sizeof(msg) || !msg.ok) {
		/* server exited: its message says why */
		wl_wait_children(pid, 1, SETUP_TIMEOUT_MS);
		ret = -EIO;
		snprintf(err, errlen, "server: %s",
			 sh->server.failed ? sh->server.msg : "exited during setup");
		goto cleanup;
	}
	*ready_port = msg.port;
cleanup:
	if (rp[0] >= 0)
		close(rp[0]);
	if (rp[1] >= 0)
		close(rp[1]);
	return ret;
}

int wl_cell_stalled(int timeout_ms, char *err, size_t errlen)
{
	snprintf(err, errlen, "cell did not finish within %d ms (stalled connection?)", timeout_ms);
	return -EBADMSG;
}

int wl_cell_failed(const struct bench_shared *sh, int ret, char *err, size_t errlen)
{
	if (!ret && !sh->client.failed && !sh->server.failed)
		return 0;
	if (sh->client.failed)
		snprintf(err, errlen, "client: %s", sh->client.msg);
	else if (sh->server.failed)
		snprintf(err, errlen, "server: %s", sh->server.msg);
	else
		snprintf(err, errlen, "a worker process died");
	return sh->client.data_path || sh->server.data_path ? -EBADMSG : -EIO;
}

int bench_run_cell(const struct bench_cell_spec *spec, struct bench_shared *sh,
		   struct bench_sample *out, char *err, size_t errlen)
{
	pid_t parent = getpid(), pids[2] = {-1, -1}; /* server, client */
	uint16_t port = 0;
	int ret, timeout_ms;

	if (bench_workload_is_l7(spec->workload))
		return bench_run_l7_cell(spec, sh, out, err, errlen);
	wl_cell_reset(sh, out);
	ret = wl_start_server(spec, sh, server_main, 0, &pids[0], &port, err, errlen);
	if (ret)
		goto cleanup;

	pids[1] = fork();
	if (pids[1] < 0) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		goto cleanup;
	}
	if (pids[1] == 0)
		_exit(client_main(spec, sh, port, parent));

	timeout_ms = (int)((spec->warmup + spec->duration + 2 * SLACK_SECONDS) * 1000);
	ret = wl_wait_children(pids, 2, timeout_ms);
	if (ret == -EINTR)
		goto cleanup;
	if (ret == -ETIMEDOUT) {
		ret = wl_cell_stalled(timeout_ms, err, errlen);
		goto cleanup;
	}
	if (sh->server.short_window && !sh->client.failed) {
		snprintf(err, errlen, "server: %s", sh->server.msg);
		ret = -EAGAIN;
		goto cleanup;
	}
	ret = wl_cell_failed(sh, ret, err, errlen);
	if (ret)
		goto cleanup;
	if (spec->workload == BENCH_STREAM && sh->server.recv_bytes != sh->client.app_bytes) {
		snprintf(err, errlen, "receiver got %llu bytes, sender wrote %llu",
			 (unsigned long long)sh->server.recv_bytes,
			 (unsigned long long)sh->client.app_bytes);
		ret = -EBADMSG;
		goto cleanup;
	}
	fill_sample(spec, sh, out);
cleanup:
	wl_kill_and_reap(pids, 2);
	return ret;
}
