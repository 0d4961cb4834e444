/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-proxy internals: the server (config generations, workers), the
 * downstream connection and the upstream connection.
 *
 * Threads: one control thread (signals, reload, admin listener) and N worker
 * threads, each with its own uv loop and its own SO_REUSEPORT listening
 * sockets. A worker never touches another worker's handles; the control
 * thread talks to workers only through uv_async and atomics.
 */
#ifndef SHUNT_PROXY_PROXY_H
#define SHUNT_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <uv.h>

#include "shunt/config.h"
#include "shunt/policy.h"

#include "http_request.h"
#include "http_response.h"
#include "render.h"

#define SP_READ_BUF	    65536
#define SP_MAX_WORKERS	    64
#define SP_DRAIN_TIMEOUT_MS 30000

/* An immutable config + compiled policy, swapped atomically on reload. */
struct sp_gen {
	atomic_int refs;
	unsigned seq;
	struct shunt_config *cfg;
	struct shunt_policy *pol;
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
	atomic_ullong bytes_in, bytes_out;
};

struct sp_list {
	struct sp_list *prev, *next;
};

struct sp_server;

struct sp_worker {
	struct sp_server *srv;
	int id;
	pthread_t thread;
	uv_loop_t loop;
	uv_async_t wake; /* reload/drain notification from the control thread */
	uv_tcp_t *listeners;
	size_t n_listeners;
	bool draining;
	uv_timer_t drain_timer;
	uv_timer_t pool_timer; /* closes pooled upstream connections idle too long */
	struct sp_gen *gen;    /* the generation new requests use */
	struct sp_list conns;
	struct sp_list idle_upstreams; /* pooled keep-alive upstream connections */
	size_t n_idle_upstreams;
	struct sp_stats stats;
	char rbuf[SP_READ_BUF];
};

/* Listening sockets are fixed at start (a reload does not rebind). */
struct sp_listener_def {
	char name[64];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	bool original_dst;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
};

struct sp_server {
	char *config_path;
	struct sp_listener_def *ldefs;
	size_t n_ldefs;
	pthread_mutex_t gen_lock;
	struct sp_gen *gen; /* current generation (under gen_lock) */
	atomic_uint gen_seq;
	atomic_int draining;
	atomic_llong conns; /* across workers, for maxConnections */
	int log_level;
	int access_log_fd; /* -1 = off */
	struct sp_worker *workers;
	unsigned n_workers;
	unsigned n_started;
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

/* conn.c */
int sp_worker_listen(struct sp_worker *w);
void sp_worker_refresh_gen(struct sp_worker *w);
void sp_worker_start_drain(struct sp_worker *w);
void sp_worker_close_all(struct sp_worker *w);

#endif
