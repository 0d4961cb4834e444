// SPDX-License-Identifier: Apache-2.0
/* Request framing engine: llhttp (strict) + the POLICY.md framing checks. */
#include "http_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int on_message_begin(llhttp_t *l);
static int on_header_field_complete(llhttp_t *l);
static int on_headers_complete(llhttp_t *l);
static int on_body(llhttp_t *l, const char *at, size_t len);
static int on_chunk_header(llhttp_t *l);
static int on_chunk_complete(llhttp_t *l);
static int on_message_complete(llhttp_t *l);

static llhttp_settings_t reqp_settings;
static bool reqp_settings_ready;

static void settings_init(void)
{
	if (reqp_settings_ready)
		return;
	llhttp_settings_init(&reqp_settings);
	reqp_settings.on_message_begin = on_message_begin;
	reqp_settings.on_header_field_complete = on_header_field_complete;
	reqp_settings.on_headers_complete = on_headers_complete;
	reqp_settings.on_body = on_body;
	reqp_settings.on_chunk_header = on_chunk_header;
	reqp_settings.on_chunk_complete = on_chunk_complete;
	reqp_settings.on_message_complete = on_message_complete;
	reqp_settings_ready = true;
}

static struct sp_reqp *reqp_of(llhttp_t *l)
{
	return l->data;
}

static int on_message_begin(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->in_head = true;
	p->nheaders = 0;
	return 0;
}

static int on_header_field_complete(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->nheaders++;
	if ((!p->in_body || p->in_trailers) && p->nheaders > p->lim.max_headers) {
		llhttp_set_error_reason(l, "too many headers");
		return HPE_USER;
	}
	return 0;
}

static int on_headers_complete(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->pending = SP_EV_HEAD;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *l, const char *at, size_t len)
{
	struct sp_reqp *p = reqp_of(l);

	if (len == 0)
		return 0;
	if (p->body_ptr) {
		/* pauses at every chunk boundary make this impossible; refuse
		 * rather than lose bytes */
		p->body_multi = true;
		llhttp_set_error_reason(l, "internal: split body span");
		return HPE_USER;
	}
	p->body_ptr = at;
	p->body_len = len;
	return 0;
}

static int on_chunk_header(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->pending = SP_EV_CHUNK_HEAD;
	p->pending_chunk = l->content_length;
	return HPE_PAUSED;
}

static int on_chunk_complete(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->pending = SP_EV_CHUNK_END;
	return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *l)
{
	struct sp_reqp *p = reqp_of(l);

	p->pending = SP_EV_MSG_END;
	return HPE_PAUSED;
}

int sp_reqp_init(struct sp_reqp *p, const struct sp_limits *lim, sp_normalize_fn fn, void *ctx)
{
	settings_init();
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	p->normalize = fn;
	p->normalize_ctx = ctx;
	p->head_cap = SP_REQP_HEAD_INIT;
	p->head = malloc(p->head_cap);
	p->path_cap = SP_REQP_PATH_INIT;
	p->path_buf = malloc(p->path_cap);
	if (!p->head || !p->path_buf) {
		sp_reqp_free(p);
		return -ENOMEM;
	}
	llhttp_init(&p->parser, HTTP_REQUEST, &reqp_settings);
	p->parser.data = p;
	return 0;
}

void sp_reqp_free(struct sp_reqp *p)
{
	free(p->head);
	free(p->path_buf);
	free(p->h.fwd);
	p->head = NULL;
	p->path_buf = NULL;
	p->h.fwd = NULL;
}

/* Shrink what one large head grew back to the initial sizes (a realloc that
 * fails leaves the bigger buffer, which is still valid). */
static void shrink(char **buf, size_t *cap, size_t want)
{
	char *n;

	if (*cap <= want)
		return;
	n = realloc(*buf, want);
	if (n) {
		*buf = n;
		*cap = want;
	}
}

