// SPDX-License-Identifier: Apache-2.0
/*
 * tcp listeners ("mode": "tcp"): an opaque byte relay (HAProxy's mode tcp,
 * Envoy's tcp_proxy). A connection is judged once, at accept, with Istio's
 * TCP semantics (the L4 table built with SHUNT_L4_NO_PROXY: an ALLOW rule
 * that needs HTTP fields matches no TCP connection); a denied one is reset.
 * An allowed one gets its own upstream connection (never pooled) and the
 * bytes are copied both ways:
 *   - backpressure: a side is not read while the other side's write queue
 *     is over limits.maxBufferBytes (resumed below half of it);
 *   - half-close: EOF from one side shuts down the other's write side once
 *     everything before it is written; the relay closes when both
 *     directions are done;
 *   - a read or write error (a reset) closes both, resetting the other side
 *     so that it sees the failure too; limits.idleTimeoutMs bounds a relay
 *     where nothing moves, limits.connectTimeoutMs the upstream connect.
 *
 * Splice (see "Splice" in bpf/shunt_bpf.h, proxy/splice.h): once the
 * upstream is connected the two sockets are linked; after each write whose
 * completion leaves nothing queued on the target socket, the relay reports
 * how much of the source socket's input is forwarded, which lets the kernel
 * switch that sender past the relay without reordering. The relay keeps
 * reading both sockets (EOF, errors and fallback data still come through
 * it); a splice error only stops the reports, never the relay. Without
 * shuntd every call fails (ENOPROTOOPT) and the relay just copies.
 *
 * Memory of a relay is freed only in its last close callback; pending
 * write/shutdown/connect requests are cancelled before it, and their
 * callbacks check the state first.
 */
#include "proxy.h"
#include "splice.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum tcp_state { TS_CONNECTING = 0, TS_RELAY, TS_CLOSING };

struct sp_tcp;

/* One socket of the relay and what was read from it. */
struct tcp_side {
	uv_tcp_t tcp;
	uv_shutdown_t shut;
	struct sp_tcp *t;
	struct tcp_side *peer; /* the other side: where our input is written */
	int fd;		       /* -1 until known */
	uint64_t nread;	       /* bytes read from this socket */
	uint64_t fwd;	       /* of those, bytes whose write to peer completed */
	unsigned writes;       /* our writes queued on this socket */
	bool eof;	       /* EOF read: nothing more comes from it */
	bool shut_done;
	bool paused; /* not read: peer's write queue is over the bound */
	bool report; /* sp_splice_fwd for this socket still wanted */
};

struct sp_tcp {
	struct tcp_side down, up;
	uv_connect_t creq;
	uv_timer_t timer;
	struct sp_worker *w;
	struct sp_list link; /* in w->tcp_conns */
	int open_handles;
	enum tcp_state state;
	bool judged;	    /* passed accept and maxConnections: logged at close */
	bool linked;	    /* sp_splice_link succeeded */
	int verdict;	    /* enum sp_verdict_kind */
	const char *policy; /* static: "none" when not enforced, else NULL */
	uint64_t start_ns;
	uint64_t last_io;      /* loop ms of the last read or completed write */
	uint64_t spliced_seen; /* spliced bytes + messages when last looked */
	uint64_t idle_ms, connect_ms, max_buffer;
	struct sockaddr_storage peer, dst;
	char source[128];
};

static void tcp_close(struct sp_tcp *t, bool reset);

/* ---- verdict ---- */

/* The source as the http listeners log it: workload name, else the peer's
 * address. */
static void tcp_source_name(struct sp_tcp *t, const struct shunt_policy *pol, int src_wl)
{
	const char *n = src_wl >= 0 ? shunt_policy_workload_name(pol, src_wl) : NULL;

	if (n)
		snprintf(t->source, sizeof(t->source), "%s", n);
	else
		sp_addr_ip(&t->peer, t->source, sizeof(t->source));
}

