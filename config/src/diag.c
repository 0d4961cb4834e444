// SPDX-License-Identifier: Apache-2.0
/* Diagnostics list and the validation context's JSON path. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct shunt_diag *diags_grow(struct shunt_diags *d)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct shunt_diag *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		d->v = v;
		d->cap = cap;
	}
	return &d->v[d->n++];
}

static int diags_vadd(struct shunt_diags *d, const char *file, int line, int column,
		      const char *path, const char *fmt, va_list ap)
{
	struct shunt_diag *g;

	if (!d)
		return 0;
	g = diags_grow(d);
	if (!g)
		return -ENOMEM;
	snprintf(g->file, sizeof(g->file), "%s", file ? file : "<config>");
	g->line = line;
	g->column = column;
	snprintf(g->path, sizeof(g->path), "%s", path ? path : "$");
	vsnprintf(g->msg, sizeof(g->msg), fmt, ap);
	return 0;
}

int shunt_diags_add(struct shunt_diags *d, const char *file, int line, int column, const char *path,
		    const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = diags_vadd(d, file, line, column, path, fmt, ap);
	va_end(ap);
	return err;
}

void shunt_diags_free(struct shunt_diags *d)
{
	if (!d)
		return;
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

void shunt_diags_print(const struct shunt_diags *d, FILE *f)
{
	for (size_t i = 0; d && i < d->n; i++) {
		const struct shunt_diag *g = &d->v[i];

		fprintf(f, "%s:%d:%d: %s: %s\n", g->file, g->line > 0 ? g->line : 0,
			g->column > 0 ? g->column : 0, g->path, g->msg);
	}
}

static bool ident_like(const char *key, size_t klen)
{
	if (klen == 0)
		return false;
	for (size_t i = 0; i < klen; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

size_t json_path_append_key(char *buf, size_t len, size_t cap, const char *key, size_t klen)
{
	int n;

	if (len >= cap)
		return len;
	if (ident_like(key, klen))
		n = snprintf(buf + len, cap - len, ".%.*s", (int)klen, key);
	else
		n = snprintf(buf + len, cap - len, "[\"%.*s\"]", (int)klen, key);
	if (n < 0)
		return len;
	len += (size_t)n;
	return len < cap ? len : cap - 1;
}

size_t vctx_push_key(struct vctx *v, const char *key)
{
	size_t old = v->plen;

	v->plen = json_path_append_key(v->path, v->plen, sizeof(v->path), key, strlen(key));
	return old;
}

size_t vctx_push_index(struct vctx *v, size_t i)
{
	size_t old = v->plen;
	int n = snprintf(v->path + v->plen, sizeof(v->path) - v->plen, "[%zu]", i);

	if (n > 0)
		v->plen += (size_t)n;
	if (v->plen >= sizeof(v->path))
		v->plen = sizeof(v->path) - 1;
	return old;
}

void vctx_pop(struct vctx *v, size_t old)
{
	v->plen = old;
	v->path[old] = '\0';
}

static void vadd(struct vctx *v, int marker, const char *fmt, va_list ap)
{
	v->path[v->plen] = '\0';
	v->nerr++;
	if (diags_vadd(v->d, v->file, marker, 0, v->path, fmt, ap))
		v->oom = true;
}

void verr(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(v, DIAG_AT_VALUE, fmt, ap);
	va_end(ap);
}

void verr_key(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(v, DIAG_AT_KEY, fmt, ap);
	va_end(ap);
}
