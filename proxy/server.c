// SPDX-License-Identifier: Apache-2.0
/*
 * Control thread: config generations (load, reload on SIGHUP), workers,
 * graceful drain on SIGTERM, admin listener (/metrics, /ready).
 */
#include "listener_def.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int sp_log_level = SP_LOG_INFO;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void sp_log(int level, const char *fmt, ...)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > sp_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ shunt-proxy %s: %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, level_names[level], msg);
}

int sp_parse_log_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* ---- generations ---- */

struct sp_gen *sp_gen_get(struct sp_gen *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void sp_gen_put(struct sp_gen *g)
{
	if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	shunt_policy_free(g->pol);
	shunt_config_free(g->cfg);
	free(g);
}

struct sp_gen *sp_server_gen(struct sp_server *srv)
{
	struct sp_gen *g;

	pthread_mutex_lock(&srv->gen_lock);
	g = sp_gen_get(srv->gen);
	pthread_mutex_unlock(&srv->gen_lock);
	return g;
}

int sp_gen_load(const char *path, struct sp_gen **out, struct shunt_diags *d)
{
	struct sp_gen *g = calloc(1, sizeof(*g));
	int err;

	if (!g)
		return -ENOMEM;
	err = shunt_config_load_file(path, &g->cfg, d);
	if (err)
		goto cleanup;
	err = shunt_policy_compile(g->cfg, &g->pol, d);
	if (err)
		goto cleanup;
	atomic_init(&g->refs, 1);
	*out = g;
	return 0;
cleanup:
	shunt_config_free(g->cfg);
	free(g);
	return err;
}

/* Publish g as the current generation (takes over the caller's reference). */
void sp_server_publish(struct sp_server *srv, struct sp_gen *g)
{
	struct sp_gen *old;

	pthread_mutex_lock(&srv->gen_lock);
	old = srv->gen;
	g->seq = old ? old->seq + 1 : 1;
	srv->gen = g;
	atomic_store_explicit(&srv->gen_seq, g->seq, memory_order_release);
	pthread_mutex_unlock(&srv->gen_lock);
	sp_gen_put(old);
}

static void diags_log(const struct shunt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct shunt_diag *x = &d->v[i];

		sp_log(SP_LOG_ERROR, "%s:%d:%d: %s: %s", x->file, x->line, x->column, x->path,
		       x->msg);
	}
}

/* Apply the access log setting of a reload: reopen the file (logrotate moves
 * it, then sends SIGHUP; the path may also have changed), enable or disable
 * it. The new file replaces the old one behind the same descriptor number
 * with dup3(), atomically for workers writing concurrently; a disabled log
 * keeps its number on /dev/null (never closed while workers may write), and
 * workers skip it. Files are opened as the (unprivileged) running user. */
