// SPDX-License-Identifier: Apache-2.0
/*
 * Fuzz target for the HTTP request path of shunt-proxy: bytes -> llhttp
 * strict parser + framing checks (sp_reqp) -> normalize -> verdict (the same
 * decision conn_on_head() makes) -> the bytes that would be forwarded.
 *
 * Input: byte 0 selects the split size (bits 0-3), whether the client is a
 * known workload (bit 4) and the policy options (bits 5-6: case-insensitive
 * paths, decode-and-merge escaped slashes); the rest is the client's byte
 * stream. Properties checked:
 *  - feeding the stream whole and in pieces gives the same transcript
 *    (heads, verdicts, body bytes, boundaries, error status): no framing or
 *    policy decision depends on how TCP segments the stream. Body bytes of a
 *    piece cut short by an error may or may not have been streamed (the
 *    upstream connection is closed either way), so they are not compared;
 *  - every step consumes at most what it was given and always makes progress;
 *  - a denied or malformed request forwards nothing; pipelined requests are
 *    judged one by one, in order, and the stream stops where the proxy would
 *    stop reading (Connection: close, tunnels, denied bodies it cannot skip);
 *  - what is forwarded for an allowed request, parsed again by a fresh strict
 *    llhttp parser (what the upstream does), is exactly one request (or a
 *    prefix of one, when its body turned out malformed) with the same
 *    method, a target that normalizes to the judged path, the same Host, the
 *    same framing and body bytes, and judging it again allows it: no byte
 *    can smuggle a second request or change what was judged.
 *
 * Built with libFuzzer (SHUNT_FUZZ=ON) or with tests/fuzz_replay.c as a
 * plain corpus replay in every build.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http_request.h"
#include "verdict.h"
#include "shunt/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                           \
	do {                                                \
		fprintf(stderr, "fuzz_reqp: " __VA_ARGS__); \
		fputc('\n', stderr);                        \
		abort();                                    \
	} while (0)

/* client 10.0.0.1 (workload "client", sa client), server 10.0.0.2:80 */
static const char policy_json[] =
	"\"workloads\": ["
	" {\"name\": \"client\", \"serviceAccount\": \"client\", \"addresses\": [\"10.0.0.1\"]},"
	" {\"name\": \"server\", \"labels\": {\"app\": \"server\"}, \"addresses\": "
	"[\"10.0.0.2\"]}],"
	" \"authorizationPolicies\": ["
	" {\"metadata\": {\"name\": \"allow\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"server\"}}, \"rules\": ["
	"  {\"to\": [{\"operation\": {\"methods\": [\"GET\", \"HEAD\", \"POST\", \"PUT\"],"
	"   \"paths\": [\"/public/*\", \"/a/b\", \"/x\", \"*.png\", \"/u/{*}/o\", \"/f/{**}\"]}}]},"
	"  {\"from\": [{\"source\": {\"principals\": [\"cluster.local/ns/default/sa/client\"]}}],"
	"   \"to\": [{\"operation\": {\"methods\": [\"CONNECT\", \"GET\"], \"hosts\": "
	"[\"tunnel.example\"]}}]},"
	"  {\"to\": [{\"operation\": {\"notPaths\": [\"/private/*\"], \"hosts\": "
	"[\"h.example\"]}}]}]}},"
	" {\"metadata\": {\"name\": \"deny\"}, \"spec\": {\"selector\": {\"matchLabels\": "
	"{\"app\": \"server\"}}, \"action\": \"DENY\","
	"  \"rules\": [{\"to\": [{\"operation\": {\"paths\": [\"/public/admin/*\", \"/A/*\"]}}]},"
	"   {\"to\": [{\"operation\": {\"methods\": [\"DELETE\"]}}]}]}}]}";

static struct shunt_policy *policies[4];

