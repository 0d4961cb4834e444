// SPDX-License-Identifier: Apache-2.0
/*
 * Connections: listener -> downstream connection -> request engine ->
 * verdict -> upstream connection (pooled) -> response relay. Connections of
 * "mode": "tcp" listeners go to the opaque relay of tcp.c at accept.
 *
 * Requests on one downstream connection are handled strictly one at a time:
 * the next pipelined head is not even parsed before the previous response is
 * complete, so responses come back in order and each request is judged on
 * its own. Memory of a connection is freed only in its last close callback;
 * every callback checks the state first.
 */
#include "proxy.h"
#include "splice.h"
#include "verdict.h"

#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

enum sp_conn_state { SP_CONN_OPEN = 0, SP_CONN_CLOSING };

enum sp_req_state {
	RQ_HEAD = 0,  /* reading the next request head */
	RQ_BODY,      /* reading the body (forwarded if allowed, skipped if denied) */
	RQ_WAIT_RESP, /* request complete, response still coming */
	RQ_TUNNEL,    /* upgraded: raw bytes both ways */
	RQ_DONE,      /* last response written, closing */
};

enum sp_timer_kind { T_NONE = 0, T_HEADER, T_IDLE, T_CONNECT, T_UPSTREAM };

struct sp_conn;

struct sp_upstream {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct sp_worker *w;
	struct sp_conn *conn; /* NULL when pooled (idle) or orphaned */
	struct sp_list link;  /* in w->idle_upstreams while idle */
	struct sockaddr_storage addr;
	struct sp_resp resp;
	bool connected;
	bool closing;
	bool idle;
	bool read_paused;
	bool reused;
	bool broken;	     /* never reuse */
	uint64_t idle_since; /* uv_now() when pooled */
	uint64_t rd;	     /* bytes ever read from this socket (splice accounting) */
};

struct sp_conn {
	uv_tcp_t down;
	uv_timer_t timer;
	uv_shutdown_t shut;
	int open_handles;
	enum sp_conn_state state;
	struct sp_worker *w;
	struct sp_list link;
	struct sp_reqp reqp;
	bool reqp_ready;
	/* unparsed client bytes: an own buffer (in_cap > 0) only while some
	 * are left over between reads, else NULL; during on_down_read() it may
	 * point into the worker's read buffer (in_cap 0) */
	char *in;
	size_t in_off, in_len, in_cap;
	size_t obuf_len; /* bytes of this connection in w->obuf */
	struct sp_upstream *up;
	/* maxPipelined: responses produced but still queued for the client
	 * (last_wreq: the newest queued write to the client, if any) */
	unsigned resp_queued;
	struct sp_wreq *last_wreq;
	struct sockaddr_storage peer, dst;
	struct shunt_limits lim;

	enum sp_req_state rq;
	enum sp_timer_kind timer_kind;
	/* lazy timer: the deadline of timer_kind (loop ms, 0 = none) moves on
	 * every request; the uv timer is re-armed only when the deadline comes
	 * earlier than when it fires (armed_at) */
	uint64_t deadline, armed_at;
	bool forward;	   /* current request allowed (body goes upstream) */
	bool req_done;	   /* current request fully read */
	bool resp_done;	   /* current response fully written (or queued) */
	bool close_after;  /* close after the current response */
	bool down_paused;  /* not reading from the client (backpressure) */
	bool down_blocked; /* processing held until the client reads its answers */
	bool down_eof;
	bool shutting;
	bool local_resp; /* a local response was written for this request */
	bool counted;
	bool retried; /* re-sent once after a stale pooled connection */
	bool used;    /* a request was answered: a drain may close it when idle */
	bool enforce; /* its listener judges requests (else all allowed, "none") */
	/* a tunnel the kernel may splice (see conn_splice_report) */
	bool spliced;	       /* sp_splice_link() succeeded */
	bool rep_down, rep_up; /* sp_splice_fwd() still wanted for that side */
	uint64_t down_rd;      /* bytes ever read from the client */

	/* current request, for the access log */
	uint64_t req_start;
	char method[SP_MAX_METHOD];
	char path[512];
	size_t path_len;
	char policy[256];
	bool has_policy;
	char source[128];
	bool source_is_ip; /* source holds the peer's address (fixed per connection) */
	int verdict;
	int status;
	uint64_t bytes_in, bytes_out;
};

static void on_down_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_down_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_down_write(uv_write_t *req, int status);
static void on_down_shutdown(uv_shutdown_t *req, int status);
static void on_conn_close(uv_handle_t *h);
static void on_conn_timer(uv_timer_t *t);
static void on_up_connect(uv_connect_t *req, int status);
static void on_up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_up_write(uv_write_t *req, int status);
static void on_up_close(uv_handle_t *h);
static void on_drain_timer(uv_timer_t *t);

static void conn_process(struct sp_conn *c);
static void conn_splice_start(struct sp_conn *c);
static void conn_splice_report(struct sp_conn *c);
static bool conn_retry_stale(struct sp_conn *c);
static void conn_close(struct sp_conn *c);
static void up_close(struct sp_upstream *up);

/* ---- small helpers ---- */

/* Forget what this connection gathered in the worker's upstream buffer. */
static void obuf_drop(struct sp_conn *c)
{
	c->obuf_len = 0;
	if (c->w->obuf_owner == c)
		c->w->obuf_owner = NULL;
}

static bool sockaddr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* strlcpy: the hot path avoids snprintf("%s") */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int sp_stream_send(uv_stream_t *s, const char *a, size_t alen, const char *b, size_t blen,
		   uv_write_cb cb, void *data, struct sp_wreq **queued)
{
	uv_buf_t bufs[2];
	size_t total = alen + blen, skip = 0;
	unsigned nb = 0;
	struct sp_wreq *wr;
	uv_buf_t one;
	int err;

	if (total == 0)
		return 0;
	if (alen)
		bufs[nb++] = uv_buf_init((char *)a, (unsigned)alen);
	if (blen)
		bufs[nb++] = uv_buf_init((char *)b, (unsigned)blen);
	if (uv_stream_get_write_queue_size(s) == 0) {
		int n = uv_try_write(s, bufs, nb);

		if (n == (int)total)
			return 0;
		if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS)
			return n;
		if (n > 0)
			skip = (size_t)n;
	}
	wr = malloc(sizeof(*wr) + total - skip);
	if (!wr)
		return UV_ENOMEM;
	wr->len = total - skip;
	wr->responses = 0;
	if (skip < alen) {
		memcpy(wr->data, a + skip, alen - skip);
		if (blen)
			memcpy(wr->data + alen - skip, b, blen);
	} else {
		memcpy(wr->data, b + (skip - alen), total - skip);
	}
	wr->req.data = data;
	one = uv_buf_init(wr->data, (unsigned)wr->len);
	err = uv_write(&wr->req, s, &one, 1, cb);
	if (err) {
		free(wr);
		return err;
	}
	if (queued)
		*queued = wr;
	return 0;
}