void sp_reqp_trim(struct sp_reqp *p)
{
	if (p->in_head || p->in_body || p->in_trailers || p->head_len)
		return;
	shrink(&p->head, &p->head_cap, SP_REQP_HEAD_INIT);
	shrink(&p->path_buf, &p->path_cap, SP_REQP_PATH_INIT);
	if (p->fwd_cap > SP_REQP_HEAD_INIT) {
		free(p->h.fwd);
		p->h.fwd = NULL;
		p->h.fwd_len = 0;
		p->fwd_cap = 0;
	}
}

bool sp_reqp_idle(const struct sp_reqp *p)
{
	return !p->in_head && !p->in_body && !p->deferred && !p->failed;
}

static size_t fail(struct sp_reqp *p, struct sp_event *ev, int status, const char *why)
{
	p->failed = true;
	p->fail_status = status;
	p->fail_why = why;
	ev->type = SP_EV_ERROR;
	ev->status = status;
	ev->why = why;
	return 0;
}

static int head_append(struct sp_reqp *p, const char *data, size_t len)
{
	if (p->head_len + len > p->head_cap) {
		size_t cap = p->head_cap;
		char *n;

		while (cap < p->head_len + len)
			cap *= 2;
		n = realloc(p->head, cap);
		if (!n)
			return -ENOMEM;
		p->head = n;
		p->head_cap = cap;
	}
	memcpy(p->head + p->head_len, data, len);
	p->head_len += len;
	return 0;
}

/* RFC 9110 tchar (a table: this runs for every byte of every header name) */
static const bool tchar_tab[256] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['!'] = true,
	['#'] = true,	      ['$'] = true,	    ['%'] = true,	  ['&'] = true,
	['\''] = true,	      ['*'] = true,	    ['+'] = true,	  ['-'] = true,
	['.'] = true,	      ['^'] = true,	    ['_'] = true,	  ['`'] = true,
	['|'] = true,	      ['~'] = true,
};

static inline bool is_tchar(unsigned char c)
{
	return tchar_tab[c];
}

/* bytes a request head may hold only in CRLF pairs (CR, LF) or never (the
 * other controls but HT, DEL) */
static const bool ctl_tab[256] = {
	[0 ... 8] = true,
	[10 ... 31] = true,
	[127] = true,
};

/* case-insensitive comparison with a string literal (length known at
 * compile time, so most header names are rejected by their length) */
#define ieq(a, alen, lit) \
	((alen) == sizeof(lit) - 1 && strncasecmp((a), (lit), sizeof(lit) - 1) == 0)

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static bool list_has(const char *v, size_t len, const char *tok)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && e - s == strlen(tok) && strncasecmp(v + s, tok, e - s) == 0)
			return true;
	}
	return false;
}

/* Transfer-Encoding: a list of tokens whose last one, and only that one, is
 * "chunked". Returns true if acceptable. */
static bool te_ok(const char *v, size_t len)
{
	size_t i = 0, ntok = 0;
	bool last_chunked = false;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			return false; /* empty element */
		for (size_t k = s; k < e; k++)
			if (!is_tchar((unsigned char)v[k]))
				return false; /* parameters not accepted */
		if (last_chunked)
			return false; /* something after chunked */
		last_chunked = ieq(v + s, e - s, "chunked");
		ntok++;
		if (i < len)
			i++; /* skip ',' */
		if (i == len && v[len - 1] == ',')
			return false;
	}
	return ntok > 0 && last_chunked;
}

