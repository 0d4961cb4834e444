// SPDX-License-Identifier: Apache-2.0
/*
 * Position index: jansson 2.14 keeps no per-node positions, so diagnostics
 * are recorded with a JSON path and resolved here by one tokenizer pass over
 * the raw text (already accepted by jansson), which tracks the JSON path of
 * every key and value it passes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct want {
	uint64_t hash;
	size_t idx; /* index into d->v */
};

struct jtok {
	const char *s, *end;
	const char *p;
	int line;
	const char *line_start;
	struct shunt_diags *d;
	struct want *w;
	size_t nw;
	char path[SHUNT_DIAG_PATH_MAX];
};

static uint64_t fnv(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static void mark(struct jtok *t, size_t plen, const char *at, int marker)
{
	uint64_t h = fnv(t->path, plen);
	size_t lo = 0, hi = t->nw;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->w[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < t->nw && t->w[lo].hash == h; lo++) {
		struct shunt_diag *g = &t->d->v[t->w[lo].idx];
		int col = 1;

		if (g->line != marker || strlen(g->path) != plen || memcmp(g->path, t->path, plen))
			continue;
		for (const char *q = t->line_start; q < at; q++)
			if (((unsigned char)*q & 0xc0) != 0x80)
				col++;
		g->line = t->line;
		g->column = col;
	}
}

static int hexv(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'a' && h <= 'f')
		return h - 'a' + 10;
	if (h >= 'A' && h <= 'F')
		return h - 'A' + 10;
	return 0;
}

static void skip_ws(struct jtok *t)
{
	while (t->p < t->end) {
		char c = *t->p;

		if (c == '\n') {
			t->line++;
			t->line_start = t->p + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			break;
		}
		t->p++;
	}
}

/* Skips a string starting at '"'; decodes simple escapes into buf (for keys). */
static size_t scan_string(struct jtok *t, char *buf, size_t cap)
{
	size_t n = 0;

	t->p++; /* opening quote */
	while (t->p < t->end && *t->p != '"') {
		char c = *t->p++;

		if (c == '\\' && t->p < t->end) {
			char e = *t->p++;

			switch (e) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				/* \uXXXX (and surrogate pairs) -> UTF-8, as jansson decodes keys */
				unsigned v = 0;
				char u8[4];
				size_t k = 0;

				for (int i = 0; i < 4 && t->p < t->end; i++, t->p++)
					v = v * 16 + (unsigned)hexv(*t->p);
				if (v >= 0xd800 && v < 0xdc00 && t->end - t->p >= 6 &&
				    t->p[0] == '\\' && t->p[1] == 'u') {
					unsigned lo = 0;

					for (int i = 2; i < 6; i++)
						lo = lo * 16 + (unsigned)hexv(t->p[i]);
					if (lo >= 0xdc00 && lo < 0xe000) {
						v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
						t->p += 6;
					}
				}
				if (v < 0x80) {
					u8[k++] = (char)v;
				} else if (v < 0x800) {
					u8[k++] = (char)(0xc0 | (v >> 6));
					u8[k++] = (char)(0x80 | (v & 0x3f));
				} else if (v < 0x10000) {
					u8[k++] = (char)(0xe0 | (v >> 12));
					u8[k++] = (char)(0x80 | ((v >> 6) & 0x3f));
					u8[k++] = (char)(0x80 | (v & 0x3f));
				} else {
					u8[k++] = (char)(0xf0 | (v >> 18));
					u8[k++] = (char)(0x80 | ((v >> 12) & 0x3f));
					u8[k++] = (char)(0x80 | ((v >> 6) & 0x3f));
					u8[k++] = (char)(0x80 | (v & 0x3f));
				}
				for (size_t i = 0; i + 1 < k; i++)
					if (buf && n + 1 < cap)
						buf[n++] = u8[i];
				c = u8[k - 1];
				break;
			}
			default:
				c = e;
			}
		}
		if (buf && n + 1 < cap)
			buf[n++] = c;
	}
	if (t->p < t->end)
		t->p++; /* closing quote */
	return n;
}

static void scan_value(struct jtok *t, size_t plen, int depth);

static void scan_object(struct jtok *t, size_t plen, int depth)
{
	char key[SHUNT_DIAG_PATH_MAX];

	t->p++;
	for (;;) {
		size_t klen, np;
		const char *kat;

		skip_ws(t);
		if (t->p >= t->end || *t->p == '}')
			break;
		if (*t->p != '"')
			return;
		kat = t->p;
		klen = scan_string(t, key, sizeof(key));
		np = json_path_append_key(t->path, plen, sizeof(t->path), key, klen);
		mark(t, np, kat, DIAG_AT_KEY);
		skip_ws(t);
		if (t->p < t->end && *t->p == ':')
			t->p++;
		scan_value(t, np, depth + 1);
		skip_ws(t);
		if (t->p < t->end && *t->p == ',')
			t->p++;
		else
			break;
	}
	if (t->p < t->end && *t->p == '}')
		t->p++;
}

static void scan_array(struct jtok *t, size_t plen, int depth)
{
	size_t i = 0;

	t->p++;
	for (;;) {
		int n;
		size_t np = plen;

		skip_ws(t);
		if (t->p >= t->end || *t->p == ']')
			break;
		n = snprintf(t->path + plen, sizeof(t->path) - plen, "[%zu]", i++);
		if (n > 0 && plen + (size_t)n < sizeof(t->path))
			np = plen + (size_t)n;
		scan_value(t, np, depth + 1);
		skip_ws(t);
		if (t->p < t->end && *t->p == ',')
			t->p++;
		else
			break;
	}
	if (t->p < t->end && *t->p == ']')
		t->p++;
}

static void scan_value(struct jtok *t, size_t plen, int depth)
{
	skip_ws(t);
	if (t->p >= t->end || depth > 4096)
		return;
	mark(t, plen, t->p, DIAG_AT_VALUE);
	switch (*t->p) {
	case '{':
		scan_object(t, plen, depth);
		break;
	case '[':
		scan_array(t, plen, depth);
		break;
	case '"':
		scan_string(t, NULL, 0);
		break;
	default:
		while (t->p < t->end && !strchr(",]} \t\r\n", *t->p))
			t->p++;
	}
}

void jpos_resolve(const char *text, size_t len, struct shunt_diags *d, size_t first)
{
	struct jtok t = {0};
	size_t n = 0;

	if (!d || first >= d->n)
		return;
	t.w = calloc(d->n - first, sizeof(*t.w));
	if (t.w) {
		for (size_t i = first; i < d->n; i++) {
			if (d->v[i].line != DIAG_AT_KEY && d->v[i].line != DIAG_AT_VALUE)
				continue;
			t.w[n].hash = fnv(d->v[i].path, strlen(d->v[i].path));
			t.w[n++].idx = i;
		}
		qsort(t.w, n, sizeof(*t.w), want_cmp);
		t.nw = n;
		t.s = t.p = t.line_start = text;
		t.end = text + len;
		t.line = 1;
		t.d = d;
		strcpy(t.path, "$");
		/* a document may hold several top-level values only in theory:
		 * jansson rejects that, so one value it is. */
		scan_value(&t, 1, 0);
		free(t.w);
	}
	for (size_t i = first; i < d->n; i++) {
		if (d->v[i].line < 0) {
			d->v[i].line = 0;
			d->v[i].column = 0;
		}
	}
}
