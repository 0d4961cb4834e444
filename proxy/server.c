// SPDX-License-Identifier: Apache-2.0
/*
 * Control thread: config generations (load, reload on SIGHUP), workers,
 * graceful drain on SIGTERM, admin listener (/metrics, /ready).
 */
#include "listener_def.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
	free(g->l4);
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
	/* the L4 table (which can be large: one entry per source, destination
	 * and port of the policy) only for configs with a judging tcp listener */
	for (size_t i = 0; i < g->cfg->proxy.n_listeners; i++) {
		const struct shunt_listener *l = &g->cfg->proxy.listeners[i];

		if (l->mode == SHUNT_LISTENER_TCP && l->enforce) {
			err = shunt_policy_l4_entries_opts(g->pol, SHUNT_L4_NO_PROXY, &g->l4,
							   &g->n_l4);
			if (err)
				goto cleanup;
			g->has_l4 = true;
			break;
		}
	}
	atomic_init(&g->refs, 1);
	*out = g;
	return 0;
cleanup:
	shunt_policy_free(g->pol);
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
	       a->original_dst == b->original_dst && a->mode == b->mode &&
	       a->enforce == b->enforce &&
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

static void admin_update(struct sp_server *srv, const struct shunt_proxy_config *pc);
static void workers_resize(struct sp_server *srv, unsigned want);
static void worker_wake_locked(struct sp_worker *w);

int sp_server_reload(struct sp_server *srv)
{
	struct shunt_diags d = {0};
	struct sp_gen *g = NULL;
	int err = sp_gen_load(srv->config_path, &g, &d);
	unsigned want;

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
	admin_update(srv, &g->cfg->proxy);
	want = srv->workers_fixed      ? srv->n_workers
	       : g->cfg->proxy.workers ? g->cfg->proxy.workers
				       : 1;
	if (want > SP_MAX_WORKERS) {
		sp_log(SP_LOG_WARN, "reload: proxy.workers %u capped at %d", want, SP_MAX_WORKERS);
		want = SP_MAX_WORKERS;
	}
	if (srv->workers_fixed && srv->gen && srv->gen->cfg->proxy.workers != g->cfg->proxy.workers)
		sp_log(SP_LOG_WARN, "reload: proxy.workers ignored: --workers %u given at start",
		       srv->n_workers);
	sp_server_publish(srv, g);
	atomic_fetch_add(&srv->reloads_ok, 1);
	/* new workers start with the new generation and listener set */
	workers_resize(srv, want);
	pthread_mutex_lock(&srv->gen_lock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		worker_wake_locked(srv->workers[i]);
	pthread_mutex_unlock(&srv->gen_lock);
	sp_log(SP_LOG_INFO, "reloaded %s: generation %u, %zu policies, %zu workloads, %u worker(s)",
	       srv->config_path, g->seq, g->cfg->n_policies, g->cfg->n_workloads, srv->n_workers);
	return 0;
}

/* ---- listening sockets (slots, see struct sp_slot) ---- */

static void on_listener_close(uv_handle_t *h)
{
	free(h->data);
}

/* A SO_REUSEPORT socket bound to ld's address, not listening yet (closing it
 * then resets nothing). Returns 0 or -errno. */
static int socket_bound(const struct sp_listener_def *ld, int *out)
{
	int fd, one = 1, err;

	fd = socket(ld->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&ld->addr, ld->addr_len)) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

/* Make fd (bound or already listening, e.g. handed over) a listening socket
 * of w in slot `slot`; takes fd. Returns 0 or -errno. */
static int listener_wrap(struct sp_worker *w, int fd, const struct sp_listener_def *def,
			 unsigned slot)
{
	struct sp_listener **nl, *l;
	int err;

	nl = realloc(w->listeners, (w->n_listeners + 1) * sizeof(*nl));
	if (nl)
		w->listeners = nl;
	l = nl ? calloc(1, sizeof(*l)) : NULL;
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->w = w;
	l->def = *def;
	l->slot = slot;
	uv_tcp_init(&w->loop, &l->tcp);
	l->tcp.data = l;
	err = uv_tcp_open(&l->tcp, fd);
	if (err)
		close(fd); /* not owned by the handle */
	else
		err = uv_listen((uv_stream_t *)&l->tcp, 1024, sp_on_connection);
	if (err) {
		uv_close((uv_handle_t *)&l->tcp, on_listener_close);
		return err;
	}
	w->listeners[w->n_listeners++] = l;
	return 0;
}

/* Close a listening socket whose address left the config: the connections
 * already in its accept queue (handshake done while the address was still
 * configured) are accepted and served first, only then is it closed. */
static void listener_close_flush(struct sp_worker *w, struct sp_listener *l)
{
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0) {
		for (;;) {
			int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (c >= 0)
				sp_conn_accepted(w, &l->def, c);
			else if (errno != EINTR && errno != ECONNABORTED)
				break;
		}
	}
	uv_close((uv_handle_t *)&l->tcp, on_listener_close);
}