static const struct shunt_policy *policy_for(unsigned opts)
{
	struct shunt_diags d = {0};
	struct shunt_config *c = NULL;
	char json[sizeof(policy_json) + 128];

	if (policies[opts])
		return policies[opts];
	snprintf(json, sizeof(json),
		 "{\"options\": {\"caseInsensitivePaths\": %s, \"escapedSlashes\": \"%s\"}, %s",
		 (opts & 1) ? "true" : "false", (opts & 2) ? "decode-and-merge" : "reject",
		 policy_json);
	if (shunt_config_load_string(json, "fuzz-policy.json", &c, &d) ||
	    shunt_policy_compile(c, &policies[opts], &d)) {
		shunt_diags_print(&d, stderr);
		FAIL("policy does not load");
	}
	shunt_config_free(c);
	shunt_diags_free(&d);
	return policies[opts];
}

/* one downstream connection */
struct conn {
	const struct shunt_policy *pol;
	struct sockaddr_in peer, dst;
	int src_wl, dst_wl;
};

/* the proxy's normalizer hook: policy options, never lower-cased */
static int norm(void *ctx, const char *target, size_t len, char *out, size_t cap, size_t *out_len,
		const char **query, size_t *query_len, const char **why)
{
	const struct conn *c = ctx;
	struct shunt_norm_opts o = *shunt_policy_norm_opts(c->pol);

	o.case_insensitive = false;
	return shunt_path_normalize(&o, target, len, out, cap, out_len, query, query_len, why);
}

/* The proxy's own verdict (proxy/verdict.c, as in conn_on_head()):
 * true if the request is allowed. */
static bool judge(const struct conn *c, const char *method, size_t method_len, const char *path,
		  size_t path_len, const char *host, size_t host_len, bool upgrade, bool is_connect)
{
	struct shunt_l7_query q = {
		.src_workload = c->src_wl,
		.src_addr = (const struct sockaddr *)&c->peer,
		.dst_workload = c->dst_wl,
		.dst_port = 80,
		.method = method,
		.method_len = method_len,
		.path = path,
		.path_len = path_len,
		.host = host,
		.host_len = host_len,
	};
	struct shunt_verdict v;

	sp_request_verdict(c->pol, &q, upgrade, is_connect, &v);
	return v.action == SHUNT_ALLOW;
}

struct buf {
	char *s;
	size_t n, cap;
};

static void put(struct buf *t, const void *d, size_t n)
{
	if (!n)
		return;
	if (t->n + n > t->cap) {
		t->cap = (t->n + n) * 2 + 64;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			abort();
	}
	memcpy(t->s + t->n, d, n);
	t->n += n;
}