/* Identity of a shunt_policy_workload_by_addr() index as the L4 table
 * names it: a workload, a service (its clusterIP), or WORLD. */
static uint32_t tcp_identity(const struct shunt_policy *pol, int idx, bool dst)
{
	int nw = shunt_policy_workload_count(pol);

	if (idx < 0)
		return SHUNT_IDENTITY_WORLD;
	if (idx < nw)
		return shunt_identity_of(idx);
	/* a service can only be a destination (nobody connects from a VIP) */
	return dst ? shunt_service_identity((size_t)(idx - nw)) : SHUNT_IDENTITY_WORLD;
}

/* Judge the connection once (Istio's TCP semantics: the NO_PROXY table of
 * the current generation, built when it was loaded). */
static bool tcp_allowed(struct sp_tcp *t, const struct sp_gen *g)
{
	int src = shunt_policy_workload_by_addr(g->pol, (const struct sockaddr *)&t->peer);
	int dst = shunt_policy_workload_by_addr(g->pol, (const struct sockaddr *)&t->dst);
	uint8_t v;

	tcp_source_name(t, g->pol, src);
	if (!g->has_l4) {
		/* a listener newer than this generation's config: fail closed */
		sp_log(SP_LOG_WARN, "tcp listener without an L4 table in generation %u: denied",
		       g->seq);
		return false;
	}
	v = shunt_l4_lookup(g->l4, g->n_l4, tcp_identity(g->pol, src, false),
			    tcp_identity(g->pol, dst, true), sp_addr_port(&t->dst));
	return v != SHUNT_L4_DENY;
}

/* ---- closing ---- */

static void tcp_log(struct sp_tcp *t)
{
	struct sp_worker *w = t->w;
	struct shunt_splice_info in = {0}, out = {0};
	char dst[80];
	uint64_t dur_ns = uv_hrtime() - t->start_ns;

	/* what the client (down's peer) and the upstream (up's peer) sent past
	 * the relay; a failing call leaves zeros */
	if (t->linked) {
		sp_splice_info(t->down.fd, &in);
		sp_splice_info(t->up.fd, &out);
		STAT_ADD(w, tcp_spliced, 1);
		STAT_ADD(w, tcp_spliced_bytes, in.bytes + out.bytes);
	}
	STAT_ADD(w, tcp_conns[t->verdict], 1);
	STAT_ADD(w, bytes_in, t->down.nread);
	STAT_ADD(w, bytes_out, t->up.fwd);
	shunt_sockaddr_format(&t->dst, dst, sizeof(dst));
	{
		struct sp_log_entry e = {
			.time = sp_now_unix(),
			.source = t->source,
			.verdict = t->verdict == SP_V_ALLOW  ? "allow"
				   : t->verdict == SP_V_DENY ? "deny"
							     : "error",
			.policy = t->policy,
			.bytes_in = t->down.nread,
			.bytes_out = t->up.fwd,
			.duration = (double)dur_ns / 1e9,
			.tcp = true,
			.destination = dst,
			.spliced = t->linked,
			.spliced_in = in.bytes,
			.spliced_out = out.bytes,
		};

		sp_access_log_write(w, &e);
	}
}

static void tcp_handle_closed(struct sp_tcp *t)
{
	if (--t->open_handles > 0)
		return;
	atomic_fetch_sub_explicit(&t->w->stats.conns_active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&t->w->srv->conns, 1, memory_order_relaxed);
	free(t);
}

static void on_side_close(uv_handle_t *h)
{
	tcp_handle_closed(((struct tcp_side *)h->data)->t);
}

static void on_timer_close(uv_handle_t *h)
{
	tcp_handle_closed(h->data);
}