int sp_head_check(const char *head, size_t len, const struct sp_limits *lim, struct sp_head *h,
		  const char **why)
{
	size_t i, ls, le, nheaders = 0;
	int ncl = 0, nte = 0, nhost = 0;
	const char *te = NULL;
	size_t te_len = 0;
	bool conn_close = false, conn_keep = false;

	if (len > lim->max_header_bytes) {
		*why = "request header too large";
		return 431;
	}
	/* bytes: no NUL or other control byte but HT, every CR followed by LF,
	 * every LF preceded by CR (one table lookup per ordinary byte) */
	for (i = 0; i < len; i++) {
		unsigned char c = head[i];

		if (!ctl_tab[c])
			continue;
		if (c == '\r') {
			if (i + 1 >= len || head[i + 1] != '\n') {
				*why = "bare CR in request head";
				return 400;
			}
			i++; /* its LF */
			continue;
		}
		if (c == '\n') {
			*why = "bare LF in request head";
			return 400;
		}
		*why = c ? "control byte in request head" : "NUL in request head";
		return 400;
	}
	if (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		*why = "request head not terminated by CRLFCRLF";
		return 400;
	}

	/* request line: method SP target SP HTTP/1.x CRLF */
	le = (size_t)((const char *)memchr(head, '\r', len) - head); /* CRLFCRLF ends it */
	i = 0;
	while (i < le && is_tchar((unsigned char)head[i]))
		i++;
	if (i == 0 || i >= le || head[i] != ' ' || i >= SP_MAX_METHOD) {
		*why = "malformed method";
		return 400;
	}
	memcpy(h->method, head, i);
	h->method[i] = '\0';
	h->method_len = i;
	ls = ++i;
	while (i < le && (unsigned char)head[i] > 0x20 && (unsigned char)head[i] != 0x7f)
		i++;
	if (i == ls || i >= le || head[i] != ' ') {
		*why = "malformed request target";
		return 400;
	}
	h->target = head + ls;
	h->target_len = i - ls;
	i++;
	if (le - i != 8 || memcmp(head + i, "HTTP/1.", 7) != 0 ||
	    (head[i + 7] != '0' && head[i + 7] != '1')) {
		*why = "unsupported HTTP version";
		return 400;
	}
	h->http_minor = head[i + 7] - '0';
	h->is_connect =
		ieq(h->method, h->method_len, "CONNECT") && strcmp(h->method, "CONNECT") == 0;
	h->is_head = strcmp(h->method, "HEAD") == 0;
	h->host = NULL;
	h->host_len = 0;
	h->content_length = 0;
	h->chunked = false;
	h->expect_continue = false;
	h->upgrade = h->is_connect;

	/* header lines */
	ls = le + 2;
	while (ls < len) {
		size_t colon, vs, ve;

		le = (size_t)((const char *)memchr(head + ls, '\r', len - ls) - head);
		if (le == ls)
			break; /* the empty line */
		if (head[ls] == ' ' || head[ls] == '\t') {
			*why = "obs-fold in header";
			return 400;
		}
		if (++nheaders > lim->max_headers) {
			*why = "too many headers";
			return 431;
		}
		colon = ls;
		while (colon < le && head[colon] != ':')
			colon++;
		if (colon == le) {
			*why = "header line without colon";
			return 400;
		}
		if (colon == ls) {
			*why = "empty header name";
			return 400;
		}
		for (size_t k = ls; k < colon; k++) {
			if (!is_tchar((unsigned char)head[k])) {
				*why = "invalid header name";
				return 400;
			}
		}
		vs = colon + 1;
		while (vs < le && (head[vs] == ' ' || head[vs] == '\t'))
			vs++;
		ve = le;
		while (ve > vs && (head[ve - 1] == ' ' || head[ve - 1] == '\t'))
			ve--;
		/* control bytes in the value were rejected above */
		const char *name = head + ls, *val = head + vs;
		size_t nlen = colon - ls, vlen = ve - vs;

		if (ieq(name, nlen, "content-length")) {
			uint64_t v = 0;

			if (++ncl > 1) {
				*why = "duplicate Content-Length";
				return 400;
			}
			if (vlen == 0 || vlen > 18) {
				*why = "invalid Content-Length";
				return 400;
			}
			for (size_t k = 0; k < vlen; k++) {
				if (val[k] < '0' || val[k] > '9') {
					*why = "invalid Content-Length";
					return 400;
				}
				v = v * 10 + (uint64_t)(val[k] - '0');
			}
			h->content_length = v;
		} else if (ieq(name, nlen, "transfer-encoding")) {
			if (++nte > 1) {
				*why = "multiple Transfer-Encoding headers";
				return 400;
			}
			te = val;
			te_len = vlen;
		} else if (ieq(name, nlen, "host")) {
			if (++nhost > 1) {
				*why = "duplicate Host";
				return 400;
			}
			h->host = val;
			h->host_len = vlen;
		} else if (ieq(name, nlen, "expect")) {
			if (ieq(val, vlen, "100-continue"))
				h->expect_continue = true;
		} else if (ieq(name, nlen, "upgrade")) {
			h->upgrade = true;
		} else if (ieq(name, nlen, "connection")) {
			if (list_has(val, vlen, "close"))
				conn_close = true;
			if (list_has(val, vlen, "keep-alive"))
				conn_keep = true;
			if (list_has(val, vlen, "upgrade"))
				h->upgrade = true;
		}
		ls = le + 2;
	}
	if (ncl && nte) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if (nte) {
		if (h->http_minor == 0) {
			*why = "Transfer-Encoding in HTTP/1.0";
			return 400;
		}
		if (!te_ok(te, te_len)) {
			*why = "Transfer-Encoding other than a final chunked";
			return 400;
		}
		h->chunked = true;
	}
	if (h->http_minor == 1 && nhost == 0) {
		*why = "missing Host";
		return 400;
	}
	h->has_body = h->chunked || h->content_length > 0;
	h->keep_alive = h->http_minor == 1 ? !conn_close : (conn_keep && !conn_close);
	return 0;
}

