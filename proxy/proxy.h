/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-proxy internals: the server (config generations, workers), the
 * downstream connection and the upstream connection.
 *
 * Threads: one control thread (signals, reload, admin listener) and N worker
 * threads, each with its own uv loop and its own SO_REUSEPORT listening
 * sockets. A worker never touches another worker's handles; the control
 * thread talks to workers only through uv_async, atomics and what gen_lock
 * protects (generation, listener set, socket slots). A reload may add
 * workers or retire some (see struct sp_slot).
 */
#ifndef SHUNT_PROXY_PROXY_H
#define SHUNT_PROXY_PROXY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <uv.h>

#include "shunt/config.h"
#include "shunt/l4.h"
#include "shunt/policy.h"

#include "http_request.h"
#include "http_response.h"
#include "render.h"

#define SP_READ_BUF	    65536
#define SP_OBUF_MAX	    65536
#define SP_MAX_WORKERS	    64
#define SP_DRAIN_TIMEOUT_MS 30000

/* An immutable config + compiled policy, swapped atomically on reload. */
struct sp_gen {
	atomic_int refs;
	unsigned seq;
	struct shunt_config *cfg;
	struct shunt_policy *pol;
	/* L4 entries with Istio's TCP reduction (SHUNT_L4_NO_PROXY) for the tcp
	 * listeners' one verdict per connection, built once per generation */
	struct shunt_l4_entry *l4;
	size_t n_l4;
	bool has_l4; /* built: the config has a tcp listener that judges */
};

struct sp_gen *sp_gen_get(struct sp_gen *g);
void sp_gen_put(struct sp_gen *g);

enum sp_verdict_kind { SP_V_ALLOW = 0, SP_V_DENY, SP_V_MALFORMED, SP_V_ERROR, SP_V_N };

#define SP_STATUS_SLOTS 600
/* Per-worker counters; written by the worker, summed by the admin thread. */
struct sp_stats {
	atomic_ullong requests[SP_V_N];
	atomic_ullong status[SP_STATUS_SLOTS];
	atomic_ullong lat_bucket[SP_LAT_BUCKETS];
	atomic_ullong lat_sum_us;
	atomic_ullong lat_count;
	atomic_llong conns_active;
	atomic_ullong conns_total;
	atomic_ullong conns_rejected;
	atomic_ullong upstream_connects;
	atomic_ullong upstream_reused;
	atomic_ullong pipeline_held; /* times maxPipelined stopped reading a client */
	atomic_ullong bytes_in, bytes_out;
	/* tcp listeners (tcp.c): connections by verdict, pairs the kernel
	 * spliced (sp_splice_link succeeded), bytes that went past the relay */
	atomic_ullong tcp_conns[SP_V_N];
	atomic_ullong tcp_spliced;
	atomic_ullong tcp_spliced_bytes;
	atomic_ullong tunnels_spliced; /* http tunnels (Upgrade, CONNECT) the kernel spliced */
};

struct sp_list {
	struct sp_list *prev, *next;
};

static inline void list_init(struct sp_list *l)
{
	l->prev = l->next = l;
}

static inline void list_add(struct sp_list *head, struct sp_list *e)
{
	e->next = head->next;
	e->prev = head;
	head->next->prev = e;
	head->next = e;
}

static inline void list_del(struct sp_list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = e;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Port (host order) of an IPv4/IPv6 address, 0 for another family. */
static inline uint16_t sp_addr_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	if (a->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	return 0;
}

/* The address alone (no port) as text, "?" for another family. */
static inline void sp_addr_ip(const struct sockaddr_storage *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof(ip));
	else if (a->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof(ip));
	snprintf(out, cap, "%s", ip);
}

/* The socket of a libuv TCP handle, -1 if it has none. */
static inline int sp_tcp_fd(uv_tcp_t *t)
{
	uv_os_fd_t fd;

	return uv_fileno((uv_handle_t *)t, &fd) ? -1 : fd;
}

struct sp_server;
struct sp_conn;

struct sp_worker {
	struct sp_server *srv;
	int id;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wake; /* reload/drain notification from the control thread */
	/* listening sockets of every slot this worker holds (see sp_slot) */
	struct sp_listener **listeners;
	size_t n_listeners;
	unsigned ldefs_seq;		 /* srv->ldefs_seq the listeners were built for */
	uint64_t held;			 /* bit s: this worker holds slot s's sockets */
	bool started;			 /* its thread runs (joined at exit) */
	bool wake_closed;		 /* wake is closed: nobody may send (under gen_lock) */
	atomic_bool retire;		 /* set by a reload that lowers the worker count */
	atomic_bool exited;		 /* its thread is about to return (then it is joined) */
	struct sp_worker *next_retiring; /* control thread only */
	bool draining;
	uv_timer_t drain_timer;
	uv_timer_t pool_timer; /* closes pooled upstream connections idle too long */
	struct sp_gen *gen;    /* the generation new requests use */
	struct sp_list conns;
	struct sp_list tcp_conns;      /* tcp listeners' relays (tcp.c) */
	struct sp_list idle_upstreams; /* pooled keep-alive upstream connections */
	size_t n_idle_upstreams;
	struct sp_stats stats;
	char rbuf[SP_READ_BUF];
	/* small pieces for the upstream (chunk framing, heads) gathered during
	 * one conn_process() pass of obuf_owner and written with one syscall;
	 * always flushed or dropped before that pass returns, so one buffer
	 * per worker serves all its connections */
	struct sp_conn *obuf_owner;
	char obuf[SP_OBUF_MAX];
};

/* A listener: the config part. Bound at start; a reload that changes the
 * set binds the new addresses (before the old ones close) and keeps the
 * socket of every address that stays. */