/* SO_LINGER 0: close() sends a RST (the peer sees the failure, not an EOF). */
static void side_reset(struct tcp_side *s)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int fd = sp_tcp_fd(&s->tcp);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Close both sockets (reset: with a RST) and log the connection. */
static void tcp_close(struct sp_tcp *t, bool reset)
{
	if (t->state == TS_CLOSING)
		return;
	t->state = TS_CLOSING;
	list_del(&t->link);
	/* before the close: the splice counters are read from the sockets */
	if (t->judged)
		tcp_log(t);
	if (reset) {
		side_reset(&t->down);
		side_reset(&t->up);
	}
	t->open_handles = 3;
	uv_close((uv_handle_t *)&t->down.tcp, on_side_close);
	uv_close((uv_handle_t *)&t->up.tcp, on_side_close);
	uv_close((uv_handle_t *)&t->timer, on_timer_close);
}

/* Both directions done: each side sent EOF and got ours. */
static void tcp_maybe_done(struct sp_tcp *t)
{
	if (t->down.eof && t->up.eof && t->down.shut_done && t->up.shut_done)
		tcp_close(t, false);
}

void sp_tcp_close_all(struct sp_worker *w)
{
	while (w->tcp_conns.next != &w->tcp_conns)
		tcp_close(container_of(w->tcp_conns.next, struct sp_tcp, link), false);
}

/* ---- timers ---- */

static void on_tcp_timer(uv_timer_t *tm)
{
	struct sp_tcp *t = tm->data;
	uint64_t now, due;

	if (t->state == TS_CLOSING)
		return;
	if (t->state == TS_CONNECTING) {
		sp_log(SP_LOG_DEBUG, "tcp %p: upstream connect timeout", (void *)t);
		t->verdict = SP_V_ERROR;
		tcp_close(t, true);
		return;
	}
	/* the idle deadline moves with every read and write: re-arm rather
	 * than restart the timer per I/O */
	now = uv_now(&t->w->loop);
	if (t->linked) {
		/* spliced traffic bypasses the relay: it counts as activity */
		struct shunt_splice_info in, out;
		uint64_t seen;

		sp_splice_info(t->down.fd, &in);
		sp_splice_info(t->up.fd, &out);
		seen = in.bytes + in.msgs + out.bytes + out.msgs;
		if (seen != t->spliced_seen) {
			t->spliced_seen = seen;
			t->last_io = now;
		}
	}
	due = t->last_io + t->idle_ms;
	if (now < due) {
		uv_timer_start(&t->timer, on_tcp_timer, due - now, 0);
		return;
	}
	sp_log(SP_LOG_DEBUG, "tcp %p: idle timeout", (void *)t);
	tcp_close(t, false);
}

/* ---- relay ---- */

/* Tell the kernel everything read from s was written to its peer socket
 * (called only when nothing is queued there, so fwd == nread). */
static void side_report(struct tcp_side *s)
{
	int err;

	if (!s->report)
		return;
	err = sp_splice_fwd(s->fd, s->fwd);
	if (err) {
		/* the kernel will never switch this sender: stop asking */
		sp_log(SP_LOG_DEBUG, "tcp %p: splice fwd: %s", (void *)s->t, strerror(-err));
		s->report = false;
	}
}

static void side_read_start(struct tcp_side *s);

static void on_side_write(uv_write_t *req, int status)
{
	struct sp_wreq *wr = container_of(req, struct sp_wreq, req);
	struct tcp_side *to = req->data, *from = to->peer;
	struct sp_tcp *t = to->t;
	size_t len = wr->len;

	free(wr);
	to->writes--;
	if (t->state != TS_RELAY)
		return;
	if (status < 0) {
		sp_log(SP_LOG_DEBUG, "tcp %p: write: %s", (void *)t, uv_strerror(status));
		tcp_close(t, true);
		return;
	}
	t->last_io = uv_now(&t->w->loop);
	from->fwd += len;
	if (to->writes == 0)
		side_report(from);
	if (from->paused && !from->eof &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) <= t->max_buffer / 2) {
		from->paused = false;
		side_read_start(from);
	}
}

/* Write what was read from to->peer (sp_stream_send: straight to the socket
 * when nothing is queued, a copy of the rest queued); what went out at once
 * counts as forwarded now, the rest in on_side_write. 0 or a negative UV
 * error. */
