// SPDX-License-Identifier: Apache-2.0
#include "map_mirror.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void shunt_mirror_init(struct shunt_mirror *m, size_t stride, size_t key_size, size_t val_off,
		       size_t val_size)
{
	memset(m, 0, sizeof(*m));
	m->stride = stride;
	m->key_size = key_size;
	m->val_off = val_off;
	m->val_size = val_size;
}

static void drop_next(struct shunt_mirror *m)
{
	free(m->next);
	m->next = NULL;
	m->n_next = 0;
}

void shunt_mirror_invalidate(struct shunt_mirror *m)
{
	free(m->recs);
	m->recs = NULL;
	m->n = 0;
	m->valid = false;
}

void shunt_mirror_free(struct shunt_mirror *m)
{
	shunt_mirror_invalidate(m);
	drop_next(m);
}

/* The records being sorted, by index (qsort_r context). */
struct sort_ctx {
	const char *recs;
	size_t stride, key_size;
};

static int idx_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *x = arg;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	int c = memcmp(x->recs + ia * x->stride, x->recs + ib * x->stride, x->key_size);

	if (c)
		return c;
	return ia < ib ? -1 : ia > ib; /* equal keys keep their order */
}

int shunt_mirror_stage(struct shunt_mirror *m, const void *recs, size_t n)
{
	struct sort_ctx sctx = {recs, m->stride, m->key_size};
	size_t *idx = NULL, i, k = 0;
	char *out = NULL;
	int err = 0;

	drop_next(m);
	idx = malloc((n ? n : 1) * sizeof(*idx));
	out = malloc((n ? n : 1) * m->stride);
	if (!idx || !out) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), idx_cmp, &sctx);
	for (i = 0; i < n; i++) {
		const char *r = (const char *)recs + idx[i] * m->stride;

		/* a later record with the same key replaces the one kept */
		if (k && !memcmp(out + (k - 1) * m->stride, r, m->key_size))
			k--;
		memcpy(out + k * m->stride, r, m->stride);
		k++;
	}
	m->next = out;
	m->n_next = k;
	out = NULL;
cleanup:
	free(idx);
	free(out);
	return err;
}

static int key_cmp(const struct shunt_mirror *m, const char *a, const char *b)
{
	return memcmp(a, b, m->key_size);
}

int shunt_mirror_write(struct shunt_mirror *m, int (*write)(void *ctx, const void *rec), void *ctx,
		       struct shunt_mirror_stats *st)
{
	const char *old = m->recs, *nw = m->next;
	size_t i = 0, j = 0;
	int err;

	for (j = 0; j < m->n_next; j++) {
		const char *r = nw + j * m->stride;
		int c = 1;

		if (m->valid) {
			while (i < m->n && (c = key_cmp(m, old + i * m->stride, r)) < 0)
				i++;
			if (i == m->n)
				c = 1;
		}
		if (c == 0 &&
		    !memcmp(old + i * m->stride + m->val_off, r + m->val_off, m->val_size))
			continue; /* the map holds this value already */
		err = write(ctx, r);
		if (err) {
			shunt_mirror_invalidate(m);
			return err;
		}
		if (st)
			st->written++;
	}
	return 0;
}

int shunt_mirror_prune(struct shunt_mirror *m, int (*del)(void *ctx, const void *key), void *ctx,
		       struct shunt_mirror_stats *st)
{
	const char *old = m->recs, *nw = m->next;
	size_t i, j = 0;
	int err;

	for (i = 0; m->valid && i < m->n; i++) {
		const char *k = old + i * m->stride;
		int c = 1;

		while (j < m->n_next && (c = key_cmp(m, nw + j * m->stride, k)) < 0)
			j++;
		if (j < m->n_next && c == 0)
			continue;
		err = del(ctx, k);
		if (err) {
			shunt_mirror_invalidate(m);
			return err;
		}
		if (st)
			st->deleted++;
	}
	shunt_mirror_commit(m);
	return 0;
}

void shunt_mirror_commit(struct shunt_mirror *m)
{
	free(m->recs);
	m->recs = m->next;
	m->n = m->n_next;
	m->valid = true;
	m->next = NULL;
	m->n_next = 0;
}

bool shunt_mirror_staged_has(const struct shunt_mirror *m, const void *key)
{
	size_t lo = 0, hi = m->n_next;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(m, (const char *)m->next + mid * m->stride, key);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