double sp_now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- generations ---- */

void sp_worker_refresh_gen(struct sp_worker *w)
{
	struct sp_gen *old = w->gen;

	if (old && atomic_load_explicit(&w->srv->gen_seq, memory_order_acquire) == old->seq)
		return;
	w->gen = sp_server_gen(w->srv);
	if (old)
		sp_gen_put(old);
}

/* ---- timers ---- */

static void conn_timer(struct sp_conn *c, enum sp_timer_kind kind)
{
	uint64_t ms = 0, now;

	c->timer_kind = kind;
	switch (kind) {
	case T_HEADER:
		ms = c->lim.header_timeout_ms;
		break;
	case T_IDLE:
		ms = c->lim.idle_timeout_ms;
		break;
	case T_CONNECT:
		ms = c->lim.connect_timeout_ms;
		break;
	case T_UPSTREAM:
		ms = c->lim.upstream_timeout_ms;
		break;
	case T_NONE:
		break;
	}
	if (ms == 0) {
		/* an armed timer finds no deadline and does nothing */
		c->deadline = 0;
		return;
	}
	/* a timer restart per request phase costs more than the rest of the
	 * request's bookkeeping (heap removal + insertion): only move the
	 * deadline, and re-arm only when it comes earlier than the armed one */
	now = uv_now(&c->w->loop);
	c->deadline = now + ms;
	if (!c->armed_at || c->deadline < c->armed_at) {
		uv_timer_start(&c->timer, on_conn_timer, ms, 0);
		c->armed_at = c->deadline;
	}
}

/* ---- access log + metrics ---- */

static const char *verdict_names[SP_V_N] = {"allow", "deny", "malformed", "error"};

static bool access_log_on(struct sp_worker *w)
{
	return atomic_load_explicit(&w->srv->access_log_fd, memory_order_acquire) >= 0 &&
	       !atomic_load_explicit(&w->srv->access_log_off, memory_order_relaxed);
}

void sp_access_log_write(struct sp_worker *w, const struct sp_log_entry *e)
{
	int log_fd = atomic_load_explicit(&w->srv->access_log_fd, memory_order_acquire);
	char line[2048];
	size_t n;

	if (log_fd < 0 || atomic_load_explicit(&w->srv->access_log_off, memory_order_relaxed))
		return;
	n = sp_render_log(line, sizeof(line), e);
	/* one write() per line: lines of concurrent workers never interleave */
	if (write(log_fd, line, n) < 0)
		sp_log(SP_LOG_DEBUG, "access log write failed: %s", strerror(errno));
}

static void conn_log_request(struct sp_conn *c)
{
	struct sp_worker *w = c->w;
	uint64_t dur_ns = uv_hrtime() - c->req_start;
	double dur = (double)dur_ns / 1e9;

	if (c->counted)
		return;
	c->counted = true;
	c->used = true;
	STAT_ADD(w, requests[c->verdict], 1);
	if (c->status > 0 && c->status < SP_STATUS_SLOTS)
		STAT_ADD(w, status[c->status], 1);
	STAT_ADD(w, lat_bucket[sp_lat_bucket(dur)], 1);
	STAT_ADD(w, lat_sum_us, dur_ns / 1000);
	STAT_ADD(w, lat_count, 1);
	STAT_ADD(w, bytes_in, c->bytes_in);
	STAT_ADD(w, bytes_out, c->bytes_out);
	if (access_log_on(w)) {
		struct sp_log_entry e = {
			.time = sp_now_unix(),
			.source = c->source,
			.method = c->method,
			.path = c->path,
			.path_len = c->path_len,
			.verdict = verdict_names[c->verdict],
			.policy = c->has_policy ? c->policy : NULL,
			.status = c->status,
			.bytes_in = c->bytes_in,
			.bytes_out = c->bytes_out,
			.duration = dur,
		};

		sp_access_log_write(w, &e);
	}
}

static void conn_reset_request(struct sp_conn *c)
{
	c->forward = false;
	c->req_done = false;
	c->resp_done = false;
	c->local_resp = false;
	c->counted = false;
	c->retried = false;
	c->req_start = 0;
	c->method[0] = '\0';
	c->path_len = 0;
	c->has_policy = false;
	c->verdict = SP_V_ALLOW;
	c->status = 0;
	c->bytes_in = 0;
	c->bytes_out = 0;
}

/* ---- closing ---- */

static void conn_close(struct sp_conn *c)
{
	if (c->state == SP_CONN_CLOSING)
		return;
	c->state = SP_CONN_CLOSING;
	if (c->req_start && !c->counted && (c->method[0] || c->status))
		conn_log_request(c);
	list_del(&c->link);
	if (c->up) {
		struct sp_upstream *up = c->up;

		c->up = NULL;
		up->conn = NULL;
		up_close(up);
	}
	uv_timer_stop(&c->timer);
	c->open_handles = 2;
	uv_close((uv_handle_t *)&c->down, on_conn_close);
	uv_close((uv_handle_t *)&c->timer, on_conn_close);
}

static void on_conn_close(uv_handle_t *h)
{
	struct sp_conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	atomic_fetch_sub_explicit(&c->w->stats.conns_active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->w->srv->conns, 1, memory_order_relaxed);
	if (c->reqp_ready)
		sp_reqp_free(&c->reqp);
	if (c->w->obuf_owner == c)
		c->w->obuf_owner = NULL;
	free(c->in);
	free(c);
}

/* Close once everything queued to the client has been written. */
static void conn_close_after_write(struct sp_conn *c)
{
	int err;

	if (c->state != SP_CONN_OPEN || c->shutting)
		return;
	c->rq = RQ_DONE;
	c->shutting = true;
	uv_read_stop((uv_stream_t *)&c->down);
	if (c->up) {
		struct sp_upstream *up = c->up;

		c->up = NULL;
		up->conn = NULL;
		up_close(up);
	}
	conn_timer(c, T_IDLE); /* bound the time a slow reader can hold us */
	err = uv_shutdown(&c->shut, (uv_stream_t *)&c->down, on_down_shutdown);
	if (err)
		conn_close(c);
}

static void on_down_shutdown(uv_shutdown_t *req, int status)
{
	struct sp_conn *c = req->data;

	conn_close(c);
}