static int side_write(struct tcp_side *to, const char *p, size_t n)
{
	struct tcp_side *from = to->peer;
	struct sp_wreq *wr = NULL;
	int err = sp_stream_send((uv_stream_t *)&to->tcp, p, n, NULL, 0, on_side_write, to, &wr);

	if (err)
		return err;
	if (!wr) {
		from->fwd += n;
		if (to->writes == 0) /* else on_side_write reports */
			side_report(from);
		return 0;
	}
	from->fwd += n - wr->len;
	to->writes++;
	return 0;
}

static void on_side_shutdown(uv_shutdown_t *req, int status)
{
	struct tcp_side *s = req->data;
	struct sp_tcp *t = s->t;

	if (t->state != TS_RELAY)
		return;
	if (status < 0) {
		sp_log(SP_LOG_DEBUG, "tcp %p: shutdown: %s", (void *)t, uv_strerror(status));
		tcp_close(t, true);
		return;
	}
	s->shut_done = true;
	tcp_maybe_done(t);
}

static void on_side_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tcp_side *s = h->data;

	/* written at once or copied: the worker's read buffer serves all */
	buf->base = s->t->w->rbuf;
	buf->len = sizeof(s->t->w->rbuf);
}

static void on_side_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_side *s = st->data, *to = s->peer;
	struct sp_tcp *t = s->t;
	int err;

	if (t->state != TS_RELAY || nread == 0)
		return;
	if (nread == UV_EOF) {
		/* half-close: the other side gets our EOF after the bytes
		 * queued before it (uv_shutdown waits for the write queue) */
		s->eof = true;
		uv_read_stop(st);
		err = uv_shutdown(&to->shut, (uv_stream_t *)&to->tcp, on_side_shutdown);
		if (err) {
			sp_log(SP_LOG_DEBUG, "tcp %p: shutdown: %s", (void *)t, uv_strerror(err));
			tcp_close(t, true);
		}
		return;
	}
	if (nread < 0) {
		sp_log(SP_LOG_DEBUG, "tcp %p: %s read: %s", (void *)t,
		       s == &t->down ? "client" : "upstream", uv_strerror((int)nread));
		tcp_close(t, true);
		return;
	}
	t->last_io = uv_now(&t->w->loop);
	s->nread += (uint64_t)nread;
	err = side_write(to, buf->base, (size_t)nread);
	if (err) {
		sp_log(SP_LOG_DEBUG, "tcp %p: write: %s", (void *)t, uv_strerror(err));
		tcp_close(t, true);
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&to->tcp) > t->max_buffer) {
		s->paused = true;
		uv_read_stop(st);
	}
}

static void side_read_start(struct tcp_side *s)
{
	int err = uv_read_start((uv_stream_t *)&s->tcp, on_side_alloc, on_side_read);

	if (err) {
		sp_log(SP_LOG_DEBUG, "tcp %p: read start: %s", (void *)s->t, uv_strerror(err));
		tcp_close(s->t, true);
	}
}

static void on_up_connected(uv_connect_t *req, int status)
{
	struct sp_tcp *t = req->data;
	int err;

	if (t->state != TS_CONNECTING)
		return;
	if (status < 0) {
		sp_log(SP_LOG_DEBUG, "tcp %p: upstream connect: %s", (void *)t,
		       uv_strerror(status));
		t->verdict = SP_V_ERROR;
		tcp_close(t, true);
		return;
	}
	t->state = TS_RELAY;
	uv_tcp_nodelay(&t->up.tcp, 1);
	t->down.fd = sp_tcp_fd(&t->down.tcp);
	t->up.fd = sp_tcp_fd(&t->up.tcp);
	err = sp_splice_link(t->down.fd, t->up.fd);
	if (!err) {
		t->linked = true;
		t->down.report = t->up.report = true;
	} else {
		/* ENOPROTOOPT without shuntd: a plain relay */
		sp_log(SP_LOG_DEBUG, "tcp %p: not spliced: %s", (void *)t, strerror(-err));
	}
	t->last_io = uv_now(&t->w->loop);
	uv_timer_start(&t->timer, on_tcp_timer, t->idle_ms, 0);
	side_read_start(&t->down);
	if (t->state == TS_RELAY)
		side_read_start(&t->up);
}

