/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request framing engine (pure, no I/O).
 *
 * One struct sp_reqp per downstream connection wraps an llhttp request parser
 * (strict mode) and adds the framing checks of POLICY.md that llhttp 8.1 does
 * not do itself. The caller feeds bytes with sp_reqp_step(); each call consumes
 * a prefix of the input and reports what that prefix was:
 *
 *   SP_EV_NEED_MORE  every byte consumed, nothing complete yet
 *   SP_EV_HEAD       a request head is complete and valid: p->head describes
 *                    it and p->head.fwd holds the rewritten head (request line
 *                    with the normalized path) to send upstream if allowed
 *   SP_EV_BODY_*     body framing: a chunk header (size), body data (a span of
 *                    the input), a chunk end, or the end of the message
 *   SP_EV_ERROR      malformed (400) or too large (431): answer and close
 *
 * Chunked bodies are re-framed, never relayed raw: the upstream only ever sees
 * "<hex>\r\n<data>\r\n" ... "0\r\n<trailers>\r\n" produced from what llhttp
 * parsed, so a framing ambiguity in the input can never reach it. Chunk
 * extensions are dropped; trailer fields are checked like header lines
 * (sp_trailer_check) and forwarded verbatim: the SP_EV_CHUNK_END of the last
 * chunk carries them in ev->data/len (each line with its CRLF, without the
 * final empty line; len 0 when there are none).
 *
 * After SP_EV_HEAD the parser only continues with the body once the caller
 * decided what to do with the head (the verdict); body bytes of a denied
 * request are reported all the same, and the caller discards them. After
 * SP_EV_MSG_END the next request head starts; the caller decides when to feed
 * it (pipelined requests are judged one at a time, in order).
 */
#ifndef SHUNT_PROXY_HTTP_REQUEST_H
#define SHUNT_PROXY_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#define SP_MAX_METHOD 32

enum sp_event_type {
	SP_EV_NEED_MORE = 0,
	SP_EV_HEAD,
	SP_EV_CHUNK_HEAD, /* ev->chunk_size: write "<hex>\r\n" (or "0\r\n" last) */
	SP_EV_BODY,	  /* ev->data/len: body bytes (de-chunked when chunked) */
	SP_EV_CHUNK_END,  /* write ev->data/len (trailers, last chunk only), then "\r\n" */
	SP_EV_MSG_END,	  /* request complete */
	SP_EV_ERROR,	  /* ev->status 400 or 431, ev->why */
};

struct sp_event {
	enum sp_event_type type;
	const char *data;
	size_t len;
	uint64_t chunk_size;
	int status;
	const char *why;
};

struct sp_limits {
	size_t max_header_bytes; /* whole head incl. request line */
	size_t max_headers;
};

/* Normalizer hook: same contract as shunt_path_normalize() (config/normalize.h). */
typedef int (*sp_normalize_fn)(void *ctx, const char *target, size_t len, char *out, size_t cap,
			       size_t *out_len, const char **query, size_t *query_len,
			       const char **why);

struct sp_head {
	char method[SP_MAX_METHOD];
	size_t method_len;
	int http_minor;	    /* 0 or 1 */
	const char *target; /* points into the head copy */
	size_t target_len;
	char *path; /* normalized, no query, NUL-terminated */
	size_t path_len;
	const char *query; /* without '?', may be NULL */
	size_t query_len;
	const char *host; /* Host header value (trimmed) or NULL */
	size_t host_len;
	bool has_body; /* Content-Length > 0 or chunked */
	bool chunked;
	uint64_t content_length;
	bool expect_continue;
	bool upgrade; /* Upgrade header or CONNECT */
	bool is_connect;
	bool is_head;
	bool keep_alive; /* client wants the connection kept after this request */
	/* the head to forward upstream: rewritten request line + original header lines */
	char *fwd;
	size_t fwd_len;
};

struct sp_reqp {
	llhttp_t parser;
	struct sp_limits lim;
	sp_normalize_fn normalize;
	void *normalize_ctx;

	/* head being accumulated */
	char *head;
	size_t head_len, head_cap;
	size_t nheaders;
	bool in_head;
	bool in_body;
	bool in_trailers; /* after the last chunk: collecting the trailer section */

	struct sp_head h;
	char *path_buf;
	size_t path_cap;
	size_t fwd_cap; /* capacity of h.fwd, reused across requests */

	/* filled by llhttp callbacks during one execute */
	const char *body_ptr;
	size_t body_len;
	int pending; /* enum sp_event_type of the pause reason */
	uint64_t pending_chunk;
	int deferred; /* boundary seen after a body span, reported next step */
	uint64_t deferred_chunk;
	bool body_multi;

	bool failed;
	int fail_status;
	const char *fail_why;
};

int sp_reqp_init(struct sp_reqp *p, const struct sp_limits *lim, sp_normalize_fn fn, void *ctx);
void sp_reqp_free(struct sp_reqp *p);

/* Consume a prefix of data[0..len); returns the number of bytes consumed and
 * fills *ev. Call again with the rest (after handling the event). An error is
 * sticky. */
size_t sp_reqp_step(struct sp_reqp *p, const char *data, size_t len, struct sp_event *ev);

/* Between requests (no head, body or trailers in progress): give back
 * buffers a large head grew (head, path, forwarded head) so that an idle
 * keep-alive connection keeps only the initial ones. The head of the last
 * request (p->h) must not be used afterwards. */
#define SP_REQP_HEAD_INIT 1024
#define SP_REQP_PATH_INIT 256
void sp_reqp_trim(struct sp_reqp *p);

/* True while no byte of the next request head has been consumed. */
bool sp_reqp_idle(const struct sp_reqp *p);

/* Validate a complete head (request line + header lines, ending in CRLFCRLF)
 * and fill *h (without normalization). Exposed for unit tests.
 * Returns 0, or the HTTP status to answer (400/431) with *why set. */
int sp_head_check(const char *head, size_t len, const struct sp_limits *lim, struct sp_head *h,
		  const char **why);

/* Validate a trailer section (field lines, each ending in CRLF, then the
 * empty line): same syntax rules as header lines, at most max_headers
 * fields, and no Content-Length, Transfer-Encoding or Host. Exposed for unit
 * tests. Returns 0, or the HTTP status to answer (400/431) with *why set. */
int sp_trailer_check(const char *t, size_t len, const struct sp_limits *lim, const char **why);

#endif