static int ldefs_find(const struct sp_listener_def *defs, size_t n, const struct sp_listener_def *d)
{
	for (size_t i = 0; i < n; i++)
		if (defs[i].addr_len == d->addr_len &&
		    memcmp(&defs[i].addr, &d->addr, d->addr_len) == 0)
			return (int)i;
	return -1;
}

/* Bring w's sockets to the listener set defs[0..n): for every slot w holds,
 * one socket per address (new ones bound first), sockets of addresses that
 * stay are kept (name and upstream updated), those of addresses that are gone
 * closed last (listener_close_flush). On a failure to bind, nothing changes.
 * Returns 0 or -errno. */
static int worker_apply_listeners(struct sp_worker *w, const struct sp_listener_def *defs, size_t n)
{
	struct {
		int fd;
		unsigned slot;
		size_t def;
	} *pend = calloc(n * SP_MAX_WORKERS + 1, sizeof(*pend));
	size_t np = 0, k, m;
	int err = 0;

	if (!pend)
		return -ENOMEM;
	for (unsigned s = 0; s < SP_MAX_WORKERS; s++) {
		if (!(w->held & (1ULL << s)))
			continue;
		for (size_t i = 0; i < n; i++) {
			bool have = false;

			for (k = 0; k < w->n_listeners && !have; k++)
				have = w->listeners[k]->slot == s &&
				       ldefs_find(&defs[i], 1, &w->listeners[k]->def) == 0;
			if (have)
				continue;
			err = socket_bound(&defs[i], &pend[np].fd);
			if (err) {
				sp_log(SP_LOG_ERROR, "worker %d: failed to listen on %s: %s", w->id,
				       defs[i].name, strerror(-err));
				goto cleanup;
			}
			pend[np].slot = s;
			pend[np++].def = i;
		}
	}
	/* every new socket is bound: switch */
	for (k = 0, m = 0; k < w->n_listeners; k++) {
		struct sp_listener *l = w->listeners[k];
		int i = ldefs_find(defs, n, &l->def);

		if (i < 0) {
			listener_close_flush(w, l);
			continue;
		}
		l->def = defs[i];
		w->listeners[m++] = l;
	}
	w->n_listeners = m;
	for (k = 0; k < np; k++) {
		int e = listen(pend[k].fd, 1024) ? -errno : 0;

		if (!e)
			e = listener_wrap(w, pend[k].fd, &defs[pend[k].def], pend[k].slot);
		else
			close(pend[k].fd); /* not listening: resets nothing */
		pend[k].fd = -1;
		if (e) {
			sp_log(SP_LOG_ERROR, "worker %d: failed to listen on %s: %s", w->id,
			       defs[pend[k].def].name, strerror(-e));
			err = e;
		}
	}
	np = 0;
cleanup:
	for (k = 0; k < np; k++)
		if (pend[k].fd >= 0)
			close(pend[k].fd);
	free(pend);
	return err;
}

