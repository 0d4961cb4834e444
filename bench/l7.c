/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench http and connect cells.
 *
 * One cell = a forked HTTP/1.1 keep-alive server (fixed response of the
 * cell's size), optionally an L7 proxy in front of it (shunt-proxy, HAProxy,
 * nginx; started for the cell, one worker), and a forked client with C
 * connections driven by epoll:
 *
 *   http, closed loop: every connection has one request outstanding.
 *   http, open loop:   request i is due at t0 + i/rate and goes out on the
 *                      next free connection; its latency is measured from
 *                      that intended time (coordinated omission corrected).
 *   connect:           connect (+ one request/response) + close per slot,
 *                      closed loop or open loop the same way; latency is
 *                      connect() to established.
 *
 * The client marks the measured window in shared memory (phase 1, 2) and
 * reads its own rusage and the proxy's CPU there; the server reads its
 * rusage at the same phase changes; phase 3 tells the server to exit.
 */
#include "http.h"
#include "stats.h"
#include "workload.h"
#include "workload_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define IO_BUF	       (64u << 10)
#define MAX_EVENTS     64
#define SERVER_TICK_MS 5
#define PROXY_READY_MS 10000
#define PROXY_STOP_MS  5000
#define DRAIN_MIN_S    1.0 /* open loop: time after the window to finish its requests */
#define PROBE_GAP_MS   10

/* ---- small helpers ------------------------------------------------------- */

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static uint64_t tcp_bytes_sent(int fd)
{
	uint64_t n = 0;

	wl_tcp_bytes(fd, &n);
	return n;
}

/* CPU time of every thread of pid and of its child processes, in us, from
 * /proc/<pid>/task/<tid>/schedstat (ns on the CPU). NAN when pid is gone. */
static double proc_cpu_us(pid_t pid, int depth)
{
	char path[384], buf[4096];
	double total = 0;
	bool any = false;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return NAN;
	while ((de = readdir(d))) {
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
		f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%llu", &ns) == 1) {
				total += (double)ns / 1e3;
				any = true;
			}
			fclose(f);
		}
		if (depth > 0) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid,
				 de->d_name);
			f = fopen(path, "re");
			if (f) {
				size_t n = fread(buf, 1, sizeof(buf) - 1, f);
				char *p = buf, *end;

				buf[n] = '\0';
				for (long c = strtol(p, &end, 10); end != p;
				     p = end, c = strtol(p, &end, 10)) {
					double v = proc_cpu_us((pid_t)c, depth - 1);

					if (!isnan(v))
						total += v;
				}
				fclose(f);
			}
		}
	}
	closedir(d);
	return any ? total : NAN;
}

/* A free loopback port (bound and released; the kernel does not hand it out
 * again right away). Returns the port in host order or -errno. */
static int pick_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len))
		ret = -errno;
	else
		ret = ntohs(sin.sin_port);
	close(fd);
	return ret;
}

static int make_msg(bool response, size_t body, uint8_t **out, size_t *len)
{
	char head[256];
	int n = response ? bench_http_response_head(head, sizeof(head), body)
			 : bench_http_request_head(head, sizeof(head), body);

	if (n < 0)
		return n;
	*out = malloc((size_t)n + body);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, head, (size_t)n);
	memset(*out + n, response ? 'r' : 'q', body);
	*len = (size_t)n + body;
	return 0;
}

/* Send as much of out_left copies of msg as the socket takes; *pos is the
 * offset inside the current copy. Returns 0 (all sent or EAGAIN) or -errno. */