static void up_close(struct sp_upstream *up)
{
	if (up->closing)
		return;
	up->closing = true;
	if (up->idle) {
		list_del(&up->link);
		up->w->n_idle_upstreams--;
		up->idle = false;
	}
	uv_close((uv_handle_t *)&up->tcp, on_up_close);
}

static void on_up_close(uv_handle_t *h)
{
	free(h->data);
}

/* ---- local responses ---- */

static void conn_send_local(struct sp_conn *c, const char *buf, size_t len)
{
	int err = sp_stream_send((uv_stream_t *)&c->down, buf, len, NULL, 0, on_down_write, c,
				 &c->last_wreq);

	c->local_resp = true;
	c->bytes_out += len;
	if (err)
		conn_close(c);
}

/* Answer the current request locally with status (400/408/431/502/503/504)
 * and close; used for malformed requests and upstream failures. */
static void conn_fail(struct sp_conn *c, int status, int verdict, const char *why)
{
	char buf[512];
	size_t n;
	bool resp_started = c->up && c->up->resp.started;

	if (c->state != SP_CONN_OPEN || c->shutting)
		return;
	obuf_drop(c); /* never flushed: the upstream connection is dropped */
	if (why)
		sp_log(SP_LOG_DEBUG, "conn %p: %d %s", (void *)c, status, why);
	if (!c->req_start)
		c->req_start = uv_hrtime();
	/* the upstream saw part of this request (or nothing): never reuse it */
	if (c->up) {
		struct sp_upstream *up = c->up;

		c->up = NULL;
		up->conn = NULL;
		up_close(up);
	}
	c->verdict = verdict;
	if (c->local_resp || resp_started) {
		/* a response is already (partly) on the wire: all we can do */
		if (!c->status)
			c->status = status;
		conn_log_request(c);
		if (resp_started)
			conn_close(c); /* truncated upstream response: reset */
		else
			conn_close_after_write(c); /* deliver the local answer */
		return;
	}
	c->status = status;
	n = sp_render_error(buf, sizeof(buf), status, true);
	conn_send_local(c, buf, n);
	conn_log_request(c);
	conn_close_after_write(c);
}

/* ---- backpressure ---- */

/* A response is complete (written or queued): if its tail is still queued,
 * it counts against maxPipelined until that write completes. */
static void conn_response_end(struct sp_conn *c)
{
	if (c->last_wreq && uv_stream_get_write_queue_size((uv_stream_t *)&c->down) > 0) {
		c->last_wreq->responses++;
		c->resp_queued++;
	}
}

/* limits.maxPipelined: requests are handled one at a time, so what piles up
 * for a client that does not read is answers; with maxPipelined of them
 * queued, no further request is parsed (and reading stops) until they drain */
static bool conn_pipeline_full(const struct sp_conn *c)
{
	return c->lim.max_pipelined && c->resp_queued >= c->lim.max_pipelined;
}

static void conn_update_down_reading(struct sp_conn *c)
{
	bool want = c->state == SP_CONN_OPEN && !c->shutting && !c->down_eof;
	size_t limit = c->lim.max_buffer_bytes;

	if (want && c->in_len - c->in_off > limit)
		want = false;
	if (want && c->up && uv_stream_get_write_queue_size((uv_stream_t *)&c->up->tcp) > limit)
		want = false;
	if (want && c->down_blocked)
		want = false;
	if (want && c->rq == RQ_WAIT_RESP && c->in_len - c->in_off > 0)
		want = c->in_len - c->in_off < limit / 2;
	if (want && c->down_paused) {
		c->down_paused = false;
		uv_read_start((uv_stream_t *)&c->down, on_down_alloc, on_down_read);
	} else if (!want && !c->down_paused) {
		c->down_paused = true;
		uv_read_stop((uv_stream_t *)&c->down);
	}
}

static void up_update_reading(struct sp_upstream *up)
{
	struct sp_conn *c = up->conn;
	bool want = true;

	if (up->closing || !up->connected)
		return;
	if (c && uv_stream_get_write_queue_size((uv_stream_t *)&c->down) > c->lim.max_buffer_bytes)
		want = false;
	if (want && up->read_paused) {
		up->read_paused = false;
		uv_read_start((uv_stream_t *)&up->tcp, on_up_alloc, on_up_read);
	} else if (!want && !up->read_paused) {
		up->read_paused = true;
		uv_read_stop((uv_stream_t *)&up->tcp);
	}
}

static void on_down_write(uv_write_t *req, int status)
{
	struct sp_wreq *wr = container_of(req, struct sp_wreq, req);
	struct sp_conn *c = req->data;

	c->resp_queued -= wr->responses;
	if (c->last_wreq == wr)
		c->last_wreq = NULL;
	free(wr);
	if (c->state != SP_CONN_OPEN)
		return;
	if (status < 0) {
		sp_log(SP_LOG_DEBUG, "conn %p: write to client failed: %s", (void *)c,
		       uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->rq == RQ_TUNNEL)
		conn_splice_report(c);
	if (c->timer_kind == T_UPSTREAM && c->up && c->up->read_paused)
		conn_timer(c, T_UPSTREAM); /* slow client, not a slow upstream */
	if (c->up && c->up->read_paused &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->down) < c->lim.max_buffer_bytes / 2)
		up_update_reading(c->up);
	/* local answers (403s to pipelined requests) were held back */
	if (c->down_blocked &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->down) < c->lim.max_buffer_bytes / 2 &&
	    !conn_pipeline_full(c)) {
		c->down_blocked = false;
		conn_process(c);
		if (c->state == SP_CONN_OPEN)
			conn_update_down_reading(c);
	}
}

static void on_up_write(uv_write_t *req, int status)
{
	struct sp_wreq *wr = container_of(req, struct sp_wreq, req);
	struct sp_upstream *up = req->data;
	struct sp_conn *c;

	free(wr);
	if (up->closing)
		return;
	c = up->conn;
	if (status < 0) {
		up->broken = true;
		if (c && conn_retry_stale(c))
			return;
		if (c)
			conn_fail(c, 502, SP_V_ERROR, "upstream write failed");
		else
			up_close(up);
		return;
	}
	if (c && c->timer_kind == T_UPSTREAM)
		conn_timer(c, T_UPSTREAM); /* the upstream is making progress */
	if (c && c->rq == RQ_TUNNEL)
		conn_splice_report(c);
	if (c && c->down_paused)
		conn_update_down_reading(c);
}

/* ---- tunnel splice ---- */