/* Under gen_lock: wake w unless it closed its async handle. */
static void worker_wake_locked(struct sp_worker *w)
{
	if (!w->wake_closed)
		uv_async_send(&w->wake);
}

static bool worker_is_host_locked(struct sp_server *srv, struct sp_worker *w, unsigned s)
{
	int h = srv->slots[s].host;

	return h >= 0 && (unsigned)h < srv->n_workers && srv->workers[h] == w;
}

/* Hand every socket of slot s that w holds to the slot's host (dup'ed fds:
 * the sockets and their accept queues stay open, see struct sp_slot). */
static void worker_release_slot(struct sp_worker *w, unsigned s)
{
	struct sp_server *srv = w->srv;
	struct sp_handoff *list = NULL, **tail = &list;
	size_t k, m, n = 0;

	for (k = 0, m = 0; k < w->n_listeners; k++) {
		struct sp_listener *l = w->listeners[k];
		struct sp_handoff *h;
		uv_os_fd_t fd;

		if (l->slot != s) {
			w->listeners[m++] = l;
			continue;
		}
		h = calloc(1, sizeof(*h));
		if (h && uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0)
			h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (!h || h->fd < 0) {
			sp_log(SP_LOG_ERROR, "worker %d: cannot hand over a socket of %s: %s",
			       w->id, l->def.name, strerror(h ? errno : ENOMEM));
			free(h);
			listener_close_flush(w, l);
			continue;
		}
		h->def = l->def;
		*tail = h;
		tail = &h->next;
		n++;
		/* the handle's fd closes, the socket lives on in h->fd */
		uv_close((uv_handle_t *)&l->tcp, on_listener_close);
	}
	w->n_listeners = m;
	w->held &= ~(1ULL << s);
	pthread_mutex_lock(&srv->gen_lock);
	*tail = srv->slots[s].transit;
	srv->slots[s].transit = list;
	srv->slots[s].ready = true;
	if (srv->slots[s].host >= 0 && (unsigned)srv->slots[s].host < srv->n_workers)
		worker_wake_locked(srv->workers[srv->slots[s].host]);
	pthread_mutex_unlock(&srv->gen_lock);
	sp_log(SP_LOG_INFO, "worker %d: handed socket set %u over (%zu socket(s))", w->id, s, n);
}

/* Release the slots w holds but is no longer host of, adopt the ones handed
 * to it. Returns true if w adopted a slot (its set is then completed). */
static bool worker_sync_slots(struct sp_worker *w, bool release_all)
{
	struct sp_server *srv = w->srv;
	struct sp_handoff *adopt[SP_MAX_WORKERS] = {0};
	bool take[SP_MAX_WORKERS] = {0}, adopted = false;
	uint64_t release = 0;
	struct sp_listener_def *defs = NULL;
	size_t n = 0;

	pthread_mutex_lock(&srv->gen_lock);
	for (unsigned s = 0; s < srv->n_slots; s++) {
		bool host = !release_all && worker_is_host_locked(srv, w, s);

		if ((w->held & (1ULL << s)) && !host)
			release |= 1ULL << s;
		else if (host && !(w->held & (1ULL << s)) && srv->slots[s].ready) {
			take[s] = true;
			adopt[s] = srv->slots[s].transit;
			srv->slots[s].transit = NULL;
			srv->slots[s].ready = false;
			adopted = true;
		}
	}
	if (adopted) {
		n = srv->n_ldefs;
		defs = malloc((n ? n : 1) * sizeof(*defs));
		if (defs)
			memcpy(defs, srv->ldefs, n * sizeof(*defs));
	}
	pthread_mutex_unlock(&srv->gen_lock);
	for (unsigned s = 0; s < SP_MAX_WORKERS; s++)
		if (release & (1ULL << s))
			worker_release_slot(w, s);
	for (unsigned s = 0; s < SP_MAX_WORKERS; s++) {
		size_t cnt = 0;

		if (!take[s])
			continue;
		while (adopt[s]) {
			struct sp_handoff *h = adopt[s];
			int i = defs ? ldefs_find(defs, n, &h->def) : 0;

			adopt[s] = h->next;
			if (i < 0) { /* its address left the config meanwhile */
				struct sp_listener *l = NULL;

				if (listener_wrap(w, h->fd, &h->def, s) == 0) {
					l = w->listeners[--w->n_listeners];
					listener_close_flush(w, l);
				}
			} else if (listener_wrap(w, h->fd, defs ? &defs[i] : &h->def, s) == 0) {
				cnt++;
			} else {
				sp_log(SP_LOG_ERROR, "worker %d: cannot take over a socket of %s",
				       w->id, h->def.name);
			}
			free(h);
		}
		w->held |= 1ULL << s;
		sp_log(SP_LOG_INFO, "worker %d: serving socket set %u (%zu socket(s) taken over)",
		       w->id, s, cnt);
	}
	free(defs);
	return adopted;
}