static int flush_msgs(int fd, const uint8_t *msg, size_t msg_len, uint64_t *out_left, size_t *pos,
		      uint64_t *sent)
{
	while (*out_left) {
		size_t chunk = msg_len - *pos;
		ssize_t n;

		if (chunk > *out_left)
			chunk = (size_t)*out_left;
		n = send(fd, msg + *pos, chunk, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		*out_left -= (uint64_t)n;
		*sent += (uint64_t)n;
		*pos = (*pos + (size_t)n) % msg_len;
	}
	return 0;
}

/* ---- server -------------------------------------------------------------- */

struct sconn {
	int fd;
	bool writing;
	uint64_t out_left, sent;
	size_t pos;
	struct sconn *next, *prev;
	struct bench_http_parser par;
};

struct server {
	const struct bench_cell_spec *spec;
	struct side *s;
	int ep;
	uint8_t *resp;
	size_t resp_len;
	struct sconn *conns;
	uint64_t tcp_bytes, app_bytes;
};

static void sconn_close(struct server *sv, struct sconn *c)
{
	if (sv->spec->kind != BENCH_PATH_UNIX) {
		sv->tcp_bytes += tcp_bytes_sent(c->fd);
		sv->app_bytes += c->sent;
	}
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		sv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Read requests, queue one response per request, write. Returns false when
 * the connection went away. */
static bool sconn_io(struct server *sv, struct sconn *c, uint32_t events, uint8_t *buf)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = recv(c->fd, buf, IO_BUF, 0);
			size_t off = 0;

			if (n == 0)
				return false;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					break;
				return false;
			}
			while (off < (size_t)n) {
				bool done;
				ssize_t used = bench_http_feed(&c->par, (char *)buf + off,
							       (size_t)n - off, &done);

				if (used < 0) {
					sv->s->errors++;
					return false;
				}
				off += (size_t)used;
				if (done)
					c->out_left += sv->resp_len;
			}
			if ((size_t)n < IO_BUF)
				break;
		}
	}
	if (flush_msgs(c->fd, sv->resp, sv->resp_len, &c->out_left, &c->pos, &c->sent))
		return false;
	/* backpressure: stop reading while responses are pending */
	if ((c->out_left != 0) != c->writing) {
		struct epoll_event ev = {.events = c->out_left ? EPOLLOUT : EPOLLIN, .data.ptr = c};

		c->writing = c->out_left != 0;
		epoll_ctl(sv->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return true;
}

static int l7_server_main(const struct bench_cell_spec *spec, struct bench_shared *sh, int ready_fd,
			  pid_t parent, int port)
{
	struct server sv = {.spec = spec, .s = &sh->server, .ep = -1};
	struct side *s = &sh->server;
	struct epoll_event ev, evs[MAX_EVENTS];
	uint16_t ready_port = 0;
	uint8_t *buf = NULL;
	double cpu0 = 0;
	int lfd = -1, ret = 1, phase_seen = 0;

	if (wl_child_setup(spec, spec->server_cpus, spec->server_netns, parent, s))
		goto cleanup;
	buf = malloc(IO_BUF);
	if (!buf || make_msg(true, spec->size, &sv.resp, &sv.resp_len)) {
		wl_side_fail(s, "malloc", ENOMEM);
		goto cleanup;
	}
	lfd = wl_bind_server(spec, parent, port, SOCK_NONBLOCK, s, &ready_port);
	if (lfd < 0)
		goto cleanup;
	sv.ep = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
	if (listen(lfd, 4096) || sv.ep < 0 || epoll_ctl(sv.ep, EPOLL_CTL_ADD, lfd, &ev)) {
		wl_side_fail(s, "listen", errno);
		goto cleanup;
	}
	if (wl_send_ready(ready_fd, ready_port, s))
		goto cleanup;
	for (;;) {
		int n = epoll_wait(sv.ep, evs, MAX_EVENTS, SERVER_TICK_MS);
		int ph = atomic_load_explicit(&sh->phase, memory_order_relaxed);

		if (ph >= 1 && phase_seen < 1) {
			cpu0 = wl_cpu_us_now();
			phase_seen = 1;
		}
		if (ph >= 2 && phase_seen < 2) {
			s->cpu_us = wl_cpu_us_now() - cpu0;
			phase_seen = 2;
		}
		if (ph >= 3)
			break;
		if (getppid() != parent)
			break;
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;

			if (!c) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					bench_http_parser_init(&c->par, false);
					if (spec->kind != BENCH_PATH_UNIX)
						set_nodelay(fd);
					c->next = sv.conns;
					if (sv.conns)
						sv.conns->prev = c;
					sv.conns = c;
					ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(sv.ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (!sconn_io(&sv, c, evs[i].events, buf))
				sconn_close(&sv, c);
		}
	}
	if (phase_seen == 1)
		s->cpu_us = wl_cpu_us_now() - cpu0;
	while (sv.conns)
		sconn_close(&sv, sv.conns);
	s->tcp_bytes = sv.tcp_bytes;
	s->app_bytes = sv.app_bytes;
	s->tcp_info_ok = spec->kind != BENCH_PATH_UNIX;
	ret = 0;
cleanup:
	while (sv.conns)
		sconn_close(&sv, sv.conns);
	if (sv.ep >= 0)
		close(sv.ep);
	if (lfd >= 0)
		close(lfd);
	free(sv.resp);
	free(buf);
	return ret;
}

/* ---- client -------------------------------------------------------------- */

enum cstate { C_IDLE, C_CONNECTING, C_BUSY, C_DEAD };

struct cconn {
	int fd;
	enum cstate st;
	uint64_t t_start;    /* connect() call (connect) or request send (http) */
	uint64_t t_intended; /* open loop: when it was meant to start */
	bool in_window;	     /* open loop: intended inside the window */
	uint64_t out_left, sent;
	size_t pos;
	struct bench_http_parser par;
};

struct client {
	const struct bench_cell_spec *spec;
	struct bench_shared *sh;
	struct side *s;
	int ep;
	uint16_t port; /* network order */
	pid_t parent;
	uint8_t *req;
	size_t req_len;
	struct cconn *c;
	int *idle; /* stack of idle slots */
	int n_idle, n_alive;
	uint64_t t0, ws, we, drain_end;
	uint64_t ws_seen, we_seen;
	int phase;
	double cpu0, proxy0;
	pid_t proxy_pid;
	/* open loop */
	uint64_t next_i, first_win_i, end_i;
	uint64_t tcp_bytes, app_bytes;
};

static void client_sample(struct client *cl, uint64_t lat)
{
	struct bench_shared *sh = cl->sh;

	if (sh->n < sh->cap)
		sh->samples[sh->n++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
}

/* Account the socket's bytes and close it; the slot's state is untouched. */
static void slot_release(struct client *cl, int i)
{
	struct cconn *c = &cl->c[i];

	if (c->fd >= 0) {
		if (cl->spec->kind != BENCH_PATH_UNIX) {
			cl->tcp_bytes += tcp_bytes_sent(c->fd);
			cl->app_bytes += c->sent;
		}
		epoll_ctl(cl->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->sent = 0;
}

static void slot_close(struct client *cl, int i, bool dead)
{
	struct cconn *c = &cl->c[i];

	slot_release(cl, i);
	if (dead) {
		c->st = C_DEAD;
		cl->n_alive--;
	} else {
		c->st = C_IDLE;
		cl->idle[cl->n_idle++] = i;
	}
}

static void slot_events(struct client *cl, int i, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};

	epoll_ctl(cl->ep, EPOLL_CTL_MOD, cl->c[i].fd, &ev);
}

/* Put the request on the wire (http, or the connect exchange). */
static int slot_send(struct client *cl, int i)
{
	struct cconn *c = &cl->c[i];

	c->out_left = cl->req_len;
	c->pos = 0;
	if (flush_msgs(c->fd, cl->req, cl->req_len, &c->out_left, &c->pos, &c->sent))
		return -EPIPE;
	slot_events(cl, i, c->out_left ? EPOLLIN | EPOLLOUT : EPOLLIN);
	return 0;
}

static int open_socket(struct client *cl, int *fd_out, bool *connected)
{
	const struct bench_cell_spec *spec = cl->spec;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	struct sockaddr *sa;
	socklen_t alen;
	int fd;

	if (spec->kind == BENCH_PATH_UNIX) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		wl_unix_addr(spec, cl->parent, &sun, &alen);
		sa = (struct sockaddr *)&sun;
	} else {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = wl_server_ip(spec);
		sin.sin_port = cl->port;
		alen = sizeof(sin);
		sa = (struct sockaddr *)&sin;
	}
	if (fd < 0)
		return -errno;
	if (spec->kind != BENCH_PATH_UNIX)
		set_nodelay(fd);
	*connected = connect(fd, sa, alen) == 0;
	if (!*connected && errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		return -e;
	}
	*fd_out = fd;
	return 0;
}

/* An http request or connect attempt starts on idle slot i. */
static void slot_start(struct client *cl, int i, uint64_t now, uint64_t intended, bool in_window)
{
	struct cconn *c = &cl->c[i];
	bool connected = false;

	c->t_start = now;
	c->t_intended = intended;
	c->in_window = in_window;
	bench_http_parser_init(&c->par, true);
	if (cl->spec->workload == BENCH_HTTP) {
		c->st = C_BUSY;
		if (slot_send(cl, i)) {
			cl->s->errors++;
			slot_close(cl, i, true);
		}
		return;
	}
	/* connect */
	if (open_socket(cl, &c->fd, &connected)) {
		cl->s->errors++;
		c->st = C_IDLE;
		cl->idle[cl->n_idle++] = i;
		return;
	}
	{
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};

		epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
	c->st = C_CONNECTING; /* established or not: EPOLLOUT says so */
}

static bool in_win(const struct client *cl, uint64_t t)
{
	return t >= cl->ws && t < cl->we;
}

/* One finished op (response or connection) on slot i at time now. */
static void op_done(struct client *cl, int i, uint64_t now)
{
	struct cconn *c = &cl->c[i];

	if (cl->spec->rate > 0) {
		if (c->in_window) {
			if (cl->spec->workload == BENCH_HTTP)
				client_sample(cl, bench_ol_latency(c->t_intended, now));
			cl->s->win_ops++;
		}
	} else if (in_win(cl, now)) {
		if (cl->spec->workload == BENCH_HTTP)
			client_sample(cl, now - c->t_start);
		cl->s->win_ops++;
	}
}

static void slot_io(struct client *cl, int i, uint32_t events, uint8_t *buf, uint64_t now)
{
	struct cconn *c = &cl->c[i];

	if (c->st == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & EPOLLERR)) {
			cl->s->errors++;
			slot_close(cl, i, false);
			return;
		}
		/* connect latency: from the intended time (open loop) or the call */
		{
			uint64_t from = cl->spec->rate > 0 ? c->t_intended : c->t_start;
			bool count = cl->spec->rate > 0 ? c->in_window : in_win(cl, now);

			if (count)
				client_sample(cl, now - from);
		}
		if (!cl->spec->exchange) {
			op_done(cl, i, now);
			slot_close(cl, i, false);
			return;
		}
		c->st = C_BUSY;
		if (slot_send(cl, i)) {
			cl->s->errors++;
			slot_close(cl, i, false);
		}
		return;
	}
	if (c->st != C_BUSY)
		return;
	if ((events & EPOLLOUT) && c->out_left) {
		if (flush_msgs(c->fd, cl->req, cl->req_len, &c->out_left, &c->pos, &c->sent)) {
			cl->s->errors++;
			slot_close(cl, i, cl->spec->workload == BENCH_HTTP);
			return;
		}
		if (!c->out_left)
			slot_events(cl, i, EPOLLIN);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, buf, IO_BUF, 0);
		size_t off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* closed or reset with a request outstanding */
			cl->s->errors++;
			slot_close(cl, i, cl->spec->workload == BENCH_HTTP);
			return;
		}
		while (off < (size_t)n) {
			bool done;
			ssize_t used =
				bench_http_feed(&c->par, (char *)buf + off, (size_t)n - off, &done);

			if (used < 0 || (done && off + (size_t)used != (size_t)n)) {
				/* malformed, or bytes nobody asked for */
				cl->s->errors++;
				slot_close(cl, i, cl->spec->workload == BENCH_HTTP);
				return;
			}
			off += (size_t)used;
			if (!done)
				continue;
			if (c->par.status / 100 != 2)
				cl->s->errors++;
			else
				op_done(cl, i, now);
			if (cl->spec->workload == BENCH_HTTP) {
				c->st = C_IDLE;
				cl->idle[cl->n_idle++] = i;
			} else {
				slot_close(cl, i, false);
			}
			return;
		}
	}
}