/*
 * A tunnel (101, or 2xx to CONNECT) is an opaque relay from then on, so the
 * kernel may splice it like a tcp listener's (see "Splice" in
 * bpf/shunt_bpf.h): the two sockets are linked at the switch to RQ_TUNNEL;
 * then, whenever nothing read from one side is left in the proxy (no
 * unparsed client bytes, nothing queued towards the other side), the kernel
 * hears how much was ever read from it (the HTTP heads and bodies before the
 * tunnel included: what matters is that none of it is still here).
 */
static void conn_splice_start(struct sp_conn *c)
{
	int err;

	if (!c->up)
		return;
	err = sp_splice_link(sp_tcp_fd(&c->down), sp_tcp_fd(&c->up->tcp));
	if (err) {
		/* ENOPROTOOPT without shuntd: the proxy relays */
		sp_log(SP_LOG_DEBUG, "conn %p: tunnel not spliced: %s", (void *)c, strerror(-err));
		return;
	}
	c->spliced = c->rep_down = c->rep_up = true;
	STAT_ADD(c->w, tunnels_spliced, 1);
}

static void conn_splice_report(struct sp_conn *c)
{
	if (!c->spliced || !c->up || c->state != SP_CONN_OPEN)
		return;
	if (c->rep_down && c->in_off == c->in_len && c->obuf_len == 0 &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->up->tcp) == 0 &&
	    sp_splice_fwd(sp_tcp_fd(&c->down), c->down_rd))
		c->rep_down = false; /* this side will never switch: stop asking */
	if (c->rep_up && uv_stream_get_write_queue_size((uv_stream_t *)&c->down) == 0 &&
	    sp_splice_fwd(sp_tcp_fd(&c->up->tcp), c->up->rd))
		c->rep_up = false;
}

/* ---- upstream ---- */

static int up_send(struct sp_conn *c, const char *a, size_t alen, const char *b, size_t blen)
{
	int err = sp_stream_send((uv_stream_t *)&c->up->tcp, a, alen, b, blen, on_up_write, c->up,
				 NULL);

	if (err) {
		conn_fail(c, 502, SP_V_ERROR, "upstream write failed");
		return err;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->up->tcp) > c->lim.max_buffer_bytes)
		conn_update_down_reading(c);
	return 0;
}

#define SP_OBUF_DIRECT 16384 /* larger pieces go out without a copy */

static int up_flush(struct sp_conn *c)
{
	size_t n = c->obuf_len;

	c->obuf_len = 0;
	if (c->w->obuf_owner == c)
		c->w->obuf_owner = NULL;
	if (!n || !c->up)
		return 0;
	/* sp_stream_send() copies what it cannot write at once */
	return up_send(c, c->w->obuf, n, NULL, 0);
}

static int up_queue(struct sp_conn *c, const char *d, size_t n)
{
	struct sp_worker *w = c->w;
	struct sp_conn *owner = w->obuf_owner;

	if (!c->up)
		return 0;
	if (c->obuf_len + n > SP_OBUF_MAX || (c->obuf_len == 0 && n >= SP_OBUF_DIRECT)) {
		if (up_flush(c))
			return -1;
		if (n >= SP_OBUF_DIRECT)
			return up_send(c, d, n, NULL, 0);
	}
	/* the worker's buffer holds another connection's pending bytes (not
	 * expected: every pass flushes or drops its own): no coalescing */
	if (owner && owner != c && owner->obuf_len)
		return up_send(c, d, n, NULL, 0);
	w->obuf_owner = c;
	memcpy(w->obuf + c->obuf_len, d, n);
	c->obuf_len += n;
	return 0;
}

static struct sp_upstream *pool_take(struct sp_worker *w, const struct sockaddr_storage *dst)
{
	struct sp_list *e;

	for (e = w->idle_upstreams.next; e != &w->idle_upstreams; e = e->next) {
		struct sp_upstream *up = container_of(e, struct sp_upstream, link);

		if (sockaddr_eq(&up->addr, dst)) {
			list_del(&up->link);
			w->n_idle_upstreams--;
			up->idle = false;
			up->reused = true;
			return up;
		}
	}
	return NULL;
}

static void pool_put(struct sp_upstream *up)
{
	struct sp_worker *w = up->w;

	up->conn = NULL;
	if (w->draining || up->broken || w->n_idle_upstreams >= 1024) {
		up_close(up);
		return;
	}
	up->idle = true;
	up->idle_since = uv_now(&w->loop);
	list_add(&w->idle_upstreams, &up->link);
	w->n_idle_upstreams++;
	/* keep reading: data or EOF on an idle connection closes it */
	if (up->read_paused) {
		up->read_paused = false;
		uv_read_start((uv_stream_t *)&up->tcp, on_up_alloc, on_up_read);
	}
}

/* Once a second: close pooled connections idle longer than idleTimeoutMs
 * (newest are at the head of the list, so the sweep starts at the tail). */
static void on_pool_timer(uv_timer_t *t)
{
	struct sp_worker *w = t->data;
	uint64_t now = uv_now(&w->loop), max = w->gen->cfg->proxy.limits.idle_timeout_ms;

	while (max && w->idle_upstreams.prev != &w->idle_upstreams) {
		struct sp_upstream *up =
			container_of(w->idle_upstreams.prev, struct sp_upstream, link);

		if (now - up->idle_since < max)
			break;
		up_close(up);
	}
}

/* Attach an upstream connection to c (pooled or new). Returns 0 or a UV error. */
static int conn_attach_upstream(struct sp_conn *c, bool fresh)
{
	struct sp_worker *w = c->w;
	struct sp_upstream *up = fresh ? NULL : pool_take(w, &c->dst);
	int err;

	if (up) {
		up->conn = c;
		c->up = up;
		STAT_ADD(w, upstream_reused, 1);
		conn_timer(c, T_UPSTREAM);
		return 0;
	}
	up = calloc(1, sizeof(*up));
	if (!up)
		return UV_ENOMEM;
	up->w = w;
	up->addr = c->dst;
	list_init(&up->link);
	sp_resp_init(&up->resp);
	err = uv_tcp_init(&w->loop, &up->tcp);
	if (err) {
		free(up);
		return err;
	}
	up->tcp.data = up;
	up->creq.data = up;
	err = uv_tcp_connect(&up->creq, &up->tcp, (const struct sockaddr *)&c->dst, on_up_connect);
	if (err) {
		up->closing = true;
		uv_close((uv_handle_t *)&up->tcp, on_up_close);
		return err;
	}
	STAT_ADD(w, upstream_connects, 1);
	up->conn = c;
	c->up = up;
	conn_timer(c, T_CONNECT);
	return 0;
}

