// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of shunt_proxy_core: the request framing engine (every
 * smuggling shape of POLICY.md "Framing", fed whole, in 7-byte pieces and
 * byte by byte), the response framing tracker and the local responses.
 *
 * The engine's output is rendered as a transcript of what would reach the
 * upstream for an allowed request:
 *   H<forwarded head>   B<body bytes as forwarded, chunked re-framed>   |   (end)
 *   E<status>           (malformed; nothing after it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "http_response.h"
#include "render.h"
#include "shunt/normalize.h"
#include "testutil.h"

static int test_normalize(void *ctx, const char *target, size_t len, char *out, size_t cap,
			  size_t *out_len, const char **query, size_t *query_len, const char **why)
{
	static const struct shunt_norm_opts opts = {0};

	return shunt_path_normalize(&opts, target, len, out, cap, out_len, query, query_len, why);
}

struct tbuf {
	char s[8192];
	size_t n;
};

static void tput(struct tbuf *t, const char *d, size_t n)
{
	CHECK(t->n + n < sizeof(t->s), "transcript overflow");
	memcpy(t->s + t->n, d, n);
	t->n += n;
	t->s[t->n] = '\0';
}

static void tputs(struct tbuf *t, const char *s)
{
	tput(t, s, strlen(s));
}

/* Feed input in pieces of `piece` bytes (0 = all at once). */
static void run(const char *in, size_t in_len, size_t piece, const struct sp_limits *lim,
		struct tbuf *t)
{
	struct sp_reqp p;
	struct sp_event ev;
	size_t off = 0, avail = 0;
	bool in_body = false;

	t->n = 0;
	t->s[0] = '\0';
	CHECK(sp_reqp_init(&p, lim, test_normalize, NULL) == 0, "init");
	for (;;) {
		size_t used;

		if (piece == 0)
			avail = in_len;
		used = sp_reqp_step(&p, in + off, avail - off, &ev);
		off += used;
		switch (ev.type) {
		case SP_EV_NEED_MORE:
			if (avail == in_len)
				goto done;
			avail = avail + piece > in_len ? in_len : avail + piece;
			continue;
		case SP_EV_HEAD:
			tputs(t, "H");
			tput(t, p.h.fwd, p.h.fwd_len);
			in_body = true;
			break;
		case SP_EV_CHUNK_HEAD: {
			char line[32];

			snprintf(line, sizeof(line), "%llx\r\n", (unsigned long long)ev.chunk_size);
			tputs(t, "B");
			tputs(t, line);
			break;
		}
		case SP_EV_BODY:
			CHECK(in_body, "body outside a message");
			tputs(t, "B");
			tput(t, ev.data, ev.len);
			break;
		case SP_EV_CHUNK_END:
			tputs(t, "B");
			if (ev.len) /* trailers (last chunk) */
				tput(t, ev.data, ev.len);
			tputs(t, "\r\n");
			break;
		case SP_EV_MSG_END:
			tputs(t, "|");
			in_body = false;
			break;
		case SP_EV_ERROR: {
			char e[16];

			snprintf(e, sizeof(e), "E%d", ev.status);
			tputs(t, e);
			goto done;
		}
		}
	}
done:
	sp_reqp_free(&p);
}

/* Transcript with the B pieces merged, so that splitting does not matter. */
static void merge_body(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	bool prev_b = false;

	for (; *s && o + 1 < cap; s++) {
		if (*s == 'B' && !prev_b) {
			out[o++] = 'B';
			prev_b = true;
			continue;
		}
		if (*s == 'B' && prev_b)
			continue;
		if (*s == 'H' || *s == '|' || *s == 'E')
			prev_b = false;
		out[o++] = *s;
	}
	out[o] = '\0';
}

struct req_case {
	const char *name;
	const char *in;
	const char *want; /* transcript with merged body pieces */
};

#define GETH "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

static const struct req_case req_cases[] = {
	{"simple GET", GETH, "H" GETH "|"},
	{"leading empty line ignored", "\r\n" GETH, "H" GETH "|"},
	{"leading bare LF rejected (found by fuzz_reqp)", "\n" GETH, "E400"},
	{"empty line between requests", GETH "\r\n" GETH, "H" GETH "|H" GETH "|"},
	{"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\n\r\n", "HGET /x HTTP/1.0\r\n\r\n|"},
	{"path normalized, query kept", "GET /a/../b//c/%2e/d;x?q=%2F1 HTTP/1.1\r\nHost: a\r\n\r\n",
	 "HGET /b/c/d?q=%2F1 HTTP/1.1\r\nHost: a\r\n\r\n|"},
	{"absolute-form becomes origin-form", "GET http://a/p/../q HTTP/1.1\r\nHost: a\r\n\r\n",
	 "HGET /q HTTP/1.1\r\nHost: a\r\n\r\n|"},
	{"pipelined requests", GETH "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n",
	 "H" GETH "|HGET /2 HTTP/1.1\r\nHost: b\r\n\r\n|"},
	{"content-length body then next request",
	 "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" GETH,
	 "HPOST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nBhello|H" GETH "|"},
	{"chunked re-framed, extensions dropped, trailers kept",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	 "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n" GETH,
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	 "B3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n|H" GETH "|"},
#define CHP "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	{"trailers: several, byte-exact (spacing and case kept)",
	 CHP "2\r\nhi\r\n0\r\nX-Checksum:  abc \r\nserver-timing: x;dur=1\r\n\r\n" GETH,
	 "H" CHP "B2\r\nhi\r\n0\r\nX-Checksum:  abc \r\nserver-timing: x;dur=1\r\n\r\n|H" GETH "|"},
	{"trailers without data chunks", CHP "0;e=1\r\nX-A: 1\r\n\r\n",
	 "H" CHP "B0\r\nX-A: 1\r\n\r\n|"},
	{"trailer Content-Length refused", CHP "0\r\nContent-Length: 5\r\n\r\n",
	 "H" CHP "B0\r\nE400"},
	{"trailer Transfer-Encoding refused", CHP "0\r\ntransfer-encoding: chunked\r\n\r\n",
	 "H" CHP "B0\r\nE400"},
	{"trailer Host refused", CHP "0\r\nHost: b\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer obs-fold", CHP "0\r\nX-A: 1\r\n 2\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer bare LF", CHP "0\r\nX-A: 1\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer bare CR", CHP "0\r\nX-A: 1\rX-B: 2\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer without colon", CHP "0\r\nX-A\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer empty name", CHP "0\r\n: 1\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"trailer space before colon", CHP "0\r\nX-A : 1\r\n\r\n", "H" CHP "B0\r\nE400"},
	{"gzip, chunked accepted",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\nB0\r\n\r\n|"},
	/* smuggling shapes: all 400, nothing forwarded */
	{"CL + TE",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
	 "chunked\r\n\r\n0\r\n\r\n",
	 "E400"},
	{"TE + CL",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
	 "3\r\n\r\n0\r\n\r\n",
	 "E400"},
	{"duplicate CL same value",
	 "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "E400"},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", "E400"},
	{"empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", "E400"},
	{"CL with sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", "E400"},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x1\r\n\r\nx", "E400"},
	{"TE chunked not final",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "E400"},
	{"TE only gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "E400"},
	{"TE chunked twice",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "E400"},
	{"TE two headers",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
	 "chunked\r\n\r\n",
	 "E400"},
	{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
	 "E400"},
	{"TE with vertical tab",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0b"
	 "chunked\r\n\r\n",
	 "E400"},
	{"TE space before colon",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "E400"},
	{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	 "E400"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "E400"},
	{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", "E400"},
	{"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", "E400"},
	{"bare LF in one header line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "E400"},
	{"bare CR as separator", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "E400"},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", "E400"},
	{"NUL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n", "E400"},
	{"control byte in value", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x01\r\n\r\n", "E400"},
	{"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", "E400"},
	{"space in header name", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "E400"},
	{"missing Host in 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", "E400"},
	{"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "E400"},
	{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "E400"},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", "E400"},
	{"HTTP/0.9 style", "GET /\r\n\r\n", "E400"},
	{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"double space in request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"escaped slash", "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"encoded NUL", "GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", "E400"},
	{"invalid chunk size mid-body",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk size overflow",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk size with leading space",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk size with trailing space",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk size 0x-prefixed",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk size with sign",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"chunk with bare LF",
	 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
	 "HPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE400"},
	{"garbage after a request", GETH "\x01garbage", "H" GETH "|E400"},
};

static void test_request_cases(void)
{
	struct sp_limits lim = {.max_header_bytes = 16384, .max_headers = 100};
	static const size_t pieces[] = {0, 7, 1};
	struct tbuf t;
	char merged[8192];

	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		/* inputs may contain NUL: their length is the literal's, found by
		 * the terminating sequence of the table (strlen is wrong for one) */
		size_t len = strlen(c->in);

		if (strcmp(c->name, "NUL in header value") == 0)
			len = sizeof("GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n") - 1;
		for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
			if (getenv("V"))
				fprintf(stderr, "case %s piece %zu\n", c->name, pieces[k]);
			run(c->in, len, pieces[k], &lim, &t);
			merge_body(t.s, merged, sizeof(merged));
			CHECK(strcmp(merged, c->want) == 0,
			      "case '%s' piece %zu:\n got: %s\nwant: %s", c->name, pieces[k],
			      merged, c->want);
		}
	}
	printf("request engine: %zu cases x 3 feeds ok\n",
	       sizeof(req_cases) / sizeof(req_cases[0]));
}

static void test_limits(void)
{
	struct sp_limits lim = {.max_header_bytes = 256, .max_headers = 4};
	char big[1024], merged[1024];
	struct tbuf t;
	int n;

	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d\r\n\r\n", 0);
	run(big, (size_t)n, 0, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "oversized head: %s", t.s);
	run(big, (size_t)n, 1, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "oversized head bytewise: %s", t.s);
	/* never terminated: 431 as soon as the limit is passed */
	run(big, 290, 0, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "unterminated oversized head: %s", t.s);
	/* empty lines count against the head limit: no unbounded skipping */
	for (n = 0; n < 300; n += 2)
		memcpy(big + n, "\r\n", 2);
	run(big, (size_t)n, 0, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "CRLF flood: %s", t.s);
	run(big, (size_t)n, 7, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "CRLF flood in pieces: %s", t.s);
	n = snprintf(big, sizeof(big),
		     "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n");
	run(big, (size_t)n, 0, &lim, &t);
	CHECK(strcmp(t.s, "E431") == 0, "too many headers: %s", t.s);
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n");
	run(big, (size_t)n, 0, &lim, &t);
	CHECK(t.s[0] == 'H', "4 headers are fine: %s", t.s);
	/* trailers: the same limits as a head (bytes and count), whole or split */
	n = snprintf(big, sizeof(big),
		     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "0\r\nX: %0300d\r\n\r\n",
		     0);
	for (size_t piece = 0; piece < 8; piece += 7) {
		run(big, (size_t)n, piece, &lim, &t);
		CHECK(strstr(t.s, "B0\r\nE431") != NULL, "oversized trailers (%zu): %s", piece,
		      t.s);
	}
	n = snprintf(big, sizeof(big),
		     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n");
	run(big, (size_t)n, 0, &lim, &t);
	CHECK(strstr(t.s, "B0\r\nE431") != NULL, "too many trailers: %s", t.s);
	n = snprintf(big, sizeof(big),
		     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "0\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n\r\n");
	run(big, (size_t)n, 1, &lim, &t);
	merge_body(t.s, merged, sizeof(merged));
	CHECK(strstr(merged, "B0\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n\r\n|") != NULL,
	      "4 trailers are fine: %s", merged);
	printf("limits ok\n");
}

/* An idle connection's parser gives back what a large head grew, and parses
 * the next request (large or small) normally afterwards. */
static void test_trim(void)
{
	struct sp_limits lim = {.max_header_bytes = 16384, .max_headers = 16};
	static const char small[] = "GET /s HTTP/1.1\r\nHost: a\r\n\r\n";
	char *big = malloc(8192);
	struct sp_reqp p;
	struct sp_event ev;
	size_t n = 0;

	CHECK(big, "oom");
	n += (size_t)sprintf(big, "GET /");
	memset(big + n, 'p', 700);
	n += 700;
	n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'x', 5000);
	n += 5000;
	n += (size_t)sprintf(big + n, "\r\n\r\n");
	CHECK(sp_reqp_init(&p, &lim, test_normalize, NULL) == 0, "init");
	CHECK(p.head_cap == SP_REQP_HEAD_INIT && p.path_cap == SP_REQP_PATH_INIT, "initial sizes");
	for (int round = 0; round < 3; round++) {
		const char *in = round == 1 ? small : big;
		size_t len = round == 1 ? sizeof(small) - 1 : n, off = 0;

		/* mid-head: nothing is trimmed */
		off += sp_reqp_step(&p, in, 3, &ev);
		CHECK(ev.type == SP_EV_NEED_MORE, "round %d: partial head", round);
		sp_reqp_trim(&p);
		off += sp_reqp_step(&p, in + off, len - off, &ev);
		CHECK(ev.type == SP_EV_HEAD, "round %d: head (event %d)", round, ev.type);
		CHECK(ev.type != SP_EV_HEAD || p.h.fwd_len > (round == 1 ? 20u : 5700u),
		      "round %d: forwarded head %zu bytes", round, p.h.fwd_len);
		if (round != 1)
			CHECK(p.head_cap > SP_REQP_HEAD_INIT && p.path_cap > SP_REQP_PATH_INIT,
			      "round %d: buffers grew (%zu, %zu)", round, p.head_cap, p.path_cap);
		off += sp_reqp_step(&p, in + off, len - off, &ev);
		CHECK(ev.type == SP_EV_MSG_END && off == len, "round %d: end (event %d)", round,
		      ev.type);
		sp_reqp_trim(&p);
		CHECK(p.head_cap == SP_REQP_HEAD_INIT && p.path_cap == SP_REQP_PATH_INIT &&
			      p.fwd_cap <= SP_REQP_HEAD_INIT,
		      "round %d: idle sizes %zu %zu %zu", round, p.head_cap, p.path_cap, p.fwd_cap);
	}
	sp_reqp_free(&p);
	free(big);
	printf("trim ok\n");
}

static void test_head_flags(void)
{
	struct sp_limits lim = {.max_header_bytes = 16384, .max_headers = 100};
	struct sp_head h;
	const char *why = NULL;
	static const char a[] = "POST / HTTP/1.1\r\nHost: h:80\r\nExpect: 100-continue\r\n"
				"Content-Length: 10\r\nConnection: close\r\n\r\n";
	static const char b[] = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
				"Upgrade: websocket\r\n\r\n";
	static const char c[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";

	memset(&h, 0, sizeof(h));
	CHECK(sp_head_check(a, sizeof(a) - 1, &lim, &h, &why) == 0, "a: %s", why);
	CHECK(h.expect_continue && h.has_body && h.content_length == 10 && !h.keep_alive,
	      "a flags");
	CHECK(h.host_len == 4 && memcmp(h.host, "h:80", 4) == 0, "host");
	CHECK(sp_head_check(b, sizeof(b) - 1, &lim, &h, &why) == 0, "b: %s", why);
	CHECK(h.upgrade && !h.has_body && h.keep_alive, "b flags");
	CHECK(sp_head_check(c, sizeof(c) - 1, &lim, &h, &why) == 0, "c: %s", why);
	CHECK(h.http_minor == 0 && h.keep_alive && !h.host, "c flags");
	printf("head flags ok\n");
}

struct resp_case {
	const char *name;
	const char *in;
	bool head_req, connect_req;
	long want_used; /* -1: error; else bytes up to the end of the response */
	int want_status;
	bool want_keep_alive, want_tunnel;
	bool eof_completes; /* not done after the bytes; EOF completes it */
};

static const struct resp_case resp_cases[] = {
	{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", false, false, 40,
	 200, true, false, false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	 false, false, 59, 200, true, false, false},
	{"204 no body", "HTTP/1.1 204 No Content\r\n\r\nX", false, false, 27, 204, true, false,
	 false},
	{"HEAD response with CL", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, false, 39,
	 200, true, false, false},
	{"100 continue then 200",
	 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false,
	 false, 68, 201, true, false, false},
	{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	 false, false, 57, 200, false, false, false},
	{"101 upgrade",
	 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\nRAW", false,
	 false, 70, 101, false, true, false},
	{"EOF-delimited body", "HTTP/1.1 200 OK\r\n\r\nsome body", false, false, 28, 200, false,
	 false, true},
	{"malformed", "HTTP/1.1 abc\r\n\r\n", false, false, -1, 0, false, false, false},
};

static void test_response_cases(void)
{
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];
		struct sp_resp r;
		size_t len = strlen(c->in);
		long used;

		sp_resp_init(&r);
		sp_resp_start(&r, c->head_req, c->connect_req);
		used = sp_resp_feed(&r, c->in, len);
		if (c->want_used < 0) {
			CHECK(used < 0, "%s: want error, got %ld", c->name, used);
			continue;
		}
		CHECK(used == c->want_used, "%s: used %ld want %ld", c->name, used, c->want_used);
		if (c->eof_completes) {
			CHECK(!r.done, "%s: done before EOF", c->name);
			CHECK(sp_resp_eof(&r) == 0 && r.done, "%s: EOF should complete", c->name);
		} else {
			CHECK(r.done, "%s: not done", c->name);
		}
		CHECK(r.status == c->want_status, "%s: status %d", c->name, r.status);
		CHECK(r.keep_alive == c->want_keep_alive, "%s: keep_alive %d", c->name,
		      r.keep_alive);
		CHECK(r.tunnel == c->want_tunnel, "%s: tunnel %d", c->name, r.tunnel);
	}
	/* response split byte by byte ends at the same place */
	{
		static const char in[] =
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
		struct sp_resp r;
		size_t off = 0;

		sp_resp_init(&r);
		sp_resp_start(&r, false, false);
		while (!r.done && off < sizeof(in) - 1) {
			long n = sp_resp_feed(&r, in + off, 1);

			CHECK(n == 1, "bytewise feed at %zu returned %ld", off, n);
			off++;
		}
		CHECK(r.done && off == sizeof(in) - 1, "bytewise: done=%d off=%zu", r.done, off);
	}
	printf("response tracker: %zu cases ok\n", sizeof(resp_cases) / sizeof(resp_cases[0]));
}

static void test_render(void)
{
	char buf[1024];
	size_t n;
	static const char want403[] = "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n"
				      "content-length: 56\r\n\r\n{\"error\":\"access "
				      "denied\",\"policy\":\"default/app1-public\"}";
	static const char want_dd[] = "{\"error\":\"access denied\",\"policy\":\"default-deny\"}";
	struct sp_log_entry e = {.time = 1.5,
				 .source = "default/app2",
				 .method = "GET",
				 .path = "/a\"b",
				 .path_len = 4,
				 .verdict = "deny",
				 .policy = NULL,
				 .status = 403,
				 .bytes_out = 10,
				 .duration = 0.25};

	n = sp_render_403(buf, sizeof(buf), "default/app1-public", false);
	CHECK(n == strlen(want403) && strcmp(buf, want403) == 0, "403:\n%s", buf);
	n = sp_render_403(buf, sizeof(buf), NULL, true);
	CHECK(strstr(buf, "connection: close\r\n") && strstr(buf, want_dd) &&
		      strcmp(buf + n - strlen(want_dd), want_dd) == 0,
	      "403 default-deny:\n%s", buf);
	n = sp_render_error(buf, sizeof(buf), 431, true);
	CHECK(strncmp(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0, "431: %s",
	      buf);
	n = sp_render_log(buf, sizeof(buf), &e);
	CHECK(strcmp(buf,
		     "{\"time\":1.500000,\"source\":\"default/app2\",\"method\":\"GET\","
		     "\"path\":\"/a\\\"b\",\"verdict\":\"deny\",\"policy\":null,\"status\":403,"
		     "\"bytes_in\":0,\"bytes\":10,\"duration\":0.250000}\n") == 0,
	      "log line: %s", buf);
	CHECK(buf[n - 1] == '\n', "log line ends in newline");
	CHECK(sp_lat_bucket(0.00005) == 0 && sp_lat_bucket(100) == SP_LAT_BUCKETS - 1, "buckets");
	printf("render ok\n");
}

int main(void)
{
	test_request_cases();
	test_limits();
	test_trim();
	test_head_flags();
	test_response_cases();
	test_render();
	return 0;
}