static void window_edges(struct client *cl, uint64_t now)
{
	if (cl->phase == 0 && now >= cl->ws) {
		cl->phase = 1;
		cl->ws_seen = now;
		cl->cpu0 = wl_cpu_us_now();
		cl->proxy0 = cl->proxy_pid > 0 ? proc_cpu_us(cl->proxy_pid, 1) : NAN;
		atomic_store(&cl->sh->phase, 1);
	}
	if (cl->phase == 1 && now >= cl->we) {
		cl->phase = 2;
		cl->we_seen = now;
		cl->s->cpu_us = wl_cpu_us_now() - cl->cpu0;
		cl->s->proxy_cpu_us =
			cl->proxy_pid > 0 ? proc_cpu_us(cl->proxy_pid, 1) - cl->proxy0 : NAN;
		atomic_store(&cl->sh->phase, 2);
	}
}

/* Start what is due. Closed loop: every idle slot, until the window ends.
 * Open loop: requests whose intended time has come, oldest first. */
static void start_due(struct client *cl, uint64_t now)
{
	const struct bench_cell_spec *spec = cl->spec;

	if (spec->rate <= 0) {
		while (cl->n_idle && now < cl->we)
			slot_start(cl, cl->idle[--cl->n_idle], now, now, false);
		return;
	}
	{
		uint64_t due = bench_ol_due(cl->t0, spec->rate, now);

		if (due > cl->end_i)
			due = cl->end_i;
		while (cl->next_i < due && cl->n_idle) {
			uint64_t it = bench_ol_intended(cl->t0, spec->rate, cl->next_i);
			bool w = cl->next_i >= cl->first_win_i;

			if (w && bench_ol_is_late(it, now))
				cl->s->late++;
			slot_start(cl, cl->idle[--cl->n_idle], now, it, w);
			cl->next_i++;
		}
	}
}