static void on_up_connect(uv_connect_t *req, int status)
{
	struct sp_upstream *up = req->data;
	struct sp_conn *c = up->conn;

	if (up->closing)
		return;
	if (status < 0) {
		up->broken = true;
		if (c)
			conn_fail(c, 503, SP_V_ERROR, uv_strerror(status));
		else
			up_close(up);
		return;
	}
	up->connected = true;
	uv_tcp_nodelay(&up->tcp, 1);
	uv_read_start((uv_stream_t *)&up->tcp, on_up_alloc, on_up_read);
	if (c && c->timer_kind == T_CONNECT)
		conn_timer(c, T_UPSTREAM);
}

static void on_up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sp_upstream *up = h->data;

	buf->base = up->w->rbuf;
	buf->len = sizeof(up->w->rbuf);
}

/* Request and response both complete: log, pool the upstream, next request. */
static void conn_finish_request(struct sp_conn *c)
{
	struct sp_upstream *up = c->up;

	conn_log_request(c);
	if (up) {
		c->up = NULL;
		/* the client saw the same framing headers: if the upstream
		 * ends its connection after this response, so do we */
		if (!up->resp.keep_alive)
			c->close_after = true;
		if (up->resp.keep_alive && up->resp.done && !up->broken)
			pool_put(up);
		else {
			up->conn = NULL;
			up_close(up);
		}
	}
	if (c->close_after || !c->reqp.h.keep_alive || c->reqp.h.upgrade || c->w->draining ||
	    c->down_eof) {
		conn_close_after_write(c);
		return;
	}
	conn_reset_request(c);
	c->rq = RQ_HEAD;
	conn_timer(c, T_IDLE);
}

/* A pooled connection the upstream closed just as we reused it: nothing of
 * the response arrived and the request had no body, so sending it again on
 * a fresh connection is safe. Returns true if a retry was started. */
static bool conn_retry_stale(struct sp_conn *c)
{
	struct sp_upstream *old = c->up;
	const struct sp_head *h = &c->reqp.h;

	if (!old || !old->reused || old->resp.started || !c->req_done || h->has_body || c->retried)
		return false;
	c->retried = true;
	sp_log(SP_LOG_DEBUG, "conn %p: stale pooled upstream connection, retrying", (void *)c);
	c->up = NULL;
	old->conn = NULL;
	old->broken = true;
	up_close(old);
	if (conn_attach_upstream(c, true)) {
		conn_fail(c, 503, SP_V_ERROR, "upstream connect failed");
		return true;
	}
	sp_resp_start(&c->up->resp, h->is_head, h->is_connect);
	up_send(c, h->fwd, h->fwd_len, NULL, 0);
	return true;
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sp_upstream *up = s->data;
	struct sp_conn *c = up->conn;
	size_t off = 0;

	/* nread 0 is EAGAIN: libuv reports it too, e.g. when it reads again
	 * after a full buffer whose last byte ended the response and pooled
	 * the connection; it is no event, least of all on an idle connection */
	if (up->closing || nread == 0)
		return;
	if (nread > 0)
		up->rd += (uint64_t)nread;
	if (!c) {
		/* idle pooled connection: the upstream closed it or sent junk */
		up_close(up);
		return;
	}
	if (nread < 0) {
		up->broken = true;
		if (c->rq == RQ_TUNNEL) {
			conn_close_after_write(c);
			return;
		}
		if (sp_resp_eof(&up->resp) == 0) {
			c->resp_done = true;
			c->status = up->resp.status;
			c->close_after = true;
			if (c->req_done)
				conn_finish_request(c);
			else {
				conn_log_request(c);
				conn_close_after_write(c);
			}
			return;
		}
		if (conn_retry_stale(c))
			return;
		conn_fail(c, 502, SP_V_ERROR, "upstream closed before a complete response");
		return;
	}
	if (c->rq == RQ_TUNNEL) {
		c->bytes_out += (size_t)nread;
		if (sp_stream_send((uv_stream_t *)&c->down, buf->base, (size_t)nread, NULL, 0,
				   on_down_write, c, &c->last_wreq)) {
			conn_close(c);
			return;
		}
		up_update_reading(up);
		conn_splice_report(c);
		return;
	}
	if (c->timer_kind == T_UPSTREAM)
		conn_timer(c, T_UPSTREAM);
	while (off < (size_t)nread) {
		long n = sp_resp_feed(&up->resp, buf->base + off, (size_t)nread - off);

		if (n < 0 || (n == 0 && !up->resp.done)) {
			up->broken = true;
			conn_fail(c, 502, SP_V_ERROR, "malformed upstream response");
			return;
		}
		if (sp_stream_send((uv_stream_t *)&c->down, buf->base + off, (size_t)n, NULL, 0,
				   on_down_write, c, &c->last_wreq)) {
			sp_log(SP_LOG_DEBUG, "conn %p: relaying the response failed", (void *)c);
			conn_close(c);
			return;
		}
		c->bytes_out += (size_t)n;
		off += (size_t)n;
		if (!up->resp.done)
			continue;
		c->status = up->resp.status;
		if (up->resp.tunnel) {
			c->rq = RQ_TUNNEL;
			conn_log_request(c);
			conn_timer(c, T_NONE);
			if (off < (size_t)nread) {
				c->bytes_out += (size_t)nread - off;
				if (sp_stream_send((uv_stream_t *)&c->down, buf->base + off,
						   (size_t)nread - off, NULL, 0, on_down_write, c,
						   &c->last_wreq)) {
					conn_close(c);
					return;
				}
			}
			conn_splice_start(c);
			conn_process(c); /* relay whatever the client already sent */
			if (c->state == SP_CONN_OPEN)
				conn_splice_report(c);
			return;
		}
		c->resp_done = true;
		conn_response_end(c);
		if (off < (size_t)nread)
			up->broken = true; /* bytes after the response: never reuse */
		if (!c->req_done) {
			/* answered before the request body was complete: the
			 * upstream stops here, so does the client connection */
			up->broken = true;
			c->close_after = true;
			conn_log_request(c);
			conn_close_after_write(c);
			return;
		}
		conn_finish_request(c);
		if (c->state == SP_CONN_OPEN && !c->shutting) {
			conn_process(c);
			conn_update_down_reading(c);
		}
		return;
	}
	up_update_reading(up);
}

/* ---- request handling ---- */

