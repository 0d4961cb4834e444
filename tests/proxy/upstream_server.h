/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test upstream for the proxy e2e tests: an HTTP/1.1 server on its own thread
 * that records every byte it receives (so a test can assert exactly what
 * reached the upstream) and answers each request with
 *   "<METHOD> <target> len=<body bytes> hash=<fnv1a64 of body>\n".
 * Special targets: /public/hang (never answered), /public/gate (answered when
 * the test calls us_gate_release), /public/close (answered with Connection:
 * close, then closed), /public/drop (answered as keep-alive, then closed:
 * a stale pooled connection for the proxy), /public/tunnel with Upgrade (101,
 * then every byte echoed back), /public/truncate (10 of 100 promised body
 * bytes, then closed), any target containing "big=N" (an N-byte body).
 * An "Expect: 100-continue" request gets "100 Continue" first.
 */
#ifndef SHUNT_TESTS_PROXY_UPSTREAM_SERVER_H
#define SHUNT_TESTS_PROXY_UPSTREAM_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct us_server;

/* Listen on ip:0; returns 0 or -errno. */
int us_start(struct us_server **out, const char *ip);
int us_start_port(struct us_server **out, const char *ip, uint16_t port);
uint16_t us_port(const struct us_server *s);
/* Everything received since the last reset (up to a cap); returns the length
 * copied. The server first reads every readable socket, so all bytes the
 * proxy sent before the last answered request are included. */
size_t us_log_get(struct us_server *s, char *buf, size_t cap);
void us_log_reset(struct us_server *s);
/* Number of requests completely received since start. */
unsigned long us_requests(struct us_server *s);
unsigned long us_connections(struct us_server *s);
/* ts = now + timeout_ms on CLOCK_REALTIME (for pthread_cond_timedwait). */
void us_abs_deadline(struct timespec *ts, int timeout_ms);
/* Wait until the log holds at least n bytes; 0 or -ETIMEDOUT. */
int us_wait_log(struct us_server *s, size_t n, int timeout_ms);
/* Wait until at least n requests were received; 0 or -ETIMEDOUT. */
int us_wait_requests(struct us_server *s, unsigned long n, int timeout_ms);
void us_gate_release(struct us_server *s);
void us_stop(struct us_server *s);

uint64_t us_fnv1a(uint64_t h, const void *data, size_t len);
#define US_FNV_INIT 0xcbf29ce484222325ULL

#endif