static bool client_busy(const struct client *cl)
{
	for (int i = 0; i < cl->spec->conns; i++)
		if (cl->c[i].st == C_BUSY || cl->c[i].st == C_CONNECTING)
			return true;
	return false;
}

/* Nanoseconds until the next thing the loop must do by itself. */
static uint64_t next_deadline(const struct client *cl, uint64_t now)
{
	uint64_t t = cl->drain_end;

	if (cl->phase == 0 && cl->ws < t)
		t = cl->ws;
	if (cl->phase <= 1 && cl->we < t)
		t = cl->we;
	if (cl->spec->rate > 0 && cl->n_idle && cl->next_i < cl->end_i) {
		uint64_t it = bench_ol_intended(cl->t0, cl->spec->rate, cl->next_i);

		if (it < t)
			t = it;
	}
	return t > now ? t - now : 0;
}

static int client_loop(struct client *cl)
{
	struct epoll_event evs[MAX_EVENTS];
	uint8_t *buf = malloc(IO_BUF);

	if (!buf)
		return wl_side_fail(cl->s, "malloc", ENOMEM);
	for (;;) {
		uint64_t now = wl_now_ns(), wait;
		struct timespec ts;
		int n;

		window_edges(cl, now);
		start_due(cl, now);
		if (cl->n_alive == 0)
			break;
		if (now >= cl->we && (cl->spec->rate <= 0 || cl->next_i >= cl->end_i) &&
		    !client_busy(cl))
			break;
		if (now >= cl->drain_end)
			break;
		wait = next_deadline(cl, now);
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		n = epoll_pwait2(cl->ep, evs, MAX_EVENTS, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			free(buf);
			return wl_side_fail(cl->s, "epoll_pwait2", errno);
		}
		now = wl_now_ns();
		for (int i = 0; i < n; i++)
			slot_io(cl, (int)evs[i].data.u32, evs[i].events, buf, now);
	}
	free(buf);
	window_edges(cl, cl->we); /* a loop that ended early still closes the window */
	/* open loop: window requests never sent; sent but unanswered = errors */
	if (cl->spec->rate > 0 && cl->next_i < cl->end_i)
		cl->s->missed +=
			cl->end_i - (cl->next_i > cl->first_win_i ? cl->next_i : cl->first_win_i);
	for (int i = 0; i < cl->spec->conns; i++)
		if (cl->c[i].st == C_BUSY || cl->c[i].st == C_CONNECTING)
			cl->s->errors++;
	if (cl->n_alive == 0)
		return wl_side_fail_data(cl->s, "every connection failed", 0);
	return 0;
}