static void conn_source_name(struct sp_conn *c, const struct shunt_policy *pol, int src_wl)
{
	const char *n = src_wl >= 0 ? shunt_policy_workload_name(pol, src_wl) : NULL;

	if (n) {
		copy_str(c->source, sizeof(c->source), n);
		c->source_is_ip = false;
	} else if (!c->source_is_ip) { /* formatted once per connection, not per request */
		sp_addr_ip(&c->peer, c->source, sizeof(c->source));
		c->source_is_ip = true;
	}
}

static void conn_on_head(struct sp_conn *c)
{
	struct sp_worker *w = c->w;
	const struct sp_head *h = &c->reqp.h;
	const struct shunt_policy *pol;
	struct shunt_verdict v = {0};
	struct shunt_l7_query q = {0};
	int src_wl, dst_wl, err;

	if (!c->req_start)
		c->req_start = uv_hrtime();
	/* the generation was refreshed by conn_normalize(), just before */
	if (!w->gen)
		sp_worker_refresh_gen(w);
	pol = w->gen->pol;
	src_wl = shunt_policy_workload_by_addr(pol, (const struct sockaddr *)&c->peer);
	dst_wl = shunt_policy_workload_by_addr(pol, (const struct sockaddr *)&c->dst);
	conn_source_name(c, pol, src_wl);
	copy_str(c->method, sizeof(c->method), h->method);
	c->path_len = h->path_len < sizeof(c->path) ? h->path_len : sizeof(c->path);
	memcpy(c->path, h->path, c->path_len);

	q.src_workload = src_wl < 0 ? -1 : src_wl;
	q.src_addr = (const struct sockaddr *)&c->peer;
	q.dst_workload = dst_wl < 0 ? -1 : dst_wl;
	q.dst_port = sp_addr_port(&c->dst);
	q.method = h->method;
	q.method_len = h->method_len;
	q.path = h->path; /* forwarded as received, matched lower-cased if so */
	q.path_len = h->path_len;
	q.host = h->host;
	q.host_len = h->host_len;
	if (c->enforce) {
		/* an error (also for CONNECT/Upgrade: see verdict.h) is a default-deny */
		sp_request_verdict(pol, &q, h->upgrade, h->is_connect, &v);
	} else {
		/* the destination's own (inbound) proxy judges it (Istio) */
		v.action = SHUNT_ALLOW;
		v.policy = "none";
	}
	if (v.policy) {
		copy_str(c->policy, sizeof(c->policy), v.policy);
		c->has_policy = true;
	}
	c->rq = RQ_BODY;
	if (v.action == SHUNT_DENY) {
		char buf[1024];
		size_t n;
		/* a body we would have to read to stay in sync: skip it by its
		 * declared length, unless the client waits for 100-continue
		 * (it may never send it) or it would be a tunnel */
		bool close = !h->keep_alive || h->upgrade || w->draining ||
			     (h->has_body && h->expect_continue);

		c->forward = false;
		c->verdict = SP_V_DENY;
		c->status = 403;
		n = sp_render_403(buf, sizeof(buf), c->has_policy ? c->policy : "default-deny",
				  close);
		if (h->is_head) /* same headers, no body */
			n = (size_t)(strstr(buf, "\r\n\r\n") + 4 - buf);
		conn_send_local(c, buf, n);
		c->resp_done = true;
		conn_response_end(c);
		if (close) {
			c->close_after = true;
			conn_log_request(c);
			conn_close_after_write(c);
			return;
		}
		conn_timer(c, T_IDLE);
		return;
	}
	c->forward = true;
	c->verdict = SP_V_ALLOW;
	err = conn_attach_upstream(c, false);
	if (err) {
		conn_fail(c, 503, SP_V_ERROR, uv_strerror(err));
		return;
	}
	sp_resp_start(&c->up->resp, h->is_head, h->is_connect);
	c->bytes_in += h->fwd_len;
	up_queue(c, h->fwd, h->fwd_len);
}

static void conn_process(struct sp_conn *c)
{
	struct sp_event ev;

	while (c->state == SP_CONN_OPEN && !c->shutting) {
		size_t avail = c->in_len - c->in_off;
		size_t used;

		if (c->rq == RQ_WAIT_RESP || c->rq == RQ_DONE)
			break;
		/* a client that does not read its answers gets no new ones
		 * (denied requests are answered locally, without bound) */
		if (c->rq == RQ_HEAD && (uv_stream_get_write_queue_size((uv_stream_t *)&c->down) >
						 c->lim.max_buffer_bytes ||
					 conn_pipeline_full(c))) {
			if (!c->down_blocked) {
				sp_log(SP_LOG_DEBUG, "conn %p: client not reading, answers held",
				       (void *)c);
				if (conn_pipeline_full(c))
					STAT_ADD(c->w, pipeline_held, 1);
			}
			c->down_blocked = true;
			/* we stopped reading: the head timer must not run
			 * against the client; the idle timeout bounds a client
			 * that never reads */
			conn_timer(c, T_IDLE);
			break;
		}
		if (c->rq == RQ_TUNNEL) {
			if (avail && c->up) {
				c->bytes_in += avail;
				if (up_flush(c) || up_send(c, c->in + c->in_off, avail, NULL, 0))
					return;
			}
			c->in_off = c->in_len;
			conn_splice_report(c);
			break;
		}
		if (c->rq == RQ_HEAD && avail == 0)
			break;
		used = sp_reqp_step(&c->reqp, c->in + c->in_off, avail, &ev);
		c->in_off += used;
		switch (ev.type) {
		case SP_EV_NEED_MORE:
			if (c->rq == RQ_HEAD && c->reqp.in_head && c->timer_kind != T_HEADER) {
				c->req_start = uv_hrtime();
				conn_timer(c, T_HEADER);
			}
			goto out;
		case SP_EV_HEAD:
			conn_on_head(c);
			break;
		case SP_EV_CHUNK_HEAD:
			if (c->forward) {
				char line[32];
				int n = snprintf(line, sizeof(line), "%llx\r\n",
						 (unsigned long long)ev.chunk_size);

				c->bytes_in += (size_t)n;
				if (up_queue(c, line, (size_t)n))
					return;
			}
			break;
		case SP_EV_BODY:
			if (c->forward) {
				c->bytes_in += ev.len;
				if (up_queue(c, ev.data, ev.len))
					return;
			}
			break;
		case SP_EV_CHUNK_END:
			/* the last chunk's end carries the trailer fields */
			if (c->forward) {
				c->bytes_in += ev.len + 2;
				if ((ev.len && up_queue(c, ev.data, ev.len)) ||
				    up_queue(c, "\r\n", 2))
					return;
			}
			break;
		case SP_EV_MSG_END:
			c->req_done = true;
			if (c->resp_done) {
				conn_finish_request(c);
			} else {
				c->rq = RQ_WAIT_RESP;
				if (c->timer_kind != T_CONNECT)
					conn_timer(c, T_UPSTREAM);
			}
			break;
		case SP_EV_ERROR:
			conn_fail(c, ev.status, SP_V_MALFORMED, ev.why);
			return;
		}
	}
out:
	if (c->state != SP_CONN_OPEN || c->shutting) {
		obuf_drop(c);
		return;
	}
	if (up_flush(c))
		return;
	/* compact the input buffer; an idle connection keeps none */
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
		if (c->in_cap) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	} else if (c->in_cap && c->in_off > c->in_cap / 2) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	/* between requests: a head that needed a bigger buffer gives it back */
	if (c->rq == RQ_HEAD && c->in_len == 0)
		sp_reqp_trim(&c->reqp);
}