void sp_server_reopen_log(struct sp_server *srv, const char *path)
{
	int cur = atomic_load(&srv->access_log_fd), fd;
	const char *target = path ? path : "/dev/null";

	if (cur < 0 && !path)
		return; /* off, stays off */
	if (path && cur >= 0 && !atomic_load(&srv->access_log_off)) {
		struct stat open_st, path_st;

		/* still the same file (not rotated, path unchanged): keep it */
		if (fstat(cur, &open_st) == 0 && stat(path, &path_st) == 0 &&
		    open_st.st_dev == path_st.st_dev && open_st.st_ino == path_st.st_ino)
			return;
	}
	fd = open(target, O_WRONLY | O_APPEND | (path ? O_CREAT : 0) | O_CLOEXEC, 0644);
	if (fd < 0) {
		sp_log(SP_LOG_ERROR, "reload: cannot open access log %s: %s; %s", target,
		       strerror(errno),
		       cur < 0 || atomic_load(&srv->access_log_off) ? "it stays disabled"
								    : "logging to the old file");
		return;
	}
	if (cur < 0) {
		/* first enable: the descriptor becomes the access log's for good */
		atomic_store(&srv->access_log_off, false);
		atomic_store(&srv->access_log_fd, fd);
		sp_log(SP_LOG_INFO, "reload: access log enabled: %s", path);
		return;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		sp_log(SP_LOG_ERROR, "reload: cannot switch the access log to %s: %s", target,
		       strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	/* switched before it is logged: a request after the log line sees it */
	if (atomic_exchange(&srv->access_log_off, !path) != !path)
		sp_log(SP_LOG_INFO, "reload: access log %s%s", path ? "enabled: " : "disabled",
		       path ? path : "");
}

static bool addr_eq(const struct sockaddr_storage *a, socklen_t alen,
		    const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static bool ldef_eq(const struct sp_listener_def *a, const struct sp_listener_def *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       addr_eq(&a->addr, a->addr_len, &b->addr, b->addr_len) &&
	       a->original_dst == b->original_dst &&
	       (a->original_dst ||
		addr_eq(&a->upstream, a->upstream_len, &b->upstream, b->upstream_len));
}

/* A reload's listener set: addresses that stay keep their sockets, new ones
 * must be bindable now (a plain bind, as at start: nobody else holds them,
 * and after the privilege drop a port < 1024 cannot be bound), else the whole
 * listener change is refused with a log line and the running listeners keep
 * serving (the rest of the config applies). Publishes the new set for the
 * workers; returns true if it changed. */
static bool listeners_update(struct sp_server *srv, const struct shunt_proxy_config *pc)
{
	struct sp_listener_def *defs = calloc(pc->n_listeners ? pc->n_listeners : 1, sizeof(*defs));
	bool changed = pc->n_listeners != srv->n_ldefs;
	struct sp_listener_def *old;

	if (!defs || pc->n_listeners == 0) {
		sp_log(SP_LOG_ERROR, "reload: %s; keeping the running listeners",
		       defs ? "no listener configured" : "out of memory");
		free(defs);
		return false;
	}
	for (size_t i = 0; i < pc->n_listeners; i++) {
		const struct shunt_listener *l = &pc->listeners[i];
		struct sp_listener_def *d = &defs[i];
		bool held = false;
		int fd, one = 1, err = 0;

		sp_listener_def_from(d, l);
		if (i >= srv->n_ldefs || !ldef_eq(d, &srv->ldefs[i]))
			changed = true;
		for (size_t k = 0; k < srv->n_ldefs && !held; k++)
			held = addr_eq(&d->addr, d->addr_len, &srv->ldefs[k].addr,
				       srv->ldefs[k].addr_len);
		if (held)
			continue;
		fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(fd, (const struct sockaddr *)&d->addr, d->addr_len))
			err = errno;
		if (fd >= 0)
			close(fd);
		if (err) {
			sp_log(SP_LOG_ERROR,
			       "reload: listener %s: cannot bind its new address: %s%s; keeping "
			       "the running listeners",
			       d->name, strerror(err),
			       err == EACCES ? " (a port below 1024 needs the privileges dropped "
					       "at start: restart shunt-proxy)"
					     : "");
			free(defs);
			return false;
		}
	}
	if (!changed) {
		free(defs);
		return false;
	}
	pthread_mutex_lock(&srv->gen_lock);
	old = srv->ldefs;
	srv->ldefs = defs;
	srv->n_ldefs = pc->n_listeners;
	atomic_fetch_add(&srv->ldefs_seq, 1);
	pthread_mutex_unlock(&srv->gen_lock);
	free(old);
	sp_log(SP_LOG_INFO, "reload: %zu listener(s) configured, applying", pc->n_listeners);
	return true;
}

int sp_server_reload(struct sp_server *srv)
{
	struct shunt_diags d = {0};
	struct sp_gen *g = NULL;
	int err = sp_gen_load(srv->config_path, &g, &d);

	if (err) {
		sp_log(SP_LOG_ERROR, "reload of %s failed (%s); keeping the running config",
		       srv->config_path, strerror(-err));
		diags_log(&d);
		shunt_diags_free(&d);
		atomic_fetch_add(&srv->reloads_failed, 1);
		return err;
	}
	shunt_diags_free(&d);
	sp_server_reopen_log(srv, g->cfg->proxy.access_log);
	listeners_update(srv, &g->cfg->proxy);
	if (srv->gen) { /* what a reload cannot change (written only by this thread) */
		const struct shunt_proxy_config *o = &srv->gen->cfg->proxy, *n = &g->cfg->proxy;

		if (o->has_admin != n->has_admin ||
		    (n->has_admin && !addr_eq(&o->admin, o->admin_len, &n->admin, n->admin_len)))
			sp_log(SP_LOG_WARN,
			       "reload: a new admin address needs a restart (ignored)");
		if (o->workers != n->workers)
			sp_log(SP_LOG_WARN, "reload: a new worker count needs a restart (ignored)");
	}
	sp_server_publish(srv, g);
	atomic_fetch_add(&srv->reloads_ok, 1);
	for (unsigned i = 0; i < srv->n_workers; i++)
		uv_async_send(&srv->workers[i].wake);
	sp_log(SP_LOG_INFO, "reloaded %s: generation %u, %zu policies, %zu workloads",
	       srv->config_path, g->seq, g->cfg->n_policies, g->cfg->n_workloads);
	return 0;
}

/* ---- workers ---- */

static void on_wake(uv_async_t *a)
{
	struct sp_worker *w = a->data;

	if (atomic_load(&w->srv->draining)) {
		sp_worker_start_drain(w);
		uv_close((uv_handle_t *)&w->wake, NULL);
		return;
	}
	sp_worker_refresh_gen(w);
	sp_worker_refresh_listeners(w);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void *worker_main(void *arg)
{
	struct sp_worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	/* only unreferenced handles (drain timer) remain */
	sp_worker_close_all(w);
	uv_walk(&w->loop, on_walk_close, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop))
		sp_log(SP_LOG_WARN, "worker %d: loop closed with handles left", w->id);
	return NULL;
}

/* SO_REUSEPORT would let us share a port with another process of the same
 * user without a word: check first that nobody else listens there. */
static int check_addresses_free(struct sp_server *srv)
{
	for (size_t i = 0; i < srv->n_ldefs; i++) {
		const struct sp_listener_def *ld = &srv->ldefs[i];
		int fd = socket(ld->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1,
		    err = 0;

		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&ld->addr, ld->addr_len))
			err = -errno;
		close(fd);
		if (err) {
			sp_log(SP_LOG_ERROR, "listener %s: cannot bind: %s", ld->name,
			       strerror(-err));
			return err;
		}
	}
	return 0;
}

int sp_server_bind_workers(struct sp_server *srv)
{
	unsigned i;
	int err;

	err = check_addresses_free(srv);
	if (err)
		return err;
	srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
	if (!srv->workers)
		return -ENOMEM;
	for (i = 0; i < srv->n_workers; i++) {
		struct sp_worker *w = &srv->workers[i];

		w->srv = srv;
		w->id = (int)i;
		uv_loop_init(&w->loop);
		uv_async_init(&w->loop, &w->wake, on_wake);
		w->wake.data = w;
		w->gen = sp_server_gen(srv);
		err = sp_worker_listen(w);
		if (err)
			return err;
	}
	return 0;
}

int sp_server_spawn_workers(struct sp_server *srv)
{
	int err;

	for (unsigned i = 0; i < srv->n_workers; i++) {
		err = pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
		if (err)
			return -err;
		srv->n_started++;
	}
	return 0;
}

void sp_server_drain(struct sp_server *srv)
{
	atomic_store(&srv->draining, 1);
	for (unsigned i = 0; i < srv->n_started; i++)
		uv_async_send(&srv->workers[i].wake);
}

void sp_server_join(struct sp_server *srv)
{
	for (unsigned i = 0; i < srv->n_started; i++) {
		pthread_join(srv->workers[i].thread, NULL);
		sp_gen_put(srv->workers[i].gen);
		free(srv->workers[i].listeners);
	}
}

/* ---- admin listener ---- */

struct sp_admin_conn {
	uv_tcp_t tcp;
	uv_write_t wreq;
	struct sp_server *srv;
	char in[4096];
	size_t in_len;
	char *out;
	size_t out_len;
	bool responded;
};

static void on_admin_close(uv_handle_t *h)
{
	struct sp_admin_conn *a = h->data;

	free(a->out);
	free(a);
}

static void on_admin_write(uv_write_t *req, int status)
{
	struct sp_admin_conn *a = req->data;

	uv_close((uv_handle_t *)&a->tcp, on_admin_close);
}

static void sum_stats(struct sp_server *srv, struct sp_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
#define SUM(f)                                                                             \
	atomic_fetch_add_explicit(&sum->f,                                                 \
				  atomic_load_explicit(&w->stats.f, memory_order_relaxed), \
				  memory_order_relaxed)
	for (unsigned i = 0; i < srv->n_started; i++) {
		struct sp_worker *w = &srv->workers[i];

		for (int k = 0; k < SP_V_N; k++)
			SUM(requests[k]);
		for (int k = 0; k < SP_STATUS_SLOTS; k++)
			SUM(status[k]);
		for (int k = 0; k < SP_LAT_BUCKETS; k++)
			SUM(lat_bucket[k]);
		SUM(lat_sum_us);
		SUM(lat_count);
		SUM(conns_active);
		SUM(conns_total);
		SUM(conns_rejected);
		SUM(upstream_connects);
		SUM(upstream_reused);
		SUM(pipeline_held);
		SUM(bytes_in);
		SUM(bytes_out);
	}
#undef SUM
}

static void render_metrics(struct sp_server *srv, FILE *f)
{
	static const char *vn[SP_V_N] = {"allow", "deny", "malformed", "error"};
	struct sp_stats *s = calloc(1, sizeof(*s));
	unsigned long long cum = 0;

	if (!s)
		return;
	sum_stats(srv, s);
	fprintf(f, "# HELP shunt_proxy_requests_total Requests by verdict.\n"
		   "# TYPE shunt_proxy_requests_total counter\n");
	for (int k = 0; k < SP_V_N; k++)
		fprintf(f, "shunt_proxy_requests_total{verdict=\"%s\"} %llu\n", vn[k],
			(unsigned long long)s->requests[k]);
	fprintf(f, "# HELP shunt_proxy_responses_total Responses by status code.\n"
		   "# TYPE shunt_proxy_responses_total counter\n");
	for (int k = 0; k < SP_STATUS_SLOTS; k++)
		if (s->status[k])
			fprintf(f, "shunt_proxy_responses_total{status=\"%d\"} %llu\n", k,
				(unsigned long long)s->status[k]);
	fprintf(f, "# HELP shunt_proxy_request_duration_seconds Request latency (head to "
		   "last response byte).\n"
		   "# TYPE shunt_proxy_request_duration_seconds histogram\n");
	for (int k = 0; k < SP_LAT_BUCKETS; k++) {
		cum += s->lat_bucket[k];
		if (k < SP_LAT_BUCKETS - 1)
			fprintf(f, "shunt_proxy_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				sp_lat_bounds[k], cum);
		else
			fprintf(f,
				"shunt_proxy_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				cum);
	}
	fprintf(f, "shunt_proxy_request_duration_seconds_sum %.6f\n", (double)s->lat_sum_us / 1e6);
	fprintf(f, "shunt_proxy_request_duration_seconds_count %llu\n",
		(unsigned long long)s->lat_count);
	fprintf(f,
		"# TYPE shunt_proxy_connections_active gauge\nshunt_proxy_connections_active %lld\n"
		"# TYPE shunt_proxy_connections_total counter\nshunt_proxy_connections_total %llu\n"
		"# TYPE shunt_proxy_connections_rejected_total counter\n"
		"shunt_proxy_connections_rejected_total %llu\n"
		"# TYPE shunt_proxy_upstream_connects_total counter\n"
		"shunt_proxy_upstream_connects_total %llu\n"
		"# TYPE shunt_proxy_upstream_reused_total counter\n"
		"shunt_proxy_upstream_reused_total %llu\n"
		"# TYPE shunt_proxy_pipeline_held_total counter\n"
		"shunt_proxy_pipeline_held_total %llu\n"
		"# TYPE shunt_proxy_bytes_in_total counter\nshunt_proxy_bytes_in_total %llu\n"
		"# TYPE shunt_proxy_bytes_out_total counter\nshunt_proxy_bytes_out_total %llu\n"
		"# TYPE shunt_proxy_config_reloads_total counter\n"
		"shunt_proxy_config_reloads_total{result=\"ok\"} %u\n"
		"shunt_proxy_config_reloads_total{result=\"error\"} %u\n"
		"# TYPE shunt_proxy_config_generation gauge\nshunt_proxy_config_generation %u\n"
		"# TYPE shunt_proxy_workers gauge\nshunt_proxy_workers %u\n",
		(long long)s->conns_active, (unsigned long long)s->conns_total,
		(unsigned long long)s->conns_rejected, (unsigned long long)s->upstream_connects,
		(unsigned long long)s->upstream_reused, (unsigned long long)s->pipeline_held,
		(unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
		atomic_load(&srv->reloads_ok), atomic_load(&srv->reloads_failed),
		atomic_load(&srv->gen_seq), srv->n_started);
	free(s);
}

static void admin_respond(struct sp_admin_conn *a)
{
	struct sp_server *srv = a->srv;
	char *body = NULL;
	size_t body_len = 0;
	int status = 200;
	const char *ctype = "text/plain";
	FILE *f = open_memstream(&body, &body_len);
	FILE *o;
	uv_buf_t buf;

	a->responded = true;
	if (!f) {
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
		return;
	}
	if (strncmp(a->in, "GET /metrics ", 13) == 0 || strncmp(a->in, "GET /metrics?", 13) == 0) {
		ctype = "text/plain; version=0.0.4";
		render_metrics(srv, f);
	} else if (strncmp(a->in, "GET /ready ", 11) == 0) {
		if (atomic_load(&srv->draining) || srv->n_started != srv->n_workers) {
			status = 503;
			fputs("draining\n", f);
		} else {
			fputs("ready\n", f);
		}
	} else {
		status = 404;
		fputs("not found\n", f);
	}
	fclose(f);
	o = open_memstream(&a->out, &a->out_len);
	if (!o) {
		free(body);
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
		return;
	}
	fprintf(o,
		"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
		"connection: close\r\n\r\n",
		status,
		status == 200	? "OK"
		: status == 503 ? "Service Unavailable"
				: "Not Found",
		ctype, body_len);
	fwrite(body, 1, body_len, o);
	fclose(o);
	free(body);
	buf = uv_buf_init(a->out, (unsigned)a->out_len);
	a->wreq.data = a;
	if (uv_write(&a->wreq, (uv_stream_t *)&a->tcp, &buf, 1, on_admin_write))
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
}

static void on_admin_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sp_admin_conn *a = h->data;

	buf->base = a->in + a->in_len;
	buf->len = sizeof(a->in) - 1 - a->in_len;
}

static void on_admin_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct sp_admin_conn *a = s->data;

	if (a->responded)
		return;
	if (nread < 0 || (nread == 0 && a->in_len == sizeof(a->in) - 1)) {
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
		return;
	}
	a->in_len += (size_t)nread;
	a->in[a->in_len] = '\0';
	if (strstr(a->in, "\r\n\r\n") || strstr(a->in, "\n\n")) {
		uv_read_stop(s);
		admin_respond(a);
	} else if (a->in_len == sizeof(a->in) - 1) {
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
	}
}

static void on_admin_connection(uv_stream_t *server, int status)
{
	struct sp_server *srv = server->data;
	struct sp_admin_conn *a;

	if (status < 0)
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->srv = srv;
	uv_tcp_init(server->loop, &a->tcp);
	a->tcp.data = a;
	if (uv_accept(server, (uv_stream_t *)&a->tcp)) {
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
		return;
	}
	uv_read_start((uv_stream_t *)&a->tcp, on_admin_alloc, on_admin_read);
}

int sp_admin_start(struct sp_server *srv, uv_loop_t *loop, uv_tcp_t *tcp,
		   const struct sockaddr *addr)
{
	int err;

	uv_tcp_init(loop, tcp);
	tcp->data = srv;
	err = uv_tcp_bind(tcp, addr, 0);
	if (!err)
		err = uv_listen((uv_stream_t *)tcp, 64, on_admin_connection);
	return err;
}