static int l7_client_main(const struct bench_cell_spec *spec, struct bench_shared *sh,
			  uint16_t port, pid_t parent, pid_t proxy_pid)
{
	struct client cl = {
		.spec = spec,
		.sh = sh,
		.s = &sh->client,
		.ep = -1,
		.port = port,
		.parent = parent,
		.proxy_pid = proxy_pid,
	};
	double drain;
	int ret = 1;

	if (wl_child_setup(spec, spec->client_cpus, spec->client_netns, parent, cl.s))
		goto cleanup;
	cl.c = calloc((size_t)spec->conns, sizeof(*cl.c));
	cl.idle = calloc((size_t)spec->conns, sizeof(*cl.idle));
	cl.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!cl.c || !cl.idle || cl.ep < 0 ||
	    make_msg(false, spec->workload == BENCH_HTTP ? spec->req_size : 0, &cl.req,
		     &cl.req_len)) {
		wl_side_fail(cl.s, "setup", errno ? errno : ENOMEM);
		goto cleanup;
	}
	for (int i = 0; i < spec->conns; i++)
		cl.c[i].fd = -1;
	cl.n_alive = spec->conns;
	if (spec->workload == BENCH_HTTP) {
		/* keep-alive connections, opened before the clock starts */
		for (int i = 0; i < spec->conns; i++) {
			struct pollfd pfd;
			bool connected;
			int err = 0;
			socklen_t len = sizeof(err);
			struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

			if (open_socket(&cl, &cl.c[i].fd, &connected)) {
				wl_side_fail(cl.s, "connect", errno);
				goto cleanup;
			}
			pfd = (struct pollfd){.fd = cl.c[i].fd, .events = POLLOUT};
			if (!connected &&
			    (poll(&pfd, 1, WL_SETUP_TIMEOUT_MS) != 1 ||
			     getsockopt(cl.c[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)) {
				wl_side_fail(cl.s, "connect", err ? err : ETIMEDOUT);
				goto cleanup;
			}
			epoll_ctl(cl.ep, EPOLL_CTL_ADD, cl.c[i].fd, &ev);
		}
	}
	for (int i = spec->conns - 1; i >= 0; i--)
		cl.idle[cl.n_idle++] = i;
	drain = fmax(DRAIN_MIN_S, spec->duration);
	cl.t0 = wl_now_ns();
	cl.ws = cl.t0 + (uint64_t)(spec->warmup * 1e9);
	cl.we = cl.ws + (uint64_t)(spec->duration * 1e9);
	cl.drain_end = cl.we + (uint64_t)(drain * 1e9);
	if (spec->rate > 0) {
		cl.first_win_i = bench_ol_due(cl.t0, spec->rate, cl.ws - 1);
		cl.end_i = bench_ol_due(cl.t0, spec->rate, cl.we - 1);
	}
	ret = client_loop(&cl);
	/* open loop counts the requests meant for the window: nominal length */
	cl.s->win_s = spec->rate > 0 ? spec->duration : (double)(cl.we_seen - cl.ws_seen) / 1e9;
	for (int i = 0; i < spec->conns; i++)
		slot_release(&cl, i);
	cl.s->tcp_bytes = cl.tcp_bytes;
	cl.s->app_bytes = cl.app_bytes;
	cl.s->tcp_info_ok = spec->kind != BENCH_PATH_UNIX;
cleanup:
	atomic_store(&sh->phase, 3);
	if (cl.c)
		for (int i = 0; i < spec->conns; i++)
			if (cl.c[i].fd >= 0)
				close(cl.c[i].fd);
	if (cl.ep >= 0)
		close(cl.ep);
	free(cl.c);
	free(cl.idle);
	free(cl.req);
	return ret;
}

/* ---- proxies ------------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int ret = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -EIO;
	if (!ret && chmod(path, 0644))
		ret = -errno;
	return ret;
}

static int shunt_proxy_config(const struct bench_cell_spec *spec, const char *path, int lport,
			      int bport, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = NULL, *proxy, *listeners;
	char laddr[32], baddr[32];
	int ret = -EINVAL;

	snprintf(laddr, sizeof(laddr), "127.0.0.1:%d", lport);
	snprintf(baddr, sizeof(baddr), "127.0.0.1:%d", bport);
	if (spec->proxy_config) {
		root = json_load_file(spec->proxy_config, 0, &jerr);
		if (!root || !json_is_object(root)) {
			snprintf(err, errlen, "--proxy-config %s: %s", spec->proxy_config,
				 root ? "not a JSON object" : jerr.text);
			goto cleanup;
		}
	} else {
		root = json_object();
	}
	proxy = json_object_get(root, "proxy");
	if (!proxy) {
		proxy = json_object();
		json_object_set_new(root, "proxy", proxy);
	}
	listeners = json_pack("[{s:s, s:s, s:s}]", "name", "bench", "address", laddr, "upstream",
			      baddr);
	if (!json_is_object(proxy) || !listeners) {
		json_decref(listeners);
		snprintf(err, errlen, "--proxy-config: 'proxy' is not an object");
		goto cleanup;
	}
	json_object_set_new(proxy, "listeners", listeners);
	json_object_set_new(proxy, "workers", json_integer(1));
	if (json_dump_file(root, path, JSON_INDENT(1)) || chmod(path, 0644)) {
		snprintf(err, errlen, "cannot write %s", path);
		goto cleanup;
	}
	ret = 0;
cleanup:
	json_decref(root);
	return ret;
}

/* Write the proxy's config and fill argv. Returns 0 or -errno (err set). */
static int proxy_prepare(const struct bench_cell_spec *spec, int lport, int bport, char *cfg,
			 size_t cfg_len, const char **argv, char *err, size_t errlen)
{
	char text[4096];
	int n = 0, ret;

	switch (spec->kind) {
	case BENCH_PATH_PROXY:
	case BENCH_PATH_PROXY_ACCEL:
		snprintf(cfg, cfg_len, "%s/shunt-proxy-%u.json", spec->work_dir, spec->id);
		ret = shunt_proxy_config(spec, cfg, lport, bport, err, errlen);
		if (ret)
			return ret;
		argv[n++] = spec->proxy_bin;
		argv[n++] = "--config";
		argv[n++] = cfg;
		argv[n++] = "--log-level";
		argv[n++] = "warn";
		break;
	case BENCH_PATH_HAPROXY:
		snprintf(cfg, cfg_len, "%s/haproxy-%u.cfg", spec->work_dir, spec->id);
		snprintf(text, sizeof(text),
			 "global\n  nbthread 1\n  maxconn 8192\n"
			 "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n"
			 "  timeout server 30s\n  http-reuse always\n"
			 "frontend fe\n  bind 127.0.0.1:%d\n  default_backend be\n"
			 "backend be\n  server s1 127.0.0.1:%d\n",
			 lport, bport);
		argv[n++] = spec->proxy_bin;
		argv[n++] = "-f";
		argv[n++] = cfg;
		argv[n++] = "-db";
		break;
	case BENCH_PATH_NGINX:
		snprintf(cfg, cfg_len, "%s/nginx-%u.conf", spec->work_dir, spec->id);
		snprintf(text, sizeof(text),
			 "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
			 "pid %s/nginx-%u.pid;\nerror_log stderr error;\n"
			 "events { worker_connections 8192; }\n"
			 "http {\n  access_log off;\n"
			 "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;\n"
			 "  uwsgi_temp_path %s; scgi_temp_path %s;\n"
			 "  keepalive_requests 1000000; client_max_body_size 0;\n"
			 "  upstream back { server 127.0.0.1:%d; keepalive 64; "
			 "keepalive_requests 1000000; }\n"
			 "  server {\n    listen 127.0.0.1:%d;\n    location / {\n"
			 "      proxy_pass http://back; proxy_http_version 1.1;\n"
			 "      proxy_set_header Connection \"\";\n    }\n  }\n}\n",
			 spec->work_dir, spec->id, spec->work_dir, spec->work_dir, spec->work_dir,
			 spec->work_dir, spec->work_dir, bport, lport);
		argv[n++] = spec->proxy_bin;
		argv[n++] = "-e";
		argv[n++] = "stderr";
		argv[n++] = "-p";
		argv[n++] = spec->work_dir;
		argv[n++] = "-c";
		argv[n++] = cfg;
		break;
	default:
		snprintf(err, errlen, "not a proxy path");
		return -EINVAL;
	}
	argv[n] = NULL;
	if (spec->kind == BENCH_PATH_HAPROXY || spec->kind == BENCH_PATH_NGINX) {
		ret = write_file(cfg, text);
		if (ret) {
			snprintf(err, errlen, "cannot write %s: %s", cfg, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* Last non-empty line of a log, for error messages. */
static void log_tail(const char *path, char *out, size_t len)
{
	char line[256];
	FILE *f = fopen(path, "re");

	snprintf(out, len, "no output");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(out, len, "%s", line);
	}
	fclose(f);
}

static bool port_answers(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

static void proxy_stop(pid_t *pid)
{
	pid_t pids[1] = {*pid};

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	if (wl_wait_children(pids, 1, PROXY_STOP_MS) != 0 || pids[0] > 0)
		wl_kill_and_reap(pids, 1);
	*pid = -1;
}

/* Start the proxy of the cell in its cgroup, pinned to the server's CPU, and
 * wait until it accepts connections. */
static int proxy_start(const struct bench_cell_spec *spec, int lport, int bport, pid_t *out,
		       char *log, size_t log_len, char *err, size_t errlen)
{
	const char *argv[16];
	char cfg[4096], tail[300];
	pid_t parent = getpid(), pid;
	uint64_t deadline;
	int ret;

	ret = proxy_prepare(spec, lport, bport, cfg, sizeof(cfg), argv, err, errlen);
	if (ret)
		return ret;
	snprintf(log, log_len, "%s/proxy-%u.log", spec->work_dir, spec->id);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		struct side dummy = {0};
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (wl_child_setup(spec, spec->server_cpus, NULL, parent, &dummy)) {
			fprintf(stderr, "shunt-bench: %s\n", dummy.msg);
			_exit(126);
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "shunt-bench: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*out = pid;
	deadline = wl_now_ns() + (uint64_t)PROXY_READY_MS * 1000000ull;
	for (;;) {
		int status;

		if (port_answers(lport))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*out = -1;
			log_tail(log, tail, sizeof(tail));
			snprintf(err, errlen, "%s exited at start: %s", argv[0], tail);
			return -EIO;
		}
		if (bench_stop || wl_now_ns() >= deadline) {
			proxy_stop(out);
			if (bench_stop)
				return -EINTR;
			log_tail(log, tail, sizeof(tail));
			snprintf(err, errlen, "%s not listening after %d ms: %s", argv[0],
				 PROXY_READY_MS, tail);
			return -ETIMEDOUT;
		}
		poll(NULL, 0, PROBE_GAP_MS); /* startup probe with a deadline */
	}
}

/* ---- the cell ------------------------------------------------------------ */

static void fill_l7_sample(const struct bench_cell_spec *spec, struct bench_shared *sh,
			   struct bench_sample *out)
{
	const struct side *c = &sh->client, *s = &sh->server;
	double ops = (double)c->win_ops;

	memset(out, 0, sizeof(*out));
	bench_fill_latency(sh->samples, sh->n, out);
	out->ops = c->win_ops;
	out->rps = c->win_s > 0 ? ops / c->win_s : 0;
	out->cpu_client_us = ops > 0 ? c->cpu_us / ops : NAN;
	out->cpu_server_us = ops > 0 ? s->cpu_us / ops : NAN;
	out->cpu_proxy_us = ops > 0 && !isnan(c->proxy_cpu_us) ? c->proxy_cpu_us / ops : NAN;
	out->cpu_us_per_op = out->cpu_client_us + out->cpu_server_us +
			     (isnan(out->cpu_proxy_us) ? 0 : out->cpu_proxy_us);
	out->cpu_us_per_mb = NAN;
	out->mbps = NAN;
	out->errors = c->errors + s->errors;
	out->late = c->late;
	out->missed = c->missed;
	out->tcp_fraction = NAN;
	if (spec->kind != BENCH_PATH_UNIX && c->app_bytes + s->app_bytes > 0)
		out->tcp_fraction = (double)(c->tcp_bytes + s->tcp_bytes) /
				    (double)(c->app_bytes + s->app_bytes);
	out->valid = true;
}

int bench_run_l7_cell(const struct bench_cell_spec *spec, struct bench_shared *sh,
		      struct bench_sample *out, char *err, size_t errlen)
{
	pid_t parent = getpid(), pids[2] = {-1, -1}, proxy = -1; /* server, client */
	bool is_proxy = spec->kind >= BENCH_PATH_PROXY;
	char log[4096] = "";
	int ret = 0, timeout_ms, bport = 0, lport = 0;
	uint16_t target = 0;

	wl_cell_reset(sh, out);
	if (is_proxy) {
		bport = pick_port();
		lport = pick_port();
		if (bport < 0 || lport < 0 || bport == lport) {
			snprintf(err, errlen, "no free loopback port");
			return -EADDRINUSE;
		}
	}
	ret = wl_start_server(spec, sh, l7_server_main, bport, &pids[0], &target, err, errlen);
	if (ret)
		goto cleanup;
	if (is_proxy) {
		ret = proxy_start(spec, lport, bport, &proxy, log, sizeof(log), err, errlen);
		if (ret)
			goto cleanup;
		target = htons((uint16_t)lport);
	}

	pids[1] = fork();
	if (pids[1] < 0) {
		ret = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-ret));
		goto cleanup;
	}
	if (pids[1] == 0)
		_exit(l7_client_main(spec, sh, target, parent, proxy));

	timeout_ms =
		(int)((spec->warmup + 2 * spec->duration + DRAIN_MIN_S + 2 * WL_SLACK_SECONDS) *
		      1000);
	ret = wl_wait_children(&pids[1], 1, timeout_ms);
	atomic_store(&sh->phase, 3); /* the server exits at its next tick */
	if (ret == 0 || ret == 1)
		ret = wl_wait_children(pids, 1, WL_SETUP_TIMEOUT_MS) < 0 ? -ETIMEDOUT : ret;
	if (ret == -EINTR)
		goto cleanup;
	if (ret == -ETIMEDOUT) {
		ret = wl_cell_stalled(timeout_ms, err, errlen);
		goto cleanup;
	}
	if (proxy > 0 && waitpid(proxy, NULL, WNOHANG) == proxy) {
		proxy = -1;
		snprintf(err, errlen, "the proxy exited during the cell (log %s)", log);
		ret = -EBADMSG;
		goto cleanup;
	}
	ret = wl_cell_failed(sh, ret, err, errlen);
	if (ret)
		goto cleanup;
	fill_l7_sample(spec, sh, out);
cleanup:
	wl_kill_and_reap(pids, 2);
	proxy_stop(&proxy);
	if (log[0] && ret == 0)
		unlink(log);
	else if (log[0] && ret != -EINTR && strlen(err) + 20 < errlen)
		snprintf(err + strlen(err), errlen - strlen(err), " (log %s)", log);
	return ret;
}