/* After a reload changed the listener set (validated by the control thread:
 * every new address was bindable) or w took over a socket set, apply the
 * current set to w. */
static void worker_refresh_listeners(struct sp_worker *w, bool force)
{
	struct sp_server *srv = w->srv;
	struct sp_listener_def *defs;
	unsigned seq = atomic_load(&srv->ldefs_seq);
	bool changed = seq != w->ldefs_seq;
	size_t n;

	if (!changed && !force)
		return;
	pthread_mutex_lock(&srv->gen_lock);
	seq = atomic_load(&srv->ldefs_seq);
	n = srv->n_ldefs;
	defs = malloc((n ? n : 1) * sizeof(*defs));
	if (defs)
		memcpy(defs, srv->ldefs, n * sizeof(*defs));
	pthread_mutex_unlock(&srv->gen_lock);
	if (!defs) {
		sp_log(SP_LOG_ERROR, "worker %d: listener update: out of memory", w->id);
		return;
	}
	if (worker_apply_listeners(w, defs, n) == 0) {
		w->ldefs_seq = seq;
		if (changed)
			sp_log(SP_LOG_INFO, "worker %d: %zu listener(s) after reload", w->id, n);
	}
	free(defs);
}

/* ---- workers ---- */

/* Under gen_lock: slot s is held by worker s while it lives, else by worker
 * s mod n (the sets of retired workers spread over the remaining ones). */
static void slots_assign_locked(struct sp_server *srv)
{
	for (unsigned s = 0; s < srv->n_slots; s++)
		srv->slots[s].host = (int)(s < srv->n_workers ? s : s % srv->n_workers);
}

static void worker_close_wake(struct sp_worker *w)
{
	pthread_mutex_lock(&w->srv->gen_lock);
	w->wake_closed = true;
	pthread_mutex_unlock(&w->srv->gen_lock);
	uv_close((uv_handle_t *)&w->wake, NULL);
}

static void on_wake(uv_async_t *a)
{
	struct sp_worker *w = a->data;

	if (atomic_load(&w->srv->draining)) {
		worker_close_wake(w);
		sp_worker_start_drain(w);
		return;
	}
	if (atomic_load(&w->retire)) {
		/* a reload lowered the worker count: hand every socket set to the
		 * remaining workers (nothing queued is lost), then finish the
		 * connections of this one as in a drain */
		worker_sync_slots(w, true);
		worker_close_wake(w);
		sp_log(SP_LOG_INFO, "worker %d: retiring", w->id);
		sp_worker_start_drain(w);
		return;
	}
	sp_worker_refresh_gen(w);
	worker_refresh_listeners(w, worker_sync_slots(w, false));
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void *worker_main(void *arg)
{
	struct sp_worker *w = arg;
	struct sp_server *srv = w->srv;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	/* only unreferenced handles (drain timer) remain */
	sp_worker_close_all(w);
	uv_walk(&w->loop, on_walk_close, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&w->loop))
		sp_log(SP_LOG_WARN, "worker %d: loop closed with handles left", w->id);
	atomic_store(&w->exited, true);
	if (srv->reap_ready) /* the control thread joins it */
		uv_async_send(&srv->reap);
	return NULL;
}

