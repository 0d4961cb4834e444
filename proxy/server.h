/* SPDX-License-Identifier: Apache-2.0 */
/* Control-thread side of shunt-proxy (see proxy.h for the threading model). */
#ifndef SHUNT_PROXY_SERVER_H
#define SHUNT_PROXY_SERVER_H

#include "proxy.h"

int sp_parse_log_level(const char *s);

/* Load + compile a config file into a fresh generation (refs = 1). */
int sp_gen_load(const char *path, struct sp_gen **out, struct shunt_diags *d);
/* Make g the current generation (takes over the caller's reference). */
void sp_server_publish(struct sp_server *srv, struct sp_gen *g);
/* SIGHUP: load, compile, swap atomically; on error keep the running one. */
int sp_server_reload(struct sp_server *srv);
void sp_server_reopen_log(struct sp_server *srv, const char *path);
/* Workers start in two steps so that main.c can drop its privileges in
 * between: bind every listener of every (SO_REUSEPORT) worker on the calling
 * thread, then start the worker threads (they inherit the dropped
 * credentials). 0 or -errno. */
int sp_server_bind_workers(struct sp_server *srv);
int sp_server_spawn_workers(struct sp_server *srv);
/* SIGTERM: stop accepting, finish in-flight requests, close idle connections. */
void sp_server_drain(struct sp_server *srv);
void sp_server_join(struct sp_server *srv);
int sp_admin_start(struct sp_server *srv, uv_loop_t *loop, uv_tcp_t *tcp,
		   const struct sockaddr *addr);

#endif