static void on_down_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sp_conn *c = h->data;

	buf->base = c->w->rbuf;
	buf->len = sizeof(c->w->rbuf);
}

static int conn_buffer(struct sp_conn *c, const char *data, size_t len)
{
	if (c->in_off && c->in_len + len > c->in_cap) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len + len > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 16384;
		char *n;

		while (cap < c->in_len + len)
			cap *= 2;
		n = realloc(c->in, cap);
		if (!n)
			return -ENOMEM;
		c->in = n;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, len);
	c->in_len += len;
	return 0;
}

/* Nothing buffered (the common case): parse straight from the worker's read
 * buffer and keep only what is left unparsed (pipelined requests behind one
 * that waits for its response) in an own buffer. */
static int conn_process_read(struct sp_conn *c, char *data, size_t len)
{
	size_t off, left;

	free(c->in);
	c->in = data;
	c->in_cap = 0;
	c->in_off = 0;
	c->in_len = len;
	conn_process(c);
	off = c->in_off;
	left = c->in_len - c->in_off;
	c->in = NULL;
	c->in_off = c->in_len = 0;
	if (!left || c->state != SP_CONN_OPEN)
		return 0;
	return conn_buffer(c, data + off, left);
}

static void on_down_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sp_conn *c = s->data;

	if (c->state != SP_CONN_OPEN)
		return;
	if (nread == 0)
		return;
	if (nread < 0) {
		sp_log(SP_LOG_DEBUG, "conn %p: client read: %s (state %d, %zu bytes unparsed)",
		       (void *)c, uv_strerror((int)nread), c->rq, c->in_len - c->in_off);
		c->down_eof = true;
		if (c->rq == RQ_WAIT_RESP && c->in_len == c->in_off) {
			/* half-close after a complete request: still answer it */
			uv_read_stop(s);
			c->close_after = true;
			return;
		}
		if (c->rq == RQ_TUNNEL && c->up) {
			conn_close_after_write(c);
			return;
		}
		conn_close(c);
		return;
	}
	c->down_rd += (uint64_t)nread;
	if (c->rq == RQ_BODY && c->timer_kind == T_UPSTREAM)
		conn_timer(c, T_UPSTREAM);
	else if (c->rq == RQ_BODY && c->timer_kind == T_IDLE)
		conn_timer(c, T_IDLE);
	if (c->rq == RQ_HEAD && c->timer_kind == T_IDLE) {
		c->req_start = uv_hrtime();
		conn_timer(c, T_HEADER);
	}
	if (c->in_len > c->in_off) {
		/* bytes left over from earlier reads: append */
		if (conn_buffer(c, buf->base, (size_t)nread)) {
			conn_close(c);
			return;
		}
		conn_process(c);
	} else if (conn_process_read(c, buf->base, (size_t)nread)) {
		conn_close(c);
		return;
	}
	if (c->state == SP_CONN_OPEN)
		conn_update_down_reading(c);
}

static void on_conn_timer(uv_timer_t *t)
{
	struct sp_conn *c = t->data;
	uint64_t now;

	c->armed_at = 0;
	if (c->state != SP_CONN_OPEN || !c->deadline)
		return;
	now = uv_now(&c->w->loop);
	if (now < c->deadline) { /* the deadline moved since the timer was armed */
		uv_timer_start(&c->timer, on_conn_timer, c->deadline - now, 0);
		c->armed_at = c->deadline;
		return;
	}
	c->deadline = 0;
	switch (c->timer_kind) {
	case T_HEADER:
		if (c->rq == RQ_HEAD && c->reqp.in_head)
			conn_fail(c, 408, SP_V_MALFORMED, "request header timeout");
		else
			conn_close(c);
		break;
	case T_CONNECT:
		conn_fail(c, 503, SP_V_ERROR, "upstream connect timeout");
		break;
	case T_UPSTREAM:
		conn_fail(c, 504, SP_V_ERROR, "upstream timeout");
		break;
	case T_IDLE:
	case T_NONE:
		sp_log(SP_LOG_DEBUG, "conn %p: idle timeout (state %d)", (void *)c, c->rq);
		conn_close(c);
		break;
	}
}

/* ---- accept ---- */

/* Normalize with the options of the generation the verdict will use. */
static int conn_normalize(void *ctx, const char *target, size_t len, char *out, size_t cap,
			  size_t *out_len, const char **query, size_t *query_len, const char **why)
{
	struct sp_conn *c = ctx;
	struct shunt_norm_opts o;

	sp_worker_refresh_gen(c->w);
	o = *shunt_policy_norm_opts(c->w->gen->pol);
	o.case_insensitive = false; /* lower-cased for matching only (conn_on_head) */
	return shunt_path_normalize(&o, target, len, out, cap, out_len, query, query_len, why);
}

static int original_dst(uv_tcp_t *t, struct sockaddr_storage *out)
{
	uv_os_fd_t fd;
	socklen_t len = sizeof(*out);
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (uv_fileno((uv_handle_t *)t, &fd))
		return -EBADF;
	if (getsockname(fd, (struct sockaddr *)&local, &llen))
		return -errno;
	if (local.ss_family == AF_INET) {
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, &len))
			return -errno;
	} else {
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, &len))
			return -errno;
	}
	/* no interception: the original destination is the proxy itself */
	if (sockaddr_eq(out, &local))
		return -ELOOP;
	return 0;
}

int sp_conn_destination(uv_tcp_t *down, const struct sp_listener_def *ld,
			struct sockaddr_storage *dst)
{
	int err;

	if (!ld->original_dst) {
		memcpy(dst, &ld->upstream, sizeof(*dst));
		return 0;
	}
	err = original_dst(down, dst);
	if (err)
		sp_log(SP_LOG_WARN, "listener %s: no original destination: %s", ld->name,
		       strerror(-err));
	return err;
}