/* ---- accept ---- */

static void side_init(struct sp_tcp *t, struct tcp_side *s, struct tcp_side *peer)
{
	uv_tcp_init(&t->w->loop, &s->tcp);
	s->tcp.data = s;
	s->shut.data = s;
	s->t = t;
	s->peer = peer;
	s->fd = -1;
}

void sp_tcp_start(struct sp_worker *w, const struct sp_listener_def *ld, uv_stream_t *server,
		  int fd)
{
	const struct shunt_limits *lim;
	struct sp_tcp *t;
	int len, err;

	sp_worker_refresh_gen(w);
	t = calloc(1, sizeof(*t));
	if (!t) {
		if (!server)
			close(fd);
		return;
	}
	lim = &w->gen->cfg->proxy.limits;
	t->w = w;
	t->start_ns = uv_hrtime();
	t->idle_ms = lim->idle_timeout_ms;
	t->connect_ms = lim->connect_timeout_ms;
	t->max_buffer = lim->max_buffer_bytes;
	t->state = TS_CONNECTING;
	side_init(t, &t->down, &t->up);
	side_init(t, &t->up, &t->down);
	uv_timer_init(&w->loop, &t->timer);
	t->timer.data = t;
	t->creq.data = t;
	list_init(&t->link);
	list_add(&w->tcp_conns, &t->link);
	atomic_fetch_add_explicit(&w->stats.conns_active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->srv->conns, 1, memory_order_relaxed);
	if (server ? uv_accept(server, (uv_stream_t *)&t->down.tcp)
		   : uv_tcp_open(&t->down.tcp, (uv_os_sock_t)fd)) {
		if (!server)
			close(fd); /* not owned by the handle */
		tcp_close(t, false);
		return;
	}
	STAT_ADD(w, conns_total, 1);
	if (atomic_load_explicit(&w->srv->conns, memory_order_relaxed) >
	    (long long)lim->max_connections) {
		STAT_ADD(w, conns_rejected, 1);
		tcp_close(t, true);
		return;
	}
	len = sizeof(t->peer);
	uv_tcp_getpeername(&t->down.tcp, (struct sockaddr *)&t->peer, &len);
	t->judged = true;
	t->verdict = SP_V_ERROR;
	err = sp_conn_destination(&t->down.tcp, ld, &t->dst);
	if (err) {
		tcp_source_name(t, w->gen->pol, -1);
		tcp_close(t, true);
		return;
	}
	if (!ld->enforce) {
		/* the destination's own (inbound) proxy judges it (Istio) */
		tcp_source_name(t, w->gen->pol,
				shunt_policy_workload_by_addr(w->gen->pol,
							      (const struct sockaddr *)&t->peer));
		t->policy = "none";
	} else if (!tcp_allowed(t, w->gen)) {
		sp_log(SP_LOG_DEBUG, "tcp %p: listener %s: denied", (void *)t, ld->name);
		t->verdict = SP_V_DENY;
		tcp_close(t, true);
		return;
	}
	t->verdict = SP_V_ALLOW;
	uv_tcp_nodelay(&t->down.tcp, 1);
	err = uv_tcp_connect(&t->creq, &t->up.tcp, (const struct sockaddr *)&t->dst,
			     on_up_connected);
	if (err) {
		sp_log(SP_LOG_DEBUG, "tcp %p: upstream connect: %s", (void *)t, uv_strerror(err));
		t->verdict = SP_V_ERROR;
		tcp_close(t, true);
		return;
	}
	uv_timer_start(&t->timer, on_tcp_timer, t->connect_ms, 0);
}