static void stats_add(struct sp_stats *sum, struct sp_stats *from)
{
#define SUM(f)                                                                                   \
	atomic_fetch_add_explicit(&sum->f, atomic_load_explicit(&from->f, memory_order_relaxed), \
				  memory_order_relaxed)
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
	for (int k = 0; k < SP_V_N; k++)
		SUM(tcp_conns[k]);
	SUM(tcp_spliced);
	SUM(tcp_spliced_bytes);
	SUM(tunnels_spliced);
#undef SUM
}

/* A worker whose thread is joined (or never started): free it. */
static void worker_free(struct sp_worker *w)
{
	for (size_t k = 0; k < w->n_listeners; k++)
		free(w->listeners[k]); /* closed with the loop */
	free(w->listeners);
	sp_gen_put(w->gen);
	free(w);
}

/* Join the retiring workers that exited; their counters stay in /metrics. */
static void on_reap(uv_async_t *a)
{
	struct sp_server *srv = a->data;
	struct sp_worker **pp = &srv->retiring;

	while (*pp) {
		struct sp_worker *w = *pp;

		if (!atomic_load(&w->exited)) {
			pp = &w->next_retiring;
			continue;
		}
		*pp = w->next_retiring;
		srv->n_retiring--;
		pthread_join(w->thread, NULL);
		stats_add(srv->retired, &w->stats);
		sp_log(SP_LOG_INFO, "worker %d: retired", w->id);
		worker_free(w);
	}
}

/* A worker (loop, wake handle, generation) not yet running; listening
 * sockets come with the slots it holds. */
static struct sp_worker *worker_new(struct sp_server *srv, unsigned id)
{
	struct sp_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->srv = srv;
	w->id = (int)id;
	if (uv_loop_init(&w->loop)) {
		free(w);
		return NULL;
	}
	uv_async_init(&w->loop, &w->wake, on_wake);
	w->wake.data = w;
	w->gen = sp_server_gen(srv);
	w->ldefs_seq = atomic_load(&srv->ldefs_seq);
	sp_worker_init_conns(w);
	return w;
}

/* SO_REUSEPORT would let us share a port with another process of the same
 * user without a word: check first that nobody else listens there. With
 * reuseport, check instead that one more socket of ours can join (a new
 * worker's set). */
static int check_addresses(struct sp_server *srv, bool reuseport)
{
	for (size_t i = 0; i < srv->n_ldefs; i++) {
		const struct sp_listener_def *ld = &srv->ldefs[i];
		int fd = socket(ld->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1,
		    err = 0;

		if (fd < 0)
			return -errno;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (reuseport)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&ld->addr, ld->addr_len))
			err = -errno;
		close(fd);
		if (err) {
			sp_log(SP_LOG_ERROR, "%slistener %s: cannot bind: %s%s",
			       reuseport ? "reload: new worker: " : "", ld->name, strerror(-err),
			       reuseport && err == -EACCES ? " (a port below 1024 needs the "
							     "privileges dropped at start)"
							   : "");
			return err;
		}
	}
	return 0;
}

int sp_server_bind_workers(struct sp_server *srv)
{
	int err;

	err = check_addresses(srv, false);
	if (err)
		return err;
	srv->retired = calloc(1, sizeof(*srv->retired));
	if (!srv->retired)
		return -ENOMEM;
	if (srv->ctl_loop && uv_async_init(srv->ctl_loop, &srv->reap, on_reap) == 0) {
		srv->reap.data = srv;
		uv_unref((uv_handle_t *)&srv->reap); /* never keeps the loop alive */
		srv->reap_ready = true;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct sp_worker *w = worker_new(srv, i);

		if (!w) {
			srv->n_workers = i;
			return -ENOMEM;
		}
		srv->workers[i] = w;
		srv->slots[i].host = (int)i;
		srv->n_slots = i + 1;
		w->held = 1ULL << i;
		err = worker_apply_listeners(w, srv->ldefs, srv->n_ldefs);
		if (err) {
			srv->n_workers = i + 1;
			return err;
		}
	}
	return 0;
}