/* A new downstream connection on listener ld: accepted from server by libuv,
 * or already accepted (fd >= 0, see sp_conn_accepted). */
static void conn_start(struct sp_worker *w, const struct sp_listener_def *ld, uv_stream_t *server,
		       int fd)
{
	struct sp_conn *c;
	struct sp_limits lim;
	int len, err;

	sp_worker_refresh_gen(w);
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->w = w;
	c->lim = w->gen->cfg->proxy.limits;
	list_init(&c->link);
	uv_tcp_init(&w->loop, &c->down);
	uv_timer_init(&w->loop, &c->timer);
	c->down.data = c;
	c->timer.data = c;
	c->shut.data = c;
	list_add(&w->conns, &c->link);
	atomic_fetch_add_explicit(&w->stats.conns_active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->srv->conns, 1, memory_order_relaxed);
	if (server ? uv_accept(server, (uv_stream_t *)&c->down)
		   : uv_tcp_open(&c->down, (uv_os_sock_t)fd)) {
		if (!server)
			close(fd); /* not owned by the handle */
		conn_close(c);
		return;
	}
	STAT_ADD(w, conns_total, 1);
	if (atomic_load_explicit(&w->srv->conns, memory_order_relaxed) >
	    (long long)c->lim.max_connections) {
		STAT_ADD(w, conns_rejected, 1);
		conn_close(c);
		return;
	}
	len = sizeof(c->peer);
	uv_tcp_getpeername(&c->down, (struct sockaddr *)&c->peer, &len);
	c->enforce = ld->enforce;
	if (sp_conn_destination(&c->down, ld, &c->dst)) {
		conn_close(c);
		return;
	}
	lim.max_header_bytes = c->lim.max_header_bytes;
	lim.max_headers = c->lim.max_headers;
	err = sp_reqp_init(&c->reqp, &lim, conn_normalize, c);
	if (err) {
		conn_close(c);
		return;
	}
	c->reqp_ready = true;
	uv_tcp_nodelay(&c->down, 1);
	c->rq = RQ_HEAD;
	conn_reset_request(c);
	conn_timer(c, T_HEADER);
	uv_read_start((uv_stream_t *)&c->down, on_down_alloc, on_down_read);
}

void sp_on_connection(uv_stream_t *server, int status)
{
	struct sp_listener *l = server->data;

	if (status < 0 || l->w->draining)
		return;
	if (l->def.mode == SHUNT_LISTENER_TCP)
		sp_tcp_start(l->w, &l->def, server, -1);
	else
		conn_start(l->w, &l->def, server, -1);
}

void sp_conn_accepted(struct sp_worker *w, const struct sp_listener_def *def, int fd)
{
	if (w->draining) {
		close(fd);
		return;
	}
	if (def->mode == SHUNT_LISTENER_TCP)
		sp_tcp_start(w, def, NULL, fd);
	else
		conn_start(w, def, NULL, fd);
}

/* ---- worker lifecycle ---- */

static void on_listener_close(uv_handle_t *h)
{
	free(h->data);
}

void sp_worker_init_conns(struct sp_worker *w)
{
	list_init(&w->conns);
	list_init(&w->tcp_conns);
	list_init(&w->idle_upstreams);
	uv_timer_init(&w->loop, &w->pool_timer);
	w->pool_timer.data = w;
	uv_timer_start(&w->pool_timer, on_pool_timer, 1000, 1000);
	uv_unref((uv_handle_t *)&w->pool_timer); /* never keeps the loop alive */
}

static void on_drain_timer(uv_timer_t *t)
{
	struct sp_worker *w = t->data;

	sp_log(SP_LOG_WARN, "worker %d: drain timeout, closing remaining connections", w->id);
	sp_worker_close_all(w);
}

static void on_drain_timer_close(uv_handle_t *h)
{
}

void sp_worker_start_drain(struct sp_worker *w)
{
	struct sp_list *e, *n;
	size_t i;

	size_t nconn = 0;

	if (w->draining)
		return;
	w->draining = true;
	for (e = w->conns.next; e != &w->conns; e = e->next)
		nconn++;
	/* tcp relays have no request boundary to stop at: they run until
	 * both sides are done or the drain timer closes them */
	for (e = w->tcp_conns.next; e != &w->tcp_conns; e = e->next)
		nconn++;
	/* closes the listening sockets right away (uv__stream_close) */
	for (i = 0; i < w->n_listeners; i++)
		uv_close((uv_handle_t *)&w->listeners[i]->tcp, on_listener_close);
	w->n_listeners = 0;
	sp_log(SP_LOG_INFO, "worker %d: draining (%zu connections)", w->id, nconn);
	while (w->idle_upstreams.next != &w->idle_upstreams)
		up_close(container_of(w->idle_upstreams.next, struct sp_upstream, link));
	if (!uv_is_closing((uv_handle_t *)&w->pool_timer))
		uv_close((uv_handle_t *)&w->pool_timer, NULL);
	for (e = w->conns.next; e != &w->conns; e = n) {
		struct sp_conn *c = container_of(e, struct sp_conn, link);

		n = e->next;
		/* an idle keep-alive connection may be closed (its client sends
		 * again on a new one); when a reload retires this worker, a new
		 * connection gets its first answer, then closes: its client
		 * (which just connected) does not expect a close unanswered */
		if ((c->used || !atomic_load(&w->retire)) && c->rq == RQ_HEAD &&
		    sp_reqp_idle(&c->reqp) && c->in_len == c->in_off)
			conn_close(c);
		else
			c->close_after = true;
	}
	uv_timer_init(&w->loop, &w->drain_timer);
	w->drain_timer.data = w;
	uv_timer_start(&w->drain_timer, on_drain_timer, SP_DRAIN_TIMEOUT_MS, 0);
	uv_unref((uv_handle_t *)&w->drain_timer);
}

void sp_worker_close_all(struct sp_worker *w)
{
	struct sp_list *e, *n;

	for (e = w->conns.next; e != &w->conns; e = n) {
		n = e->next;
		conn_close(container_of(e, struct sp_conn, link));
	}
	sp_tcp_close_all(w);
	while (w->idle_upstreams.next != &w->idle_upstreams)
		up_close(container_of(w->idle_upstreams.next, struct sp_upstream, link));
	if (w->draining && !uv_is_closing((uv_handle_t *)&w->drain_timer))
		uv_close((uv_handle_t *)&w->drain_timer, on_drain_timer_close);
}