int sp_trailer_check(const char *t, size_t len, const struct sp_limits *lim, const char **why)
{
	size_t ls = 0, n = 0;

	if (len < 2 || t[len - 2] != '\r' || t[len - 1] != '\n') {
		*why = "trailer section not terminated by CRLF";
		return 400;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '\r' && (i + 1 >= len || t[i + 1] != '\n')) {
			*why = "bare CR in trailers";
			return 400;
		}
		if (c == '\n' && (i == 0 || t[i - 1] != '\r')) {
			*why = "bare LF in trailers";
			return 400;
		}
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) {
			*why = "control byte in trailers";
			return 400;
		}
	}
	while (ls < len) {
		size_t le = ls, colon;

		while (t[le] != '\r')
			le++;
		if (le == ls) {
			if (le + 2 != len) {
				*why = "bytes after the end of the trailer section";
				return 400;
			}
			break;
		}
		if (t[ls] == ' ' || t[ls] == '\t') {
			*why = "obs-fold in trailers";
			return 400;
		}
		if (++n > lim->max_headers) {
			*why = "too many trailers";
			return 431;
		}
		colon = ls;
		while (colon < le && is_tchar((unsigned char)t[colon]))
			colon++;
		if (colon == ls || colon == le || t[colon] != ':') {
			*why = "invalid trailer name";
			return 400;
		}
		/* framing and routing are decided by the head: never in trailers */
		if (ieq(t + ls, colon - ls, "content-length") ||
		    ieq(t + ls, colon - ls, "transfer-encoding") ||
		    ieq(t + ls, colon - ls, "host")) {
			*why = "framing or routing field in trailers";
			return 400;
		}
		ls = le + 2;
	}
	if (ls != len - 2) {
		*why = "trailer section not terminated by an empty line";
		return 400;
	}
	return 0;
}