int sp_server_chown_listeners(struct sp_server *srv, uid_t uid, gid_t gid)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct sp_worker *w = srv->workers[i];

		for (size_t k = 0; k < w->n_listeners; k++) {
			uv_os_fd_t fd;

			if (uv_fileno((uv_handle_t *)&w->listeners[k]->tcp, &fd) == 0 &&
			    fchown(fd, uid, gid))
				return -errno;
		}
	}
	return 0;
}

int sp_server_spawn_workers(struct sp_server *srv)
{
	int err;

	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct sp_worker *w = srv->workers[i];

		err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			return -err;
		w->started = true;
	}
	return 0;
}

/* A reload's worker count: new workers take back the socket sets of retired
 * ones (or get new sets), retiring workers hand theirs over and drain. */
static void workers_resize(struct sp_server *srv, unsigned want)
{
	unsigned before = srv->n_workers;

	if (want == before)
		return;
	while (srv->n_workers < want) {
		unsigned i = srv->n_workers;
		bool fresh = i >= srv->n_slots;
		struct sp_worker *w;

		if (fresh && check_addresses(srv, true)) {
			sp_log(SP_LOG_ERROR, "reload: cannot add worker %u; keeping %u worker(s)",
			       i, srv->n_workers);
			break;
		}
		w = worker_new(srv, i);
		if (!w || pthread_create(&w->thread, NULL, worker_main, w)) {
			sp_log(SP_LOG_ERROR, "reload: cannot start worker %u; keeping %u worker(s)",
			       i, srv->n_workers);
			if (w) {
				uv_close((uv_handle_t *)&w->wake, NULL);
				uv_close((uv_handle_t *)&w->pool_timer, NULL);
				uv_run(&w->loop, UV_RUN_DEFAULT);
				uv_loop_close(&w->loop);
				worker_free(w);
			}
			break;
		}
		w->started = true;
		pthread_mutex_lock(&srv->gen_lock);
		srv->workers[i] = w;
		srv->n_workers++;
		if (fresh) {
			srv->slots[i].ready = true; /* empty: its host opens the sockets */
			srv->slots[i].transit = NULL;
			srv->n_slots = i + 1;
		}
		pthread_mutex_unlock(&srv->gen_lock);
	}
	pthread_mutex_lock(&srv->gen_lock);
	while (srv->n_workers > want) {
		struct sp_worker *w = srv->workers[--srv->n_workers];

		srv->workers[srv->n_workers] = NULL;
		atomic_store(&w->retire, true);
		worker_wake_locked(w);
		w->next_retiring = srv->retiring;
		srv->retiring = w;
		srv->n_retiring++;
	}
	slots_assign_locked(srv);
	for (unsigned i = 0; i < srv->n_workers; i++)
		worker_wake_locked(srv->workers[i]);
	pthread_mutex_unlock(&srv->gen_lock);
	if (srv->n_workers != before)
		sp_log(SP_LOG_INFO, "reload: workers %u -> %u", before, srv->n_workers);
}