/* equal byte strings (either may be NULL when empty) */
static bool same(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* What the upstream sees for one allowed request. */
struct fwd {
	bool active;
	char method[SP_MAX_METHOD];
	char *path; /* judged (normalized) path */
	size_t path_len;
	char *host;
	size_t host_len;
	bool has_host, chunked, upgrade, is_connect, is_head, keep_alive;
	uint64_t content_length;
	struct buf up;	 /* every byte sent upstream */
	struct buf body; /* body bytes as the engine reported them */
	size_t head_len; /* f->up.n right after the head */
};

/* ---- the upstream's view: a fresh strict llhttp parser ---- */

struct upstream {
	struct buf url, field, value, body, host; /* host: the last Host value, trimmed */
	int n_host;
	bool in_value;
	int n_complete;
	uint64_t content_length;
	bool chunked;
};

static void up_header_done(struct upstream *u)
{
	if (u->in_value && u->field.n == 4 && !strncasecmp(u->field.s, "host", 4)) {
		const char *v = u->value.s ? u->value.s : "";
		size_t n = u->value.n;

		trim(&v, &n);
		u->n_host++;
		u->host.n = 0;
		put(&u->host, v, n);
	}
	u->field.n = u->value.n = 0;
	u->in_value = false;
}

static int up_on_url(llhttp_t *p, const char *at, size_t n)
{
	put(&((struct upstream *)p->data)->url, at, n);
	return 0;
}

static int up_on_field(llhttp_t *p, const char *at, size_t n)
{
	struct upstream *u = p->data;

	if (u->in_value)
		up_header_done(u);
	put(&u->field, at, n);
	return 0;
}

static int up_on_value(llhttp_t *p, const char *at, size_t n)
{
	struct upstream *u = p->data;

	u->in_value = true;
	put(&u->value, at, n);
	return 0;
}

static int up_on_headers_complete(llhttp_t *p)
{
	struct upstream *u = p->data;

	up_header_done(u);
	u->content_length = p->content_length;
	u->chunked = (p->flags & F_CHUNKED) != 0;
	return 0;
}

static int up_on_body(llhttp_t *p, const char *at, size_t n)
{
	put(&((struct upstream *)p->data)->body, at, n);
	return 0;
}

static int up_on_message_complete(llhttp_t *p)
{
	((struct upstream *)p->data)->n_complete++;
	return 0;
}

static void check_upstream(const struct conn *c, struct fwd *f, bool complete)
{
	llhttp_settings_t s;
	llhttp_t p;
	struct upstream u = {0};
	llhttp_errno_t err;
	char out[8192];
	size_t out_len = 0, qlen = 0;
	const char *q = NULL, *why = NULL;
	const char *m;

	llhttp_settings_init(&s);
	s.on_url = up_on_url;
	s.on_header_field = up_on_field;
	s.on_header_value = up_on_value;
	s.on_headers_complete = up_on_headers_complete;
	s.on_body = up_on_body;
	s.on_message_complete = up_on_message_complete;
	llhttp_init(&p, HTTP_REQUEST, &s);
	p.data = &u;
	err = llhttp_execute(&p, f->up.s, f->up.n);
	if (f->upgrade && err == HPE_PAUSED_UPGRADE)
		err = HPE_OK; /* a tunnel begins here; nothing after it is HTTP */
	if (err != HPE_OK)
		FAIL("upstream rejects the forwarded bytes (%s: %s):\n%.*s", llhttp_errno_name(err),
		     llhttp_get_error_reason(&p), (int)f->up.n, f->up.s);
	if (u.n_complete != (complete ? 1 : 0))
		FAIL("upstream sees %d complete requests, expected %d:\n%.*s", u.n_complete,
		     complete ? 1 : 0, (int)f->up.n, f->up.s);
	m = llhttp_method_name((llhttp_method_t)p.method);
	if (strcmp(m, f->method) != 0)
		FAIL("upstream sees method %s, judged %s", m, f->method);
	if (u.chunked != f->chunked || (!f->chunked && u.content_length != f->content_length))
		FAIL("upstream framing differs: cl %llu chunked %d, judged cl %llu chunked %d",
		     (unsigned long long)u.content_length, u.chunked,
		     (unsigned long long)f->content_length, f->chunked);
	if (!same(u.body.s, u.body.n, f->body.s, f->body.n))
		FAIL("upstream body differs from the body the engine reported");
	if (u.n_host != (f->has_host ? 1 : 0) ||
	    (f->has_host && !same(u.host.s, u.host.n, f->host, f->host_len)))
		FAIL("upstream sees %d Host headers (%zu bytes) '%.*s', judged (%zu bytes) '%.*s'",
		     u.n_host, u.host.n, (int)u.host.n, u.host.s ? u.host.s : "", f->host_len,
		     (int)f->host_len, f->host ? f->host : "");
	if (f->is_connect) {
		if (!same(u.url.s, u.url.n, f->path, f->path_len))
			FAIL("CONNECT authority changed");
	} else {
		/* the upstream's target normalizes to what was judged */
		if (norm((void *)c, u.url.s ? u.url.s : "", u.url.n, out, sizeof(out), &out_len, &q,
			 &qlen, &why) ||
		    !same(out, out_len, f->path, f->path_len))
			FAIL("forwarded target '%.*s' does not normalize to the judged path '%.*s'",
			     (int)u.url.n, u.url.s, (int)f->path_len, f->path);
		/* and it is forwarded normalized already (a fixed point) */
		if (u.url.n != out_len + (q ? qlen + 1 : 0) ||
		    !same(u.url.s, out_len, out, out_len))
			FAIL("forwarded target '%.*s' is not the normalized path", (int)u.url.n,
			     u.url.s);
	}
	/* judged again as the upstream sees it: still allowed */
	if (!judge(c, m, strlen(m), f->path, f->path_len, f->has_host ? u.host.s : NULL,
		   f->has_host ? u.host.n : 0, f->upgrade, f->is_connect))
		FAIL("the forwarded request would be denied");
	free(u.url.s);
	free(u.field.s);
	free(u.value.s);
	free(u.body.s);
	free(u.host.s);
}

static void fwd_start(struct fwd *f, const struct sp_head *h)
{
	f->active = true;
	snprintf(f->method, sizeof(f->method), "%s", h->method);
	f->path = malloc(h->path_len + 1);
	if (!f->path)
		abort();
	memcpy(f->path, h->path, h->path_len);
	f->path_len = h->path_len;
	f->has_host = h->host != NULL;
	f->host = NULL;
	f->host_len = 0;
	if (h->host) {
		const char *v = h->host;
		size_t n = h->host_len;

		trim(&v, &n);
		f->host = malloc(n + 1);
		if (!f->host)
			abort();
		memcpy(f->host, v, n);
		f->host_len = n;
	}
	f->chunked = h->chunked;
	f->upgrade = h->upgrade;
	f->is_connect = h->is_connect;
	f->is_head = h->is_head;
	f->keep_alive = h->keep_alive;
	f->content_length = h->content_length;
	f->up.n = f->body.n = 0;
	put(&f->up, h->fwd, h->fwd_len);
	f->head_len = f->up.n;
}

static void fwd_end(const struct conn *c, struct fwd *f, bool complete)
{
	if (!f->active)
		return;
	check_upstream(c, f, complete);
	free(f->path);
	free(f->host);
	f->path = f->host = NULL;
	f->active = false;
}

/* Transcript of one run, compared between whole and split feeding. */
struct tr {
	struct buf b;
	size_t mark; /* length at the last framing event */
	char last;
	unsigned forwarded, denied;
};

static void tr_body(struct tr *t, const void *d, size_t n)
{
	if (t->last != 'B')
		put(&t->b, "B", 1);
	put(&t->b, d, n);
	t->last = 'B';
}

/* Feed in pieces of size `piece` (0 = all at once). */
static void run(struct conn *c, const char *in, size_t len, size_t piece, struct tr *t)
{
	struct sp_limits lim = {.max_header_bytes = 4096, .max_headers = 32};
	struct sp_reqp p;
	struct sp_event ev;
	struct fwd f = {0};
	size_t off = 0, avail = piece ? 0 : len;
	int guard = 0;
	bool forward = false, close_after_body = false;

	if (sp_reqp_init(&p, &lim, norm, c))
		abort();
	for (;;) {
		size_t used = sp_reqp_step(&p, in + off, avail - off, &ev);

		if (used > avail - off)
			FAIL("step consumed %zu of %zu bytes", used, avail - off);
		off += used;
		if (used == 0 && ev.type != SP_EV_NEED_MORE && ++guard > 8)
			FAIL("no progress");
		if (used)
			guard = 0;
		switch (ev.type) {
		case SP_EV_NEED_MORE:
			if (avail == len)
				goto done;
			avail = avail + piece > len ? len : avail + piece;
			guard = 0;
			continue;
		case SP_EV_HEAD: {
			const struct sp_head *h = &p.h;

			forward = judge(c, h->method, h->method_len, h->path, h->path_len, h->host,
					h->host_len, h->upgrade, h->is_connect);
			put(&t->b, forward ? "A" : "D", 1);
			put(&t->b, h->fwd, h->fwd_len);
			t->mark = t->b.n;
			t->last = 'H';
			if (!forward) {
				t->denied++;
				/* conn_on_head(): answered 403 and closed, or the
				 * body is skipped by its framing */
				if (!h->keep_alive || h->upgrade ||
				    (h->has_body && h->expect_continue))
					goto done;
				close_after_body = false;
				break;
			}
			t->forwarded++;
			fwd_start(&f, h);
			/* after the message: a tunnel if the upstream agrees
			 * (the rest is relayed raw), else the proxy closes */
			close_after_body = !h->keep_alive || h->upgrade;
			break;
		}
		case SP_EV_CHUNK_HEAD: {
			char line[32];
			int n = snprintf(line, sizeof(line), "%llx\r\n",
					 (unsigned long long)ev.chunk_size);

			tr_body(t, line, (size_t)n);
			t->mark = t->b.n;
			if (forward)
				put(&f.up, line, (size_t)n);
			break;
		}
		case SP_EV_BODY:
			if (!ev.len || !ev.data)
				FAIL("empty body span");
			tr_body(t, ev.data, ev.len);
			if (forward) {
				put(&f.up, ev.data, ev.len);
				put(&f.body, ev.data, ev.len);
			}
			break;
		case SP_EV_CHUNK_END:
			tr_body(t, "\r\n", 2);
			t->mark = t->b.n;
			if (forward)
				put(&f.up, "\r\n", 2);
			break;
		case SP_EV_MSG_END:
			put(&t->b, "|", 1);
			t->mark = t->b.n;
			t->last = '|';
			if (forward)
				fwd_end(c, &f, true);
			forward = false;
			if (close_after_body)
				goto done;
			break;
		case SP_EV_ERROR: {
			char e[8];

			if (ev.status != 400 && ev.status != 431)
				FAIL("error status %d", ev.status);
			snprintf(e, sizeof(e), "E%d", ev.status);
			t->b.n = t->mark; /* drop body bytes of the cut-short piece */
			put(&t->b, e, strlen(e));
			/* an allowed head whose body went bad: what was sent
			 * is a strict prefix of one request, never a whole one */
			if (forward)
				fwd_end(c, &f, false);
			goto done;
		}
		}
	}
done:
	/* end of input in the middle of an allowed request: a prefix */
	if (f.active)
		fwd_end(c, &f, false);
	free(f.up.s);
	free(f.body.s);
	sp_reqp_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr a = {0}, b = {0};
	struct conn c = {0};
	size_t piece;

	if (size < 1)
		return 0;
	piece = (size_t)(data[0] % 16) + 1;
	c.pol = policy_for((data[0] >> 5) & 3);
	c.peer.sin_family = AF_INET;
	c.peer.sin_addr.s_addr = htonl((data[0] & 16) ? 0x0a000001 : 0x0a000063);
	c.peer.sin_port = htons(40000);
	c.dst.sin_family = AF_INET;
	c.dst.sin_addr.s_addr = htonl(0x0a000002);
	c.dst.sin_port = htons(80);
	c.src_wl = shunt_policy_workload_by_addr(c.pol, (const struct sockaddr *)&c.peer);
	c.dst_wl = shunt_policy_workload_by_addr(c.pol, (const struct sockaddr *)&c.dst);
	if (c.dst_wl < 0 || ((data[0] & 16) && c.src_wl < 0))
		FAIL("workload lookup");
	if (c.src_wl < 0)
		c.src_wl = -1;
	run(&c, (const char *)data + 1, size - 1, 0, &a);
	run(&c, (const char *)data + 1, size - 1, piece, &b);
	if (!same(a.b.s, a.b.n, b.b.s, b.b.n))
		FAIL("transcript differs whole vs pieces of %zu:\n%.*s\n----\n%.*s", piece,
		     (int)a.b.n, a.b.s, (int)b.b.n, b.b.s);
	free(a.b.s);
	free(b.b.s);
	return 0;
}
