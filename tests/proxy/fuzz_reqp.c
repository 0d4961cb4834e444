// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the request framing engine. Properties checked:
 *  - feeding the input whole and in pieces (split points taken from the
 *    first input byte) gives the same transcript (heads forwarded, body
 *    bytes, boundaries, error status): no framing decision depends on how
 *    TCP segments the stream. Body bytes of a chunk/body cut short by an
 *    error may have been streamed or not depending on segmentation (the
 *    upstream connection is closed either way), so they are not compared;
 *  - every step consumes at most what it was given and the engine always
 *    makes progress;
 *  - a forwarded head is itself valid and normalizes to the same path
 *    (the rewrite is a fixed point: the upstream sees what was judged).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "shunt/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int norm(void *ctx, const char *target, size_t len, char *out, size_t cap, size_t *out_len,
		const char **query, size_t *query_len, const char **why)
{
	static const struct shunt_norm_opts o = {0};

	return shunt_path_normalize(&o, target, len, out, cap, out_len, query, query_len, why);
}

struct tr {
	char *s;
	size_t n, cap;
	size_t mark; /* length at the last framing event */
};

static void put(struct tr *t, const void *d, size_t n)
{
	if (t->n + n > t->cap) {
		t->cap = (t->n + n) * 2 + 64;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			abort();
	}
	memcpy(t->s + t->n, d, n);
	t->n += n;
}

static void check_fwd(const struct sp_head *h, const struct sp_limits *lim)
{
	struct sp_limits big = *lim;
	struct sp_head h2;
	const char *why = NULL;
	char out[8192];
	size_t out_len = 0;

	big.max_header_bytes = h->fwd_len + 64; /* the rewrite may lengthen nothing much */
	memset(&h2, 0, sizeof(h2));
	if (sp_head_check(h->fwd, h->fwd_len, &big, &h2, &why) != 0) {
		fprintf(stderr, "forwarded head invalid: %s\n%.*s\n", why, (int)h->fwd_len, h->fwd);
		abort();
	}
	if (h->is_connect)
		return;
	if (norm(NULL, h2.target, h2.target_len, out, sizeof(out), &out_len, NULL, NULL, &why) ||
	    out_len != h->path_len || memcmp(out, h->path, out_len) != 0) {
		fprintf(stderr, "forwarded path not a fixed point: %.*s\n", (int)h2.target_len,
			h2.target);
		abort();
	}
}

/* Feed in pieces of size `piece` (0 = all). Merges consecutive body bytes so
 * that the transcript does not depend on span boundaries. */
static void run(const char *in, size_t len, size_t piece, struct tr *t)
{
	struct sp_limits lim = {.max_header_bytes = 4096, .max_headers = 32};
	struct sp_reqp p;
	struct sp_event ev;
	size_t off = 0, avail = piece ? 0 : len;
	int guard = 0;
	char last = 0;

	if (sp_reqp_init(&p, &lim, norm, NULL))
		abort();
	for (;;) {
		size_t used = sp_reqp_step(&p, in + off, avail - off, &ev);

		if (used > avail - off)
			abort();
		off += used;
		if (used == 0 && ev.type != SP_EV_NEED_MORE && ++guard > 8)
			abort(); /* no progress */
		if (used)
			guard = 0;
		switch (ev.type) {
		case SP_EV_NEED_MORE:
			if (avail == len)
				goto done;
			avail = avail + piece > len ? len : avail + piece;
			guard = 0;
			continue;
		case SP_EV_HEAD:
			check_fwd(&p.h, &lim);
			put(t, "H", 1);
			put(t, p.h.fwd, p.h.fwd_len);
			t->mark = t->n;
			last = 'H';
			break;
		case SP_EV_CHUNK_HEAD: {
			char line[32];
			int n = snprintf(line, sizeof(line), "%llx\r\n",
					 (unsigned long long)ev.chunk_size);

			if (last != 'B')
				put(t, "B", 1);
			put(t, line, (size_t)n);
			t->mark = t->n;
			last = 'B';
			break;
		}
		case SP_EV_BODY:
			if (last != 'B')
				put(t, "B", 1);
			put(t, ev.data, ev.len);
			last = 'B';
			break;
		case SP_EV_CHUNK_END:
			if (last != 'B')
				put(t, "B", 1);
			put(t, "\r\n", 2);
			t->mark = t->n;
			last = 'B';
			break;
		case SP_EV_MSG_END:
			put(t, "|", 1);
			t->mark = t->n;
			last = '|';
			break;
		case SP_EV_ERROR: {
			char e[8];

			snprintf(e, sizeof(e), "E%d", ev.status);
			t->n = t->mark; /* drop body bytes of the cut-short piece */
			put(t, e, strlen(e));
			goto done;
		}
		}
	}
done:
	sp_reqp_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr a = {0}, b = {0};
	size_t piece;

	if (size < 1)
		return 0;
	piece = (size_t)(data[0] % 16) + 1;
	run((const char *)data + 1, size - 1, 0, &a);
	run((const char *)data + 1, size - 1, piece, &b);
	if (a.n != b.n || memcmp(a.s, b.s, a.n) != 0) {
		fprintf(stderr, "transcript differs whole vs pieces of %zu:\n%.*s\n----\n%.*s\n",
			piece, (int)a.n, a.s, (int)b.n, b.s);
		abort();
	}
	free(a.s);
	free(b.s);
	return 0;
}