void sp_server_drain(struct sp_server *srv)
{
	atomic_store(&srv->draining, 1);
	pthread_mutex_lock(&srv->gen_lock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		if (srv->workers[i]->started)
			worker_wake_locked(srv->workers[i]);
	pthread_mutex_unlock(&srv->gen_lock);
	if (srv->admin) {
		uv_close((uv_handle_t *)srv->admin, (uv_close_cb)free);
		srv->admin = NULL;
	}
}

void sp_server_join(struct sp_server *srv)
{
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct sp_worker *w = srv->workers[i];

		if (w->started) {
			pthread_join(w->thread, NULL);
		} else { /* never ran (failed start): close its handles */
			uv_walk(&w->loop, on_walk_close, NULL);
			uv_run(&w->loop, UV_RUN_DEFAULT);
			uv_loop_close(&w->loop);
		}
		worker_free(w);
		srv->workers[i] = NULL;
	}
	srv->n_workers = 0;
	while (srv->retiring) {
		struct sp_worker *w = srv->retiring;

		srv->retiring = w->next_retiring;
		pthread_join(w->thread, NULL);
		worker_free(w);
	}
	for (unsigned s = 0; s < srv->n_slots; s++)
		while (srv->slots[s].transit) {
			struct sp_handoff *h = srv->slots[s].transit;

			srv->slots[s].transit = h->next;
			close(h->fd);
			free(h);
		}
	if (srv->reap_ready) {
		uv_close((uv_handle_t *)&srv->reap, NULL);
		srv->reap_ready = false;
	}
	if (srv->ctl_loop) /* close callbacks still due (reap, admin on a failed start) */
		uv_run(srv->ctl_loop, UV_RUN_NOWAIT);
	free(srv->retired);
	srv->retired = NULL;
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

/* Control thread: live + retiring workers + the counters of retired ones. */
static void sum_stats(struct sp_server *srv, struct sp_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < srv->n_workers; i++)
		if (srv->workers[i]->started)
			stats_add(sum, &srv->workers[i]->stats);
	for (struct sp_worker *w = srv->retiring; w; w = w->next_retiring)
		stats_add(sum, &w->stats);
	if (srv->retired)
		stats_add(sum, srv->retired);
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
		"# HELP shunt_proxy_workers Worker event loops accepting connections.\n"
		"# TYPE shunt_proxy_workers gauge\nshunt_proxy_workers %u\n"
		"# HELP shunt_proxy_workers_retiring Workers finishing their connections after a "
		"reload lowered the count.\n"
		"# TYPE shunt_proxy_workers_retiring gauge\nshunt_proxy_workers_retiring %u\n",
		(long long)s->conns_active, (unsigned long long)s->conns_total,
		(unsigned long long)s->conns_rejected, (unsigned long long)s->upstream_connects,
		(unsigned long long)s->upstream_reused, (unsigned long long)s->pipeline_held,
		(unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
		atomic_load(&srv->reloads_ok), atomic_load(&srv->reloads_failed),
		atomic_load(&srv->gen_seq), srv->n_workers, srv->n_retiring);
	fprintf(f, "# HELP shunt_proxy_tcp_connections_total Connections of tcp listeners by "
		   "verdict.\n"
		   "# TYPE shunt_proxy_tcp_connections_total counter\n");
	for (int k = 0; k < SP_V_N; k++)
		fprintf(f, "shunt_proxy_tcp_connections_total{verdict=\"%s\"} %llu\n", vn[k],
			(unsigned long long)s->tcp_conns[k]);
	fprintf(f,
		"# HELP shunt_proxy_tcp_spliced_total tcp relays whose two sockets the kernel "
		"spliced.\n"
		"# TYPE shunt_proxy_tcp_spliced_total counter\nshunt_proxy_tcp_spliced_total %llu\n"
		"# HELP shunt_proxy_tcp_spliced_bytes_total Bytes that went past a tcp relay "
		"(both directions).\n"
		"# TYPE shunt_proxy_tcp_spliced_bytes_total counter\n"
		"shunt_proxy_tcp_spliced_bytes_total %llu\n"
		"# HELP shunt_proxy_tunnels_spliced_total HTTP tunnels (Upgrade, CONNECT) the "
		"kernel spliced.\n"
		"# TYPE shunt_proxy_tunnels_spliced_total counter\n"
		"shunt_proxy_tunnels_spliced_total %llu\n",
		(unsigned long long)s->tcp_spliced, (unsigned long long)s->tcp_spliced_bytes,
		(unsigned long long)s->tunnels_spliced);
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
		if (atomic_load(&srv->draining)) {
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

static void admin_conn_start(struct sp_server *srv, uv_stream_t *server, int fd)
{
	struct sp_admin_conn *a = calloc(1, sizeof(*a));

	if (!a) {
		if (fd >= 0)
			close(fd);
		return;
	}
	a->srv = srv;
	uv_tcp_init(srv->ctl_loop, &a->tcp);
	a->tcp.data = a;
	if (server ? uv_accept(server, (uv_stream_t *)&a->tcp) : uv_tcp_open(&a->tcp, fd)) {
		if (!server)
			close(fd);
		uv_close((uv_handle_t *)&a->tcp, on_admin_close);
		return;
	}
	uv_read_start((uv_stream_t *)&a->tcp, on_admin_alloc, on_admin_read);
}

static void on_admin_connection(uv_stream_t *server, int status)
{
	if (status >= 0)
		admin_conn_start(server->data, server, -1);
}

static bool addr_is_loopback(const struct sockaddr_storage *a)
{
	return (a->ss_family == AF_INET &&
		(ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127) ||
	       (a->ss_family == AF_INET6 &&
		IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr));
}

/* A listening admin socket on addr (control loop). 0 or a libuv error. */
static int admin_listen(struct sp_server *srv, const struct sockaddr_storage *addr, uv_tcp_t **out)
{
	uv_tcp_t *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return UV_ENOMEM;
	uv_tcp_init(srv->ctl_loop, t);
	t->data = srv;
	err = uv_tcp_bind(t, (const struct sockaddr *)addr, 0);
	if (!err)
		err = uv_listen((uv_stream_t *)t, 64, on_admin_connection);
	if (err) {
		uv_close((uv_handle_t *)t, (uv_close_cb)free);
		return err;
	}
	if (!addr_is_loopback(addr))
		sp_log(SP_LOG_WARN, "admin listener is not on loopback: /metrics is exposed");
	*out = t;
	return 0;
}

/* Close the admin listener; what is in its accept queue is answered first. */
static void admin_close(struct sp_server *srv)
{
	uv_os_fd_t fd;

	if (!srv->admin)
		return;
	if (uv_fileno((uv_handle_t *)srv->admin, &fd) == 0) {
		for (;;) {
			int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (c >= 0)
				admin_conn_start(srv, NULL, c);
			else if (errno != EINTR && errno != ECONNABORTED)
				break;
		}
	}
	uv_close((uv_handle_t *)srv->admin, (uv_close_cb)free);
	srv->admin = NULL;
}

/* Reload: the new admin address is listening before the old one closes; if
 * it cannot be, the old one stays (and is what the next reload compares). */
static void admin_update(struct sp_server *srv, const struct shunt_proxy_config *pc)
{
	char now[80] = "none", want[80];
	uv_tcp_t *t;
	int err;

	if (srv->admin)
		shunt_sockaddr_format(&srv->admin_addr, now, sizeof(now));
	if (!pc->has_admin) {
		if (srv->admin) {
			admin_close(srv);
			sp_log(SP_LOG_INFO, "reload: admin listener %s closed", now);
		}
		return;
	}
	if (srv->admin && addr_eq(&srv->admin_addr, srv->admin_len, &pc->admin, pc->admin_len))
		return;
	shunt_sockaddr_format(&pc->admin, want, sizeof(want));
	err = admin_listen(srv, &pc->admin, &t);
	if (err) {
		sp_log(SP_LOG_ERROR,
		       "reload: admin listener %s: cannot listen: %s%s; keeping the admin "
		       "listener %s",
		       want, uv_strerror(err),
		       err == UV_EACCES ? " (a port below 1024 needs the privileges dropped at "
					  "start: restart shunt-proxy)"
					: "",
		       now);
		return;
	}
	admin_close(srv);
	srv->admin = t;
	memcpy(&srv->admin_addr, &pc->admin, sizeof(srv->admin_addr));
	srv->admin_len = pc->admin_len;
	sp_log(SP_LOG_INFO, "reload: admin listener moved from %s to %s", now, want);
}

int sp_admin_start(struct sp_server *srv, const struct sockaddr_storage *addr, socklen_t len)
{
	int err = admin_listen(srv, addr, &srv->admin);

	if (!err) {
		memcpy(&srv->admin_addr, addr, sizeof(srv->admin_addr));
		srv->admin_len = len;
	}
	return err;
}