struct sp_listener_def {
	char name[64];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool original_dst;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
	enum shunt_listener_mode mode;
	bool enforce; /* false: never judge (verdict allow, policy "none") */
};

/* One worker's listening socket for one listener (freed when closed). */
struct sp_listener {
	uv_tcp_t tcp;
	struct sp_worker *w;
	struct sp_listener_def def;
	unsigned slot; /* the socket set it belongs to (sp_slot) */
};

/* A listening socket on its way from one worker to another: the fd is a
 * dup() of the giver's, so the socket (and its accept queue) stays open. */
struct sp_handoff {
	struct sp_handoff *next;
	int fd;
	struct sp_listener_def def;
};

/*
 * Socket sets. Every SO_REUSEPORT socket belongs to a slot: slot i is the set
 * opened for worker i (one socket per listener). Closing a socket of a
 * SO_REUSEPORT group resets the connections in its accept queue, so a set is
 * never closed while its addresses are served: when a reload lowers the
 * worker count, the sets of the retiring workers are handed (dup'ed fds, the
 * queue intact) to the remaining workers, which accept from them; raising it
 * again hands them back to the new workers. host: the live worker that must
 * hold the set; a worker that holds a slot it is no longer host of releases
 * it (transit + ready), and the host adopts it. A fresh slot (never opened)
 * is published ready with an empty transit: its host opens the sockets.
 * All under srv->gen_lock.
 */
struct sp_slot {
	int host;
	bool ready; /* transit holds the whole set, for host to adopt */
	struct sp_handoff *transit;
};

struct sp_server {
	char *config_path;
	/* current listener set; replaced by a reload under gen_lock (workers
	 * copy it when ldefs_seq changes) */
	struct sp_listener_def *ldefs;
	size_t n_ldefs;
	atomic_uint ldefs_seq;
	pthread_mutex_t gen_lock;
	struct sp_gen *gen; /* current generation (under gen_lock) */
	atomic_uint gen_seq;
	atomic_int draining;
	atomic_llong conns; /* across workers, for maxConnections */
	int log_level;
	/* -1 = never opened; once opened the number stays valid until exit (a
	 * reload dup3()s another file, or /dev/null when disabled, onto it) */
	atomic_int access_log_fd;
	atomic_bool access_log_off; /* disabled by a reload */
	/* live workers [0, n_workers) (slot i's home is workers[i]); changed by
	 * the control thread under gen_lock */
	struct sp_worker *workers[SP_MAX_WORKERS];
	unsigned n_workers;
	bool workers_fixed; /* --workers given: proxy.workers is not reloaded */
	struct sp_slot slots[SP_MAX_WORKERS];
	unsigned n_slots;
	/* control thread only: workers draining after a reload lowered the
	 * count (joined when they exit, their counters added to retired) */
	struct sp_worker *retiring;
	unsigned n_retiring;
	struct sp_stats *retired;
	uv_async_t reap; /* a retiring worker exited (unreferenced) */
	bool reap_ready;
	/* admin listener (control thread): address it listens on */
	uv_tcp_t *admin;
	struct sockaddr_storage admin_addr;
	socklen_t admin_len;
	atomic_uint reloads_ok, reloads_failed;
	uv_loop_t *ctl_loop;
};

extern int sp_log_level;
#define SP_LOG_ERROR 0
#define SP_LOG_WARN  1
#define SP_LOG_INFO  2
#define SP_LOG_DEBUG 3
void sp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Current generation with a reference taken (caller puts it). */
struct sp_gen *sp_server_gen(struct sp_server *srv);

/* Counters have a single writer (their worker): a relaxed load + store is
 * enough for the admin thread's reads and avoids a locked add per counter. */
#define STAT_ADD(w, field, n)                                                                      \
	atomic_store_explicit(&(w)->stats.field,                                                   \
			      atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n), \
			      memory_order_relaxed)

/* conn.c */
/* A write queued by sp_stream_send(): what the socket did not take at once. */
struct sp_wreq {
	uv_write_t req;
	size_t len;
	unsigned responses; /* http: responses whose last byte is in this write */
	char data[];
};
/* Write a then b to s: try the socket directly, queue (a copy of) what is
 * left (*queued, if given, is set to that write; untouched when everything
 * went out at once; cb gets it, req.data = data). 0 or a negative UV error. */
int sp_stream_send(uv_stream_t *s, const char *a, size_t alen, const char *b, size_t blen,
		   uv_write_cb cb, void *data, struct sp_wreq **queued);
void sp_on_connection(uv_stream_t *server, int status);
/* Where a connection accepted on ld goes: its original destination
 * (SO_ORIGINAL_DST) or the listener's fixed upstream. 0 or -errno. */
int sp_conn_destination(uv_tcp_t *down, const struct sp_listener_def *ld,
			struct sockaddr_storage *dst);
/* One access-log line (one write(): concurrent workers never interleave). */
void sp_access_log_write(struct sp_worker *w, const struct sp_log_entry *e);
double sp_now_unix(void);
/* A connection accepted by hand (fd) on listener def of w (a socket being
 * closed takes its queue along). */
void sp_conn_accepted(struct sp_worker *w, const struct sp_listener_def *def, int fd);
void sp_worker_init_conns(struct sp_worker *w);
void sp_worker_refresh_gen(struct sp_worker *w);
void sp_worker_start_drain(struct sp_worker *w);
void sp_worker_close_all(struct sp_worker *w);

/* tcp.c: "mode": "tcp" listeners, an opaque relay (kernel-spliced when
 * shuntd offers it). server: accept from it, else adopt fd. */
void sp_tcp_start(struct sp_worker *w, const struct sp_listener_def *ld, uv_stream_t *server,
		  int fd);
/* Close every relay of w (drain timeout, exit). */
void sp_tcp_close_all(struct sp_worker *w);

#endif
