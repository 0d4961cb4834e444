/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Response framing tracker (pure, no I/O): an llhttp HTTP_RESPONSE parser
 * used only to find where each upstream response ends, so that the bytes are
 * relayed verbatim and the upstream connection can be pooled afterwards.
 */
#ifndef SHUNT_PROXY_HTTP_RESPONSE_H
#define SHUNT_PROXY_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include <llhttp.h>

struct sp_resp {
	llhttp_t parser;
	bool head_req;	  /* response to HEAD: no body whatever the headers say */
	bool connect_req; /* response to CONNECT: 2xx opens a tunnel */
	bool started;	  /* at least one byte seen */
	bool done;	  /* final response complete */
	bool tunnel;	  /* 101 or 2xx to CONNECT: raw bytes follow */
	bool keep_alive;  /* upstream connection reusable after this response */
	bool paused;
	int status; /* status of the final response */
	int errored;
};

void sp_resp_init(struct sp_resp *r);
/* Expect the response to a new request. */
void sp_resp_start(struct sp_resp *r, bool head_req, bool connect_req);
/* Consume a prefix of data; returns bytes consumed (stops right after the
 * final response), or -1 on a malformed response. */
long sp_resp_feed(struct sp_resp *r, const char *data, size_t len);
/* Upstream closed: returns 0 if that completed the response (body delimited
 * by EOF), -1 otherwise. */
int sp_resp_eof(struct sp_resp *r);

#endif