/* Build h->fwd: "<method> <normalized path>[?query] HTTP/1.x\r\n" + header lines. */
static int build_fwd(struct sp_reqp *p, const char *head, size_t len)
{
	struct sp_head *h = &p->h;
	const char *hdrs = memchr(head, '\n', len);
	size_t hdr_len, need;
	char *o;

	hdrs++;
	hdr_len = len - (size_t)(hdrs - head);
	need = h->method_len + 1 + h->path_len + 1 + h->query_len + 11 + hdr_len;
	if (need > p->fwd_cap) {
		char *n = realloc(h->fwd, need);

		if (!n)
			return -ENOMEM;
		h->fwd = n;
		p->fwd_cap = need;
	}
	o = h->fwd;
	memcpy(o, h->method, h->method_len);
	o += h->method_len;
	*o++ = ' ';
	memcpy(o, h->path, h->path_len);
	o += h->path_len;
	if (h->query) {
		*o++ = '?';
		memcpy(o, h->query, h->query_len);
		o += h->query_len;
	}
	memcpy(o, h->http_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	o += 11;
	memcpy(o, hdrs, hdr_len);
	o += hdr_len;
	h->fwd_len = (size_t)(o - h->fwd);
	return 0;
}

static int finish_head(struct sp_reqp *p, const char **why)
{
	struct sp_head *h = &p->h;
	const char *head = p->head;
	size_t len = p->head_len;
	int st, err;

	/* RFC 9112 2.2: ignore empty lines before the request line */
	while (len >= 2 && head[0] == '\r' && head[1] == '\n') {
		head += 2;
		len -= 2;
	}
	st = sp_head_check(head, len, &p->lim, h, why);
	if (st)
		return st;
	/* Fail closed when llhttp frames the message differently from our own
	 * checks: llhttp reports some framing errors only after the head (e.g.
	 * "chunked<HTAB>" is not chunked to llhttp 8.1), and a head it will
	 * reject must not be judged, let alone forwarded. */
	if (((p->parser.flags & F_TRANSFER_ENCODING) != 0) != h->chunked ||
	    ((p->parser.flags & F_CHUNKED) != 0) != h->chunked ||
	    (!h->chunked && p->parser.content_length != h->content_length))
		return (*why = "Transfer-Encoding other than a final chunked", 400);
	h->query = NULL;
	h->query_len = 0;
	if (h->is_connect) {
		/* authority-form: nothing to normalize, no path rule matches */
		if (h->target_len + 1 > p->path_cap)
			return (*why = "request target too long", 431);
		memcpy(p->path_buf, h->target, h->target_len);
		h->path_len = h->target_len;
	} else {
		for (;;) {
			err = p->normalize(p->normalize_ctx, h->target, h->target_len, p->path_buf,
					   p->path_cap, &h->path_len, &h->query, &h->query_len,
					   why);
			if (err != -ENAMETOOLONG || p->path_cap > 65536)
				break;
			char *n = realloc(p->path_buf, p->path_cap * 4);

			if (!n)
				return (*why = "out of memory", 400);
			p->path_buf = n;
			p->path_cap *= 4;
		}
		if (err == -ENAMETOOLONG)
			return (*why = "request target too long", 431);
		if (err)
			return 400;
		if (h->path_len >= p->path_cap)
			return (*why = "request target too long", 431);
	}
	p->path_buf[h->path_len] = '\0';
	h->path = p->path_buf;
	if (build_fwd(p, head, len))
		return (*why = "out of memory", 400);
	return 0;
}

size_t sp_reqp_step(struct sp_reqp *p, const char *data, size_t len, struct sp_event *ev)
{
	llhttp_errno_t err;
	size_t used;

	memset(ev, 0, sizeof(*ev));
	if (p->failed) {
		ev->type = SP_EV_ERROR;
		ev->status = p->fail_status;
		ev->why = p->fail_why;
		return 0;
	}
	if (p->deferred) {
		if (p->deferred == SP_EV_MSG_END)
			p->in_body = false;
		ev->type = p->deferred;
		ev->chunk_size = p->deferred_chunk;
		if (p->deferred == SP_EV_CHUNK_HEAD && p->deferred_chunk == 0) {
			p->in_trailers = true;
			p->nheaders = 0;
			p->head_len = 0;
		}
		p->deferred = 0;
		return 0;
	}
	p->body_ptr = NULL;
	p->body_len = 0;
	p->pending = 0;
	err = llhttp_execute(&p->parser, data, len);
	if (err == HPE_PAUSED) {
		used = (size_t)(llhttp_get_error_pos(&p->parser) - data);
		llhttp_resume(&p->parser);
	} else if (err == HPE_OK) {
		used = len;
	} else if (err == HPE_PAUSED_UPGRADE) {
		/* CONNECT/Upgrade message complete: what follows is not HTTP;
		 * the caller tunnels it or closes */
		ev->type = SP_EV_NEED_MORE;
		return 0;
	} else if ((!p->in_body || p->in_trailers) && p->nheaders > p->lim.max_headers) {
		return fail(p, ev, 431, "too many headers");
	} else {
		const char *epos = llhttp_get_error_pos(&p->parser);
		size_t upto =
			epos && epos >= data && epos <= data + len ? (size_t)(epos - data) : len;

		/* judged at the error position, so that segmentation never
		 * changes the answer */
		if ((!p->in_body || p->in_trailers) && p->head_len + upto > p->lim.max_header_bytes)
			return fail(p, ev, 431, "request header too large");
		return fail(p, ev, 400, llhttp_get_error_reason(&p->parser));
	}

	/* between messages every consumed byte belongs to the next head, also
	 * empty lines llhttp skips before calling on_message_begin */
	if (!p->in_body) {
		if (p->head_len + used > p->lim.max_header_bytes)
			return fail(p, ev, 431, "request header too large");
		if (head_append(p, data, used))
			return fail(p, ev, 400, "out of memory");
		if (p->pending == SP_EV_HEAD) {
			const char *why = NULL;
			int st = finish_head(p, &why);

			p->in_head = false;
			p->head_len = 0;
			if (st)
				return fail(p, ev, st, why);
			ev->type = SP_EV_HEAD;
			p->in_body = true;
			return used;
		}
		ev->type = SP_EV_NEED_MORE;
		return used;
	}

	/* trailer section of a chunked body: collected raw (in the head
	 * buffer, unused during a body), checked as a whole, and reported
	 * with the end of the last chunk */
	if (p->in_trailers) {
		if (p->head_len + used > p->lim.max_header_bytes)
			return fail(p, ev, 431, "request trailers too large");
		if (head_append(p, data, used))
			return fail(p, ev, 400, "out of memory");
		if (p->pending != SP_EV_CHUNK_END) {
			ev->type = SP_EV_NEED_MORE;
			return used;
		}
		const char *why = NULL;
		int st = sp_trailer_check(p->head, p->head_len, &p->lim, &why);

		p->in_trailers = false;
		if (st)
			return fail(p, ev, st, why);
		ev->type = SP_EV_CHUNK_END;
		ev->data = p->head;
		ev->len = p->head_len - 2; /* without the final empty line */
		p->head_len = 0;
		return used;
	}

	/* body phase: at most one data span, then at most one boundary */
	if (p->body_ptr) {
		ev->type = SP_EV_BODY;
		ev->data = p->body_ptr;
		ev->len = p->body_len;
		if (p->pending) {
			/* llhttp cannot rewind: report the boundary next time */
			p->deferred = p->pending;
			p->deferred_chunk = p->pending_chunk;
		}
		return used;
	}
	switch (p->pending) {
	case SP_EV_CHUNK_HEAD:
		ev->type = SP_EV_CHUNK_HEAD;
		ev->chunk_size = p->pending_chunk;
		if (p->pending_chunk == 0) {
			/* the last chunk: its trailer section follows */
			p->in_trailers = true;
			p->nheaders = 0;
			p->head_len = 0;
		}
		return used;
	case SP_EV_MSG_END:
		p->in_body = false;
		ev->type = SP_EV_MSG_END;
		return used;
	case SP_EV_CHUNK_END:
		ev->type = p->pending;
		return used;
	default:
		ev->type = SP_EV_NEED_MORE;
		return used;
	}
}
