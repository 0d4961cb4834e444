/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shunt-bench http/connect, pure parts: the minimal HTTP/1.1 messages
 * shunt-bench sends and serves, an incremental parser for them, and the
 * open-loop schedule with coordinated-omission-corrected latency.
 */
#ifndef SHUNT_BENCH_HTTP_H
#define SHUNT_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_HTTP_MAX_HEAD 8192
#define BENCH_HTTP_PATH	    "/public/bench"

/* Head of the request shunt-bench sends: GET without a body, POST with
 * Content-Length: body. Returns its length, or -ENOSPC. */
int bench_http_request_head(char *buf, size_t len, size_t body);

/* Head of the fixed response the bench server sends. Returns its length, or
 * -ENOSPC. */
int bench_http_response_head(char *buf, size_t len, size_t body);

/* One message (request or response) at a time, fed in arbitrary pieces. */
struct bench_http_parser {
	bool response;	  /* parse responses (status line) instead of requests */
	bool in_body;	  /* head done, body_left bytes to skip */
	int status;	  /* responses: the status code of the last message */
	size_t head_len;  /* bytes of head buffered so far */
	size_t body_left; /* body bytes still expected */
	char head[BENCH_HTTP_MAX_HEAD];
};

void bench_http_parser_init(struct bench_http_parser *p, bool response);

/* Consume bytes from buf. Returns the number of bytes consumed up to and
 * including the end of one complete message (*done = true), or all of len
 * (*done = false, need more), or -EBADMSG (malformed, head too big, chunked
 * or missing framing). After a complete message the parser is ready for the
 * next one; call again with the rest of buf. */
ssize_t bench_http_feed(struct bench_http_parser *p, const char *buf, size_t len, bool *done);

/* ---- open loop --------------------------------------------------------- */

/* Intended send time of request i (0-based) of a schedule starting at t0 at a
 * constant rate (per second): t0 + i / rate, in ns. */
uint64_t bench_ol_intended(uint64_t t0, double rate, uint64_t i);

/* How many requests are due at time t (intended time <= t). */
uint64_t bench_ol_due(uint64_t t0, double rate, uint64_t t);

/* Latency corrected for coordinated omission: completion minus the time the
 * request was meant to be sent, so time spent waiting for a free connection
 * counts. */
static inline uint64_t bench_ol_latency(uint64_t intended, uint64_t done)
{
	return done > intended ? done - intended : 0;
}

/* A send more than BENCH_LATE_NS after its intended time. */
bool bench_ol_is_late(uint64_t intended, uint64_t sent);

#endif
