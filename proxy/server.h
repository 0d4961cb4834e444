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
/* Hand the listening sockets bound at start (as root) to the run user, so
 * that, after the drop, a reload that adds workers can open more sockets in
 * the same SO_REUSEPORT groups (the kernel wants one owner per group).
 * 0 or -errno. */
int sp_server_chown_listeners(struct sp_server *srv, uid_t uid, gid_t gid);
/* SIGTERM: stop accepting, finish in-flight requests, close idle connections
 * (and the admin listener). */
void sp_server_drain(struct sp_server *srv);
/* Join every worker thread (live and retiring) and free the workers. */
void sp_server_join(struct sp_server *srv);
/* The admin listener (/metrics, /ready) on the control loop (srv->ctl_loop);
 * a reload moves it (new address listening before the old one closes).
 * 0 or a libuv error. */
int sp_admin_start(struct sp_server *srv, const struct sockaddr_storage *addr, socklen_t len);

#endif
