// SPDX-License-Identifier: Apache-2.0
/*
 * Compile a validated config into the read-only matcher (pure, no I/O):
 * workloads -> address index; policies -> per-destination path indexes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compiled.h"
#include "shunt/l4.h"

/* Reference counts are atomic: compiled policies that share parts may be
 * created and freed from different threads. */
static void ref_get(int *r)
{
	__atomic_add_fetch(r, 1, __ATOMIC_RELAXED);
}

/* true while references remain */
static bool ref_put(int *r)
{
	return __atomic_sub_fetch(r, 1, __ATOMIC_ACQ_REL) > 0;
}

/* ---------- small containers ---------- */

int clist_add(struct clist *l, uint32_t v)
{
	if (l->n && l->v[l->n - 1] == v)
		return 0;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 4;
		uint32_t *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return 0;
}

void clist_free(struct clist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* String -> int-list hash map (open addressing), used for selector and
 * principal indexes during compilation only. */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

struct smap_ent *smap_find(const struct smap *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	for (i = hash_str(key) & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
		if (!strcmp(m->v[i].key, key))
			return &m->v[i];
	return NULL;
}

int smap_add(struct smap *m, const char *key, uint32_t val)
{
	struct smap_ent *e;
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct smap_ent *nv = calloc(cap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (size_t k = 0; k < m->cap; k++) {
			if (!m->v[k].key)
				continue;
			for (i = hash_str(m->v[k].key) & (cap - 1); nv[i].key;
			     i = (i + 1) & (cap - 1))
				;
			nv[i] = m->v[k];
		}
		free(m->v);
		m->v = nv;
		m->cap = cap;
	}
	e = smap_find(m, key);
	if (!e) {
		for (i = hash_str(key) & (m->cap - 1); m->v[i].key; i = (i + 1) & (m->cap - 1))
			;
		e = &m->v[i];
		e->key = strdup(key);
		if (!e->key)
			return -ENOMEM;
		m->n++;
	}
	return clist_add(&e->l, val);
}

void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->v[i].key);
		clist_free(&m->v[i].l);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---------- deep copies (into one arena per compiled policy) ---------- */

struct ablock {
	struct ablock *next;
	size_t used, cap;
	char data[];
};

/* Zeroed bump allocation; a compiled policy's rules end up next to each
 * other in memory, which keeps a verdict's cache and TLB footprint small. */
static void *arena_alloc(struct ablock **head, size_t n)
{
	struct ablock *b = *head;
	void *r;

	n = (n + 7) & ~(size_t)7;
	if (!b || b->cap - b->used < n) {
		/* blocks double (2 KiB .. 1 MiB): small policies stay small,
		 * big ones end up in few blocks */
		size_t cap = b ? (b->cap < (1u << 20) ? b->cap * 2 : b->cap) : 2048;

		if (cap < n)
			cap = n;

		b = calloc(1, sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->next = *head;
		*head = b;
	}
	r = b->data + b->used;
	b->used += n;
	return r;
}

static void arena_free(struct ablock *b)
{
	while (b) {
		struct ablock *next = b->next;

		free(b);
		b = next;
	}
}

static char *arena_strdup(struct ablock **ar, const char *s, bool lower)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(ar, n);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	if (lower)
		for (char *p = d; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	return d;
}

static int strlist_copy(struct ablock **ar, struct shunt_strlist *d, const struct shunt_strlist *s,
			bool lower)
{
	d->n = 0;
	d->v = NULL;
	if (!s->n)
		return 0;
	d->v = arena_alloc(ar, s->n * sizeof(char *));
	if (!d->v)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		d->v[i] = arena_strdup(ar, s->v[i], lower);
		if (!d->v[i])
			return -ENOMEM;
		d->n++;
	}
	return 0;
}

static void *memdup_n(const void *p, size_t n, size_t sz)
{
	void *r;

	if (!n)
		return NULL;
	r = malloc(n * sz);
	if (r)
		memcpy(r, p, n * sz);
	return r;
}

static void *arena_dup(struct ablock **ar, const void *p, size_t n, size_t sz)
{
	void *r;

	if (!n)
		return NULL;
	r = arena_alloc(ar, n * sz);
	if (r)
		memcpy(r, p, n * sz);
	return r;
}

#define ADUP(field, src, type)                                             \
	do {                                                               \
		(field).v = arena_dup(ar, (src).v, (src).n, sizeof(type)); \
		(field).n = (field).v ? (src).n : 0;                       \
		err |= (src).n && !(field).v;                              \
	} while (0)

static int rule_copy(struct ablock **ar, struct shunt_rule *d, const struct shunt_rule *s,
		     bool icase)
{
	int err = 0;

	memset(d, 0, sizeof(*d));
	/* each array is followed by the data it points to, so that checking a
	 * rule touches few cache lines */
	d->from = arena_alloc(ar, (s->n_from + 1) * sizeof(*d->from));
	if (!d->from)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_from; i++, d->n_from++) {
		const struct shunt_source *a = &s->from[i];
		struct shunt_source *b = &d->from[i];

		err |= strlist_copy(ar, &b->principals, &a->principals, false);
		err |= strlist_copy(ar, &b->not_principals, &a->not_principals, false);
		err |= strlist_copy(ar, &b->namespaces, &a->namespaces, false);
		err |= strlist_copy(ar, &b->not_namespaces, &a->not_namespaces, false);
		ADUP(b->ip_blocks, a->ip_blocks, struct shunt_cidr);
		ADUP(b->not_ip_blocks, a->not_ip_blocks, struct shunt_cidr);
	}
	d->to = arena_alloc(ar, (s->n_to + 1) * sizeof(*d->to));
	if (!d->to)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_to; i++, d->n_to++) {
		const struct shunt_operation *a = &s->to[i];
		struct shunt_operation *b = &d->to[i];

		ADUP(b->ports, a->ports, uint16_t); /* checked first */
		ADUP(b->not_ports, a->not_ports, uint16_t);
		err |= strlist_copy(ar, &b->methods, &a->methods, false);
		err |= strlist_copy(ar, &b->not_methods, &a->not_methods, false);
		err |= strlist_copy(ar, &b->paths, &a->paths, icase);
		err |= strlist_copy(ar, &b->not_paths, &a->not_paths, icase);
		err |= strlist_copy(ar, &b->hosts, &a->hosts, true);
		err |= strlist_copy(ar, &b->not_hosts, &a->not_hosts, true);
	}
	d->when = arena_alloc(ar, (s->n_when + 1) * sizeof(*d->when));
	if (!d->when)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_when; i++, d->n_when++) {
		d->when[i].key = s->when[i].key;
		err |= strlist_copy(ar, &d->when[i].values, &s->when[i].values, false);
		err |= strlist_copy(ar, &d->when[i].not_values, &s->when[i].not_values, false);
	}
	return err ? -ENOMEM : 0;
}

static void cpol_put(struct cpol *p)
{
	if (!p || ref_put(&p->refcnt))
		return;
	arena_free(p->arena);
	free(p);
}

static struct cpol *cpol_new(const struct shunt_authz_policy *s, bool icase)
{
	struct cpol *p = calloc(1, sizeof(*p));
	struct ablock **ar;
	size_t n;

	if (!p)
		return NULL;
	ar = &p->arena;
	p->refcnt = 1;
	n = strlen(s->ns) + strlen(s->name) + 2;
	p->qname = arena_alloc(ar, n);
	p->ns = arena_strdup(ar, s->ns, false);
	if (!p->qname || !p->ns)
		goto fail;
	snprintf(p->qname, n, "%s/%s", s->ns, s->name);
	p->action = s->action;
	p->has_selector = s->has_selector;
	p->match_labels = arena_alloc(ar, (s->n_match_labels + 1) * sizeof(*p->match_labels));
	p->rules = arena_alloc(ar, (s->n_rules + 1) * sizeof(*p->rules));
	if (!p->match_labels || !p->rules)
		goto fail;
	for (size_t i = 0; i < s->n_match_labels; i++, p->n_match_labels++) {
		p->match_labels[i].key = arena_strdup(ar, s->match_labels[i].key, false);
		p->match_labels[i].value = arena_strdup(ar, s->match_labels[i].value, false);
		if (!p->match_labels[i].key || !p->match_labels[i].value)
			goto fail;
	}
	for (size_t i = 0; i < s->n_rules; i++) {
		p->n_rules++;
		if (rule_copy(ar, &p->rules[i], &s->rules[i], icase))
			goto fail;
	}
	return p;
fail:
	cpol_put(p);
	return NULL;
}

/* ---------- path trie ---------- */

struct tchild {
	char *seg;
	size_t len;
	uint32_t h; /* seg_hash(seg) */
	struct tnode *n;
};

struct tpart {
	char *s;
	size_t len;
	struct clist l;
};

struct tnode {
	struct tchild *kids; /* sorted by (len, bytes) */
	size_t n_kids;
	struct tnode *star; /* {*} */
	struct clist dstar; /* {**} */
	struct clist exact;
	struct tpart *parts; /* prefix patterns ending inside the next segment */
	size_t n_parts;
	struct tslot *tab; /* open-addressing index over kids, for wide nodes (in the arena) */
	uint32_t mask;
	const char *seg; /* this node's own segment, stored right after it (in the arena) */
	size_t seg_len;
};

/* A hash slot points straight at the child, whose segment sits next to it:
 * a lookup in a wide node touches the slot and the child, nothing else. */
struct tslot {
	uint32_t h; /* seg_hash(); slot empty when n == NULL */
	uint32_t len;
	struct tnode *n;
};

static uint32_t seg_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int seg_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return memcmp(a, b, al);
}

static struct tnode *tnode_kid(struct tnode *n, const char *s, size_t len, bool create)
{
	size_t lo = 0, hi = n->n_kids;
	struct tchild *nk;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = seg_cmp(n->kids[mid].seg, n->kids[mid].len, s, len);

		if (c == 0)
			return n->kids[mid].n;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	nk = realloc(n->kids, (n->n_kids + 1) * sizeof(*nk));
	if (!nk)
		return NULL;
	n->kids = nk;
	memmove(&nk[lo + 1], &nk[lo], (n->n_kids - lo) * sizeof(*nk));
	nk[lo].seg = strndup(s, len);
	nk[lo].len = len;
	nk[lo].h = seg_hash(s, len);
	nk[lo].n = calloc(1, sizeof(struct tnode));
	if (!nk[lo].seg || !nk[lo].n) {
		free(nk[lo].seg);
		free(nk[lo].n);
		memmove(&nk[lo], &nk[lo + 1], (n->n_kids - lo) * sizeof(*nk));
		return NULL;
	}
	n->n_kids++;
	return nk[lo].n;
}

static void tnode_free(struct tnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++) {
		free(n->kids[i].seg);
		tnode_free(n->kids[i].n);
	}
	free(n->kids);
	tnode_free(n->star);
	clist_free(&n->dstar);
	clist_free(&n->exact);
	for (size_t i = 0; i < n->n_parts; i++) {
		free(n->parts[i].s);
		clist_free(&n->parts[i].l);
	}
	free(n->parts);
	free(n);
}

/* Inserts clause ci under pattern pat. */
static int pindex_add_path(struct pindex *x, const char *pat, uint32_t ci)
{
	enum pathpat_kind k = pathpat_kind(pat);
	size_t plen = strlen(pat);
	struct tnode *n;
	const char *p, *end;

	if (!x->root && !(x->root = calloc(1, sizeof(*x->root))))
		return -ENOMEM;
	n = x->root;
	if (k == PP_SUFFIX) {
		size_t i;
		struct sfx_entry *ns;

		for (i = 0; i < x->n_sfx; i++)
			if (x->sfx[i].len == plen - 1 &&
			    !memcmp(x->sfx[i].suffix, pat + 1, plen - 1))
				return clist_add(&x->sfx[i].l, ci);
		ns = realloc(x->sfx, (x->n_sfx + 1) * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		x->sfx = ns;
		memset(&ns[x->n_sfx], 0, sizeof(*ns));
		ns[x->n_sfx].suffix = strdup(pat + 1);
		ns[x->n_sfx].len = plen - 1;
		if (!ns[x->n_sfx].suffix)
			return -ENOMEM;
		return clist_add(&ns[x->n_sfx++].l, ci);
	}
	if (k == PP_ANY) {
		pat = "/*";
		k = PP_PREFIX;
		plen = 2;
	}
	end = pat + plen - (k == PP_PREFIX ? 1 : 0);
	p = pat; /* at '/' */
	for (;;) {
		const char *s = p + 1, *e = memchr(s, '/', (size_t)(end - s));
		size_t len;

		if (!e) {
			e = end;
			if (k == PP_PREFIX) {
				struct tpart *np;

				len = (size_t)(e - s);
				for (size_t i = 0; i < n->n_parts; i++)
					if (n->parts[i].len == len &&
					    !memcmp(n->parts[i].s, s, len))
						return clist_add(&n->parts[i].l, ci);
				np = realloc(n->parts, (n->n_parts + 1) * sizeof(*np));
				if (!np)
					return -ENOMEM;
				n->parts = np;
				memset(&np[n->n_parts], 0, sizeof(*np));
				np[n->n_parts].s = strndup(s, len);
				np[n->n_parts].len = len;
				if (!np[n->n_parts].s)
					return -ENOMEM;
				return clist_add(&np[n->n_parts++].l, ci);
			}
		}
		len = (size_t)(e - s);
		if (k == PP_TEMPLATE && len == 4 && !memcmp(s, "{**}", 4))
			return clist_add(&n->dstar, ci);
		if (k == PP_TEMPLATE && len == 3 && !memcmp(s, "{*}", 3)) {
			if (!n->star && !(n->star = calloc(1, sizeof(*n->star))))
				return -ENOMEM;
			n = n->star;
		} else {
			n = tnode_kid(n, s, len, true);
			if (!n)
				return -ENOMEM;
		}
		if (e == end)
			return clist_add(&n->exact, ci);
		p = e;
	}
}

/* ---- compaction: after building, the trie is copied depth-first into
 * one block so that a lookup touches few pages (the verdict cost then
 * barely depends on how many rules the destination has). ---- */

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

static uint32_t tab_size(size_t n_kids)
{
	uint32_t size = 8;

	while (size < 2 * n_kids)
		size *= 2;
	return size;
}

static size_t tnode_size(const struct tnode *n)
{
	size_t sz;

	if (!n)
		return 0;
	sz = ALIGN8(sizeof(*n)) + ALIGN8(n->n_kids * sizeof(struct tchild)) +
	     ALIGN8(n->n_parts * sizeof(struct tpart)) + ALIGN8(n->exact.n * sizeof(uint32_t)) +
	     ALIGN8(n->dstar.n * sizeof(uint32_t));
	if (n->n_kids > 4)
		sz += ALIGN8(tab_size(n->n_kids) * sizeof(struct tslot));
	for (size_t i = 0; i < n->n_parts; i++)
		sz += ALIGN8(n->parts[i].len + 1) + ALIGN8(n->parts[i].l.n * sizeof(uint32_t));
	for (size_t i = 0; i < n->n_kids; i++)
		sz += ALIGN8(n->kids[i].len + 1) + tnode_size(n->kids[i].n);
	return sz + tnode_size(n->star);
}

static void *bump(char **at, size_t n)
{
	void *r = *at;

	*at += ALIGN8(n);
	return r;
}

static void clist_to(struct clist *d, const struct clist *s, char **at)
{
	d->sub = NULL;
	d->n = d->cap = s->n;
	d->v = s->n ? bump(at, s->n * sizeof(uint32_t)) : NULL;
	if (s->n)
		memcpy(d->v, s->v, s->n * sizeof(uint32_t));
}

static struct tnode *tnode_copy(const struct tnode *s, const char *seg, size_t seg_len, char **at)
{
	struct tnode *d;

	if (!s)
		return NULL;
	d = bump(at, sizeof(*d));
	*d = *s;
	d->tab = NULL;
	d->mask = 0;
	d->seg = NULL;
	d->seg_len = seg_len;
	if (seg) {
		char *t = bump(at, seg_len + 1);

		memcpy(t, seg, seg_len + 1);
		d->seg = t;
	}
	clist_to(&d->exact, &s->exact, at);
	clist_to(&d->dstar, &s->dstar, at);
	d->parts = s->n_parts ? bump(at, s->n_parts * sizeof(struct tpart)) : NULL;
	for (size_t i = 0; i < s->n_parts; i++) {
		d->parts[i].len = s->parts[i].len;
		d->parts[i].s = bump(at, s->parts[i].len + 1);
		memcpy(d->parts[i].s, s->parts[i].s, s->parts[i].len + 1);
		clist_to(&d->parts[i].l, &s->parts[i].l, at);
	}
	if (s->n_kids > 4) {
		d->mask = tab_size(s->n_kids) - 1;
		d->tab = bump(at, ((size_t)d->mask + 1) * sizeof(struct tslot));
		memset(d->tab, 0, ((size_t)d->mask + 1) * sizeof(struct tslot));
	}
	d->kids = s->n_kids ? bump(at, s->n_kids * sizeof(struct tchild)) : NULL;
	/* each child is followed by its own segment text */
	for (size_t i = 0; i < s->n_kids; i++) {
		d->kids[i] = s->kids[i];
		d->kids[i].n = tnode_copy(s->kids[i].n, s->kids[i].seg, s->kids[i].len, at);
		d->kids[i].seg = (char *)d->kids[i].n->seg;
		if (d->tab) {
			uint32_t j = d->kids[i].h & d->mask;

			while (d->tab[j].n)
				j = (j + 1) & d->mask;
			d->tab[j] = (struct tslot){d->kids[i].h, (uint32_t)d->kids[i].len,
						   d->kids[i].n};
		}
	}
	d->star = tnode_copy(s->star, NULL, 0, at);
	return d;
}

static int pindex_compact(struct pindex *x)
{
	size_t sz = tnode_size(x->root);
	char *arena, *at;

	if (!x->root)
		return 0;
	arena = malloc(sz);
	if (!arena)
		return -ENOMEM;
	at = arena;
	{
		struct tnode *root = tnode_copy(x->root, NULL, 0, &at);

		tnode_free(x->root);
		x->root = root;
		x->arena = arena;
	}
	return 0;
}

static const struct tnode *tnode_find(const struct tnode *n, const char *s, size_t len)
{
	if (n->tab) {
		uint32_t h = seg_hash(s, len);

		for (uint32_t j = h & n->mask; n->tab[j].n; j = (j + 1) & n->mask) {
			const struct tslot *t = &n->tab[j];

			if (t->h == h && t->len == len && !memcmp(t->n->seg, s, len))
				return t->n;
		}
		return NULL;
	}
	for (size_t i = 0; i < n->n_kids; i++)
		if (n->kids[i].len == len && !memcmp(n->kids[i].seg, s, len))
			return n->kids[i].n;
	return NULL;
}

static int sfx_cmp(const void *a, const void *b)
{
	const struct sfx_entry *x = a, *y = b;

	return seg_cmp(x->suffix, x->len, y->suffix, y->len);
}

uint64_t principal_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

const struct csub_ent *csub_find(const struct csub *c, uint64_t h)
{
	for (uint32_t j = (uint32_t)h & c->mask; c->tab[j].h; j = (j + 1) & c->mask)
		if (c->tab[j].h == h)
			return &c->tab[j];
	return NULL;
}

static void csub_free(struct csub *c)
{
	if (!c)
		return;
	clist_free(&c->general);
	for (uint32_t j = 0; c->tab && j <= c->mask; j++)
		clist_free(&c->tab[j].l);
	free(c->tab);
	free(c);
}

/* Only sources whose principal is in an exact list can match this rule. */
static bool principal_restricted(const struct shunt_rule *r)
{
	if (!r->n_from)
		return false;
	for (size_t i = 0; i < r->n_from; i++) {
		const struct shunt_strlist *l = &r->from[i].principals;

		if (!l->n)
			return false;
		for (size_t k = 0; k < l->n; k++)
			if (strchr(l->v[k], '*'))
				return false;
	}
	return true;
}

static int csub_build(const struct dindex *x, struct pindex *pi, struct clist *l)
{
	struct csub *c;
	struct csub **ns;
	size_t slots = 0;
	uint32_t size = 8;

	if (l->n < CSUB_MIN)
		return 0;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct shunt_rule *r = x->cl[l->v[i]].rule;

		for (size_t k = 0; principal_restricted(r) && k < r->n_from; k++)
			slots += r->from[k].principals.n;
	}
	while (size < 2 * slots)
		size *= 2;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->tab = calloc(size, sizeof(*c->tab));
	ns = realloc(pi->subs, (pi->n_subs + 1) * sizeof(*ns));
	if (!c->tab || !ns) {
		csub_free(c);
		return -ENOMEM;
	}
	pi->subs = ns;
	ns[pi->n_subs++] = c;
	c->mask = size - 1;
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t ci = l->v[i];
		const struct shunt_rule *r = x->cl[ci].rule;

		if (!principal_restricted(r)) {
			if (clist_add(&c->general, ci))
				return -ENOMEM;
			continue;
		}
		for (size_t k = 0; k < r->n_from; k++) {
			for (size_t m = 0; m < r->from[k].principals.n; m++) {
				uint64_t h = principal_hash(r->from[k].principals.v[m]);
				uint32_t j = (uint32_t)h & c->mask;

				while (c->tab[j].h && c->tab[j].h != h)
					j = (j + 1) & c->mask;
				c->tab[j].h = h;
				if (clist_add(&c->tab[j].l, ci))
					return -ENOMEM;
			}
		}
	}
	l->sub = c;
	return 0;
}

static int csub_walk(const struct dindex *x, struct pindex *pi, struct tnode *n)
{
	int err;

	if (!n)
		return 0;
	if ((err = csub_build(x, pi, &n->exact)) || (err = csub_build(x, pi, &n->dstar)))
		return err;
	for (size_t i = 0; i < n->n_parts; i++)
		if ((err = csub_build(x, pi, &n->parts[i].l)))
			return err;
	for (size_t i = 0; i < n->n_kids; i++)
		if ((err = csub_walk(x, pi, n->kids[i].n)))
			return err;
	return csub_walk(x, pi, n->star);
}

static int pindex_subs(const struct dindex *x, struct pindex *pi)
{
	int err = csub_walk(x, pi, pi->root);

	if (!err)
		err = csub_build(x, pi, &pi->nopath);
	for (size_t i = 0; !err && i < pi->n_sfx; i++)
		err = csub_build(x, pi, &pi->sfx[i].l);
	return err;
}

static void pindex_free(struct pindex *x)
{
	for (size_t i = 0; i < x->n_subs; i++)
		csub_free(x->subs[i]);
	free(x->subs);
	if (x->arena)
		free(x->arena);
	else
		tnode_free(x->root);
	clist_free(&x->nopath);
	for (size_t i = 0; i < x->n_sfx; i++) {
		free(x->sfx[i].suffix);
		clist_free(&x->sfx[i].l);
	}
	free(x->sfx);
	memset(x, 0, sizeof(*x));
}

/* Visitor over all clause lists whose path pattern matches path. */

static bool tvisit(const struct tnode *n, const char *p, const char *end, clist_fn fn, void *ctx)
{
	const char *s, *e;
	size_t len;
	const struct tnode *k;

	if (p == end)
		return n->exact.n && fn(ctx, &n->exact);
	s = p + 1;
	e = memchr(s, '/', (size_t)(end - s));
	if (!e)
		e = end;
	len = (size_t)(e - s);
	for (size_t i = 0; i < n->n_parts; i++)
		if (n->parts[i].len <= len && !memcmp(n->parts[i].s, s, n->parts[i].len) &&
		    fn(ctx, &n->parts[i].l))
			return true;
	if (len > 0 && n->dstar.n && fn(ctx, &n->dstar))
		return true;
	if (len > 0 && n->star && tvisit(n->star, e, end, fn, ctx))
		return true;
	k = tnode_find(n, s, len);
	return k && tvisit(k, e, end, fn, ctx);
}

bool pindex_visit(const struct pindex *x, const char *path, size_t plen, clist_fn fn, void *ctx)
{
	if (x->nopath.n && fn(ctx, &x->nopath))
		return true;
	if (plen == 0 || path[0] != '/')
		return false;
	if (x->root && tvisit(x->root, path, path + plen, fn, ctx))
		return true;
	/* suffixes sorted by (len, bytes): binary search per distinct length */
	for (size_t i = 0; i < x->n_sfx;) {
		size_t L = x->sfx[i].len, j = i, lo, hi;

		while (j < x->n_sfx && x->sfx[j].len == L)
			j++;
		if (L <= plen) {
			lo = i;
			hi = j;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				int c = memcmp(x->sfx[mid].suffix, path + plen - L, L);

				if (c == 0) {
					if (fn(ctx, &x->sfx[mid].l))
						return true;
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
		i = j;
	}
	return false;
}

/* ---------- destination index ---------- */

static const char *const known_methods[] = {"GET",     "HEAD",	  "POST",  "PUT",   "DELETE",
					    "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};

uint32_t method_bit(const char *m, size_t len)
{
	for (size_t i = 0; known_methods[i]; i++)
		if (strlen(known_methods[i]) == len && !memcmp(known_methods[i], m, len))
			return 1u << i;
	return METHOD_OTHER;
}

static uint32_t method_mask(const struct shunt_strlist *l)
{
	uint32_t m = 0;

	for (size_t i = 0; i < l->n; i++)
		m |= method_bit(l->v[i], strlen(l->v[i]));
	return m;
}

static void dindex_put(struct dindex *x)
{
	if (!x || ref_put(&x->refcnt))
		return;
	for (int a = 0; a < 3; a++)
		pindex_free(&x->act[a]);
	for (size_t i = 0; i < x->n_pols; i++)
		cpol_put(x->cp[i]);
	free(x->cp);
	free(x->pols);
	free(x->cl);
	free(x);
}

/* Builds the matcher over the given (sorted) policy indices. Takes a copy of pols. */
static struct dindex *dindex_build(struct cpol **all, const uint32_t *pols, size_t n)
{
	struct dindex *x = calloc(1, sizeof(*x));
	size_t ncl = 0;

	if (!x)
		return NULL;
	x->refcnt = 1;
	x->pols = memdup_n(pols, n, sizeof(*pols));
	x->cp = calloc(n + 1, sizeof(*x->cp));
	if ((n && !x->pols) || !x->cp)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct cpol *p = all[pols[i]];

		x->cp[x->n_pols++] = p;
		ref_get(&p->refcnt);
		for (size_t r = 0; r < p->n_rules; r++)
			ncl += p->rules[r].n_to ? p->rules[r].n_to : 1;
		if (p->action == SHUNT_ACTION_ALLOW)
			x->has_allow = true;
	}
	x->cl = calloc(ncl + 1, sizeof(*x->cl));
	if (!x->cl)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct cpol *p = x->cp[i];

		for (size_t r = 0; r < p->n_rules; r++) {
			const struct shunt_rule *rule = &p->rules[r];
			size_t nops = rule->n_to ? rule->n_to : 1;

			for (size_t o = 0; o < nops; o++) {
				struct clause *c = &x->cl[x->n_cl];
				uint32_t ci = (uint32_t)x->n_cl++;
				struct pindex *pi = &x->act[p->action];
				int err = 0;

				c->pol = p;
				c->rcopy = *rule;
				c->rule = &c->rcopy;
				c->op = rule->n_to ? &rule->to[o] : NULL;
				if (c->op) {
					c->methods = method_mask(&c->op->methods);
					c->not_methods = method_mask(&c->op->not_methods);
					c->has_http = c->op->methods.n || c->op->not_methods.n ||
						      c->op->paths.n || c->op->not_paths.n ||
						      c->op->hosts.n || c->op->not_hosts.n;
				}
				pi->n_clauses++;
				if (!c->op || !c->op->paths.n)
					err = clist_add(&pi->nopath, ci);
				for (size_t k = 0; c->op && k < c->op->paths.n && !err; k++)
					err = pindex_add_path(pi, c->op->paths.v[k], ci);
				if (err)
					goto fail;
			}
		}
	}
	for (int a = 0; a < 3; a++) {
		if (x->act[a].n_sfx)
			qsort(x->act[a].sfx, x->act[a].n_sfx, sizeof(struct sfx_entry), sfx_cmp);
		if (pindex_compact(&x->act[a]) || pindex_subs(x, &x->act[a]))
			goto fail;
	}
	return x;
fail:
	dindex_put(x);
	return NULL;
}

/* ---------- workloads, selection ---------- */

/* Policies in a root namespace apply to every namespace. */
static bool is_root_ns(const struct shunt_policy *p, const char *ns)
{
	if (!strcmp(ns, p->root_ns))
		return true;
	for (size_t i = 0; i < p->n_extra_roots; i++)
		if (!strcmp(ns, p->extra_roots[i]))
			return true;
	return false;
}

static bool selects(const struct shunt_policy *pp, const struct cpol *p, const struct cworkload *w)
{
	if (strcmp(p->ns, w->ns) && !is_root_ns(pp, p->ns))
		return false;
	return labels_include(w->labels, w->n_labels, p->match_labels, p->n_match_labels);
}

static int addr_cmp(const void *a, const void *b)
{
	const struct addr_entry *x = a, *y = b;

	if (x->c.family != y->c.family)
		return x->c.family < y->c.family ? -1 : 1;
	return memcmp(x->c.addr, y->c.addr, 16);
}

static int net_cmp(const void *a, const void *b)
{
	const struct addr_entry *x = a, *y = b;

	return (int)y->c.prefix - (int)x->c.prefix;
}

/* Fingerprint mixing, 8 bytes at a time (used on every incremental update). */
static uint64_t fp_mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, b, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		b += 8;
		n -= 8;
	}
	while (n--) {
		h ^= *b++;
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t fp_str(uint64_t h, const char *s)
{
	return fp_mix(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

static uint64_t config_fingerprint(const struct shunt_config *c)
{
	uint64_t h = 1469598103934665603ull;

	h = fp_str(h, c->options.root_namespace);
	for (size_t i = 0; i < c->options.extra_root_namespaces.n; i++)
		h = fp_str(h, c->options.extra_root_namespaces.v[i]);
	h = fp_str(h, c->options.trust_domain);
	h = fp_mix(h, &c->options.case_insensitive_paths, sizeof(bool));
	h = fp_mix(h, &c->options.decode_escaped_slashes, sizeof(bool));
	for (size_t i = 0; i < c->n_workloads; i++) {
		const struct shunt_workload *w = &c->workloads[i];

		h = fp_str(h, w->name);
		h = fp_str(h, w->ns);
		h = fp_str(h, w->principal);
		for (size_t k = 0; k < w->n_labels; k++) {
			h = fp_str(h, w->labels[k].key);
			h = fp_str(h, w->labels[k].value);
		}
		h = fp_mix(h, w->addresses, w->n_addresses * sizeof(*w->addresses));
	}
	return h;
}

static void wshared_put(struct wshared *ws)
{
	if (!ws || ref_put(&ws->refcnt))
		return;
	for (size_t i = 0; i < ws->n_w; i++) {
		struct cworkload *w = &ws->w[i];

		free(w->qname);
		free(w->ns);
		free(w->principal);
		for (size_t k = 0; k < w->n_labels; k++) {
			free(w->labels[k].key);
			free(w->labels[k].value);
		}
		free(w->labels);
		free(w->addrs);
	}
	free(ws->w);
	free(ws->hosts);
	free(ws->nets);
	smap_free(&ws->by_label);
	smap_free(&ws->by_ns);
	free(ws);
}

void shunt_policy_free(struct shunt_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->dst && i < p->n_w; i++)
		dindex_put(p->dst[i]);
	free(p->dst);
	if (p->ws) {
		wshared_put(p->ws);
	} else {
		/* not yet handed over (allocation failure while copying) */
		struct wshared tmp = {
			.refcnt = 1, .w = p->w, .n_w = p->n_w, .hosts = p->hosts, .nets = p->nets};
		struct wshared *t = malloc(sizeof(*t));

		if (t) {
			*t = tmp;
			wshared_put(t);
		}
	}
	for (size_t i = 0; i < p->n_pols; i++)
		cpol_put(p->pols[i]);
	free(p->pols);
	for (size_t i = 0; p->svcs && i < p->n_svcs; i++) {
		free(p->svcs[i].backends);
		free(p->svcs[i].ports);
	}
	free(p->svcs);
	free(p->svc_hosts);
	free(p->root_ns);
	for (size_t i = 0; i < p->n_extra_roots; i++)
		free(p->extra_roots[i]);
	free(p->extra_roots);
	free(p);
}

static int copy_workloads(struct shunt_policy *p, const struct shunt_config *c)
{
	size_t nh = 0, nn = 0;

	p->w = calloc(c->n_workloads + 1, sizeof(*p->w));
	if (!p->w)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_workloads; i++) {
		const struct shunt_workload *s = &c->workloads[i];
		struct cworkload *w = &p->w[i];
		size_t n = strlen(s->ns) + strlen(s->name) + 2;

		p->n_w++;
		w->qname = malloc(n);
		w->ns = strdup(s->ns);
		w->principal = strdup(s->principal ? s->principal : "");
		w->phash = principal_hash(w->principal ? w->principal : "");
		w->labels = calloc(s->n_labels + 1, sizeof(*w->labels));
		if (!w->qname || !w->ns || !w->principal || !w->labels)
			return -ENOMEM;
		snprintf(w->qname, n, "%s/%s", s->ns, s->name);
		for (size_t k = 0; k < s->n_labels; k++, w->n_labels++) {
			w->labels[k].key = strdup(s->labels[k].key);
			w->labels[k].value = strdup(s->labels[k].value);
			if (!w->labels[k].key || !w->labels[k].value) {
				w->n_labels++;
				return -ENOMEM;
			}
		}
		w->addrs = memdup_n(s->addresses, s->n_addresses, sizeof(*s->addresses));
		w->n_addrs = w->addrs ? s->n_addresses : 0;
		for (size_t k = 0; k < w->n_addrs; k++) {
			bool host =
				w->addrs[k].prefix == (w->addrs[k].family == AF_INET ? 32 : 128);

			nh += host;
			nn += !host;
		}
	}
	p->hosts = calloc(nh + 1, sizeof(*p->hosts));
	p->nets = calloc(nn + 1, sizeof(*p->nets));
	if (!p->hosts || !p->nets)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_w; i++) {
		for (size_t k = 0; k < p->w[i].n_addrs; k++) {
			const struct shunt_cidr *a = &p->w[i].addrs[k];
			bool host = a->prefix == (a->family == AF_INET ? 32 : 128);
			struct addr_entry *e =
				host ? &p->hosts[p->n_hosts++] : &p->nets[p->n_nets++];

			e->c = *a;
			e->idx = (int)i;
		}
	}
	qsort(p->hosts, p->n_hosts, sizeof(*p->hosts), addr_cmp);
	qsort(p->nets, p->n_nets, sizeof(*p->nets), net_cmp);
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Per-workload policy lists -> dindexes, sharing identical lists. */
static int build_dst(struct shunt_policy *p, struct clist *sel, const bool *only)
{
	struct smap seen = {0};
	struct dindex **made = NULL;
	size_t n_made = 0;
	int err = 0;

	made = calloc(p->n_w + 1, sizeof(*made));
	if (!made)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_w; i++) {
		char key[64];
		uint64_t h = 1469598103934665603ull;
		struct smap_ent *e;

		if (only && !only[i])
			continue;
		if (!sel[i].n) {
			p->dst[i] = NULL;
			continue;
		}
		qsort(sel[i].v, sel[i].n, sizeof(uint32_t), u32_cmp);
		h = fp_mix(h, sel[i].v, sel[i].n * sizeof(uint32_t));
		snprintf(key, sizeof(key), "%016llx:%u", (unsigned long long)h, sel[i].n);
		e = smap_find(&seen, key);
		if (e && made[e->l.v[0]]->n_pols == sel[i].n &&
		    !memcmp(made[e->l.v[0]]->pols, sel[i].v, sel[i].n * sizeof(uint32_t))) {
			p->dst[i] = made[e->l.v[0]];
			ref_get(&p->dst[i]->refcnt);
			continue;
		}
		p->dst[i] = dindex_build(p->pols, sel[i].v, sel[i].n);
		if (!p->dst[i]) {
			err = -ENOMEM;
			break;
		}
		made[n_made] = p->dst[i];
		if (!e && (err = smap_add(&seen, key, (uint32_t)n_made)))
			break;
		n_made++;
	}
	smap_free(&seen);
	free(made);
	return err;
}

/* Appends to sel[w] the index pi of every workload that policy pi selects. */
static int select_workloads(struct shunt_policy *p, struct smap *by_label, struct smap *by_ns,
			    uint32_t pi, struct clist *sel, bool *touched)
{
	const struct cpol *cp = p->pols[pi];
	const struct clist *cand = NULL;
	char key[1024];
	bool all = is_root_ns(p, cp->ns);
	struct smap_ent *e;

	if (cp->n_match_labels) {
		snprintf(key, sizeof(key), "%s=%s", cp->match_labels[0].key,
			 cp->match_labels[0].value);
		e = smap_find(by_label, key);
		if (!e)
			return 0;
		cand = &e->l;
	} else if (!all) {
		e = smap_find(by_ns, cp->ns);
		if (!e)
			return 0;
		cand = &e->l;
	}
	for (size_t k = 0; cand ? k < cand->n : k < p->n_w; k++) {
		uint32_t w = cand ? cand->v[k] : (uint32_t)k;
		int err;

		if (!selects(p, cp, &p->w[w]))
			continue;
		if ((err = clist_add(&sel[w], pi)))
			return err;
		if (touched)
			touched[w] = true;
	}
	return 0;
}

static int build_indexes(struct shunt_policy *p, struct smap *by_label, struct smap *by_ns)
{
	char key[1024];
	int err;

	for (size_t i = 0; i < p->n_w; i++) {
		if ((err = smap_add(by_ns, p->w[i].ns, (uint32_t)i)))
			return err;
		for (size_t k = 0; k < p->w[i].n_labels; k++) {
			snprintf(key, sizeof(key), "%s=%s", p->w[i].labels[k].key,
				 p->w[i].labels[k].value);
			if ((err = smap_add(by_label, key, (uint32_t)i)))
				return err;
		}
	}
	return 0;
}

/* Services: backends (same namespace, selector matches) and clusterIPs. */
static int build_services(struct shunt_policy *p, const struct shunt_config *c)
{
	size_t nh = 0;

	if (!c->n_services)
		return 0;
	p->svcs = calloc(c->n_services, sizeof(*p->svcs));
	for (size_t j = 0; j < c->n_services; j++)
		nh += c->services[j].cluster_ips.n;
	p->svc_hosts = calloc(nh + 1, sizeof(*p->svc_hosts));
	if (!p->svcs || !p->svc_hosts)
		return -ENOMEM;
	p->n_svcs = c->n_services;
	for (size_t j = 0; j < c->n_services; j++) {
		const struct shunt_service *s = &c->services[j];
		struct csvc *x = &p->svcs[j];

		x->backends = calloc(c->n_workloads + 1, sizeof(*x->backends));
		x->ports = calloc(s->n_ports + 1, sizeof(*x->ports));
		if (!x->backends || !x->ports)
			return -ENOMEM;
		for (size_t i = 0; i < c->n_workloads; i++)
			if (shunt_service_selects(s, &c->workloads[i]))
				x->backends[x->n_backends++] = (int)i;
		if (s->n_ports)
			memcpy(x->ports, s->ports, s->n_ports * sizeof(*x->ports));
		x->n_ports = s->n_ports;
		for (size_t k = 0; k < s->cluster_ips.n; k++) {
			p->svc_hosts[p->n_svc_hosts].c = s->cluster_ips.v[k];
			p->svc_hosts[p->n_svc_hosts++].idx = (int)j;
		}
	}
	qsort(p->svc_hosts, p->n_svc_hosts, sizeof(*p->svc_hosts), addr_cmp);
	return 0;
}

/* After the destinations are built: which services have a selected backend. */
static void mark_services(struct shunt_policy *p)
{
	for (size_t j = 0; j < p->n_svcs; j++)
		for (size_t b = 0; b < p->svcs[j].n_backends; b++)
			if (p->dst[p->svcs[j].backends[b]])
				p->svcs[j].selected = true;
}

/* A policy object with its workload tables: copied from c, or shared with
 * `share` (whose workloads the caller checked to be the same). */
static struct shunt_policy *policy_alloc(const struct shunt_config *c,
					 const struct shunt_policy *share, uint64_t fingerprint)
{
	struct shunt_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->norm.decode_escaped_slashes = c->options.decode_escaped_slashes;
	p->norm.case_insensitive = c->options.case_insensitive_paths;
	p->icase = c->options.case_insensitive_paths;
	p->root_ns = strdup(c->options.root_namespace ? c->options.root_namespace : "shunt-system");
	if (c->options.extra_root_namespaces.n) {
		p->extra_roots = calloc(c->options.extra_root_namespaces.n, sizeof(char *));
		if (!p->extra_roots)
			goto fail;
		for (size_t i = 0; i < c->options.extra_root_namespaces.n; i++) {
			p->extra_roots[i] = strdup(c->options.extra_root_namespaces.v[i]);
			if (!p->extra_roots[i])
				goto fail;
			p->n_extra_roots++;
		}
	}
	p->fingerprint = fingerprint;
	p->dst = calloc(c->n_workloads + 1, sizeof(*p->dst));
	if (!p->root_ns || !p->dst)
		goto fail;
	if (share) {
		p->ws = share->ws;
		ref_get(&p->ws->refcnt);
	} else {
		if (copy_workloads(p, c))
			goto fail;
		p->ws = calloc(1, sizeof(*p->ws));
		if (!p->ws)
			goto fail;
		p->ws->refcnt = 1;
		p->ws->w = p->w;
		p->ws->n_w = p->n_w;
		p->ws->hosts = p->hosts;
		p->ws->nets = p->nets;
		if (build_indexes(p, &p->ws->by_label, &p->ws->by_ns))
			goto fail;
	}
	p->w = p->ws->w;
	p->n_w = p->ws->n_w;
	p->hosts = p->ws->hosts;
	p->nets = p->ws->nets;
	p->n_hosts = share ? share->n_hosts : p->n_hosts;
	p->n_nets = share ? share->n_nets : p->n_nets;
	if (build_services(p, c))
		goto fail;
	return p;
fail:
	shunt_policy_free(p);
	return NULL;
}

int shunt_policy_compile(const struct shunt_config *c, struct shunt_policy **out,
			 struct shunt_diags *d)
{
	struct clist *sel = NULL;
	struct shunt_policy *p;
	int err = 0;

	(void)d;
	*out = NULL;
	p = policy_alloc(c, NULL, config_fingerprint(c));
	if (!p)
		return -ENOMEM;
	p->pols = calloc(c->n_policies + 1, sizeof(*p->pols));
	sel = calloc(p->n_w + 1, sizeof(*sel));
	if (!p->pols || !sel) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < c->n_policies; i++) {
		p->pols[i] = cpol_new(&c->policies[i], p->icase);
		if (!p->pols[i]) {
			err = -ENOMEM;
			goto cleanup;
		}
		p->n_pols++;
	}
	for (size_t i = 0; i < p->n_pols; i++)
		if ((err = select_workloads(p, &p->ws->by_label, &p->ws->by_ns, (uint32_t)i, sel,
					    NULL)))
			goto cleanup;
	err = build_dst(p, sel, NULL);
	if (!err)
		mark_services(p);
cleanup:
	for (size_t i = 0; sel && i < p->n_w; i++)
		clist_free(&sel[i]);
	free(sel);
	if (err) {
		shunt_policy_free(p);
		return err;
	}
	*out = p;
	return 0;
}

/* cpol pointer -> index in a policy array (open addressing). */
struct pidx_map {
	const struct cpol **k;
	uint32_t *v;
	uint32_t mask;
};

static uint32_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static int pidx_map_build(struct pidx_map *m, struct cpol *const *pols, size_t n)
{
	uint32_t size = 16;

	while (size < 2 * n)
		size *= 2;
	m->k = calloc(size, sizeof(*m->k));
	m->v = calloc(size, sizeof(*m->v));
	m->mask = size - 1;
	if (!m->k || !m->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t j = ptr_hash(pols[i]) & m->mask;

		while (m->k[j])
			j = (j + 1) & m->mask;
		m->k[j] = pols[i];
		m->v[j] = (uint32_t)i;
	}
	return 0;
}

static bool pidx_map_get(const struct pidx_map *m, const struct cpol *p, uint32_t *out)
{
	for (uint32_t j = ptr_hash(p) & m->mask; m->k[j]; j = (j + 1) & m->mask) {
		if (m->k[j] == p) {
			*out = m->v[j];
			return true;
		}
	}
	return false;
}

static bool same_name(const struct cpol *p, const struct shunt_authz_policy *a)
{
	size_t nl = strlen(a->ns);

	return !strncmp(p->qname, a->ns, nl) && p->qname[nl] == '/' &&
	       !strcmp(p->qname + nl + 1, a->name);
}

int shunt_policy_update(const struct shunt_policy *old, const struct shunt_config *c,
			size_t policy_idx, struct shunt_policy **out, struct shunt_diags *d)
{
	struct clist *sel = NULL;
	bool *touched = NULL;
	struct shunt_policy *p = NULL;
	struct pidx_map map = {0};
	const struct cpol *gone = NULL; /* the old version of the changed policy */
	bool removed, appended;
	uint32_t ni;
	int err = 0;

	*out = NULL;
	removed = old && c->n_policies + 1 == old->n_pols && policy_idx < old->n_pols;
	appended = old && c->n_policies == old->n_pols + 1 && policy_idx == old->n_pols;
	if (!old || config_fingerprint(c) != old->fingerprint || c->n_workloads != old->n_w ||
	    !(removed || appended ||
	      (c->n_policies == old->n_pols && policy_idx < c->n_policies))) {
		shunt_diags_add(d, c->source, 0, 0, "$",
				"incremental update needs unchanged workloads/options and one "
				"replaced, appended or removed policy");
		return -EINVAL;
	}
	/* every other policy must still be where the caller says it is */
	for (size_t i = 0, j = 0; i < old->n_pols; i++) {
		if (i == policy_idx) {
			if (!removed)
				j++;
			continue;
		}
		if (j >= c->n_policies || !same_name(old->pols[i], &c->policies[j])) {
			shunt_diags_add(d, c->source, 0, 0, "$",
					"incremental update: policy %zu is not '%s' any more", j,
					old->pols[i]->qname);
			return -EINVAL;
		}
		j++;
	}
	if (policy_idx < old->n_pols)
		gone = old->pols[policy_idx];
	p = policy_alloc(c, old, old->fingerprint);
	if (!p)
		return -ENOMEM;
	p->pols = calloc(c->n_policies + 1, sizeof(*p->pols));
	sel = calloc(p->n_w + 1, sizeof(*sel));
	touched = calloc(p->n_w + 1, sizeof(*touched));
	if (!p->pols || !sel || !touched) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0, j = 0; i < c->n_policies; i++, p->n_pols++) {
		if (!removed && i == policy_idx) {
			p->pols[i] = cpol_new(&c->policies[i], p->icase);
			if (!p->pols[i]) {
				err = -ENOMEM;
				goto cleanup;
			}
			j++;
			continue;
		}
		if (j == policy_idx && (removed || !appended))
			j++; /* skip the old version */
		p->pols[i] = old->pols[j++];
		ref_get(&p->pols[i]->refcnt);
	}
	if ((err = pidx_map_build(&map, p->pols, p->n_pols)))
		goto cleanup;
	/* workloads the old version selected (identified by pointer: index
	 * numbering differs between versions) */
	for (size_t w = 0; gone && w < p->n_w; w++) {
		const struct dindex *x = old->dst[w];

		for (size_t k = 0; x && k < x->n_pols; k++)
			if (x->cp[k] == gone)
				touched[w] = true;
	}
	/* the new version: mark and record */
	if (!removed && (err = select_workloads(p, &p->ws->by_label, &p->ws->by_ns,
						(uint32_t)policy_idx, sel, touched)))
		goto cleanup;
	for (size_t w = 0; w < p->n_w; w++) {
		const struct dindex *x = old->dst[w];

		if (!touched[w]) {
			p->dst[w] = old->dst[w];
			if (p->dst[w])
				ref_get(&p->dst[w]->refcnt);
			continue;
		}
		for (size_t k = 0; x && k < x->n_pols; k++) {
			if (x->cp[k] == gone)
				continue;
			if (!pidx_map_get(&map, x->cp[k], &ni)) {
				err = -EINVAL; /* cannot happen: every kept policy is in p->pols */
				goto cleanup;
			}
			if ((err = clist_add(&sel[w], ni)))
				goto cleanup;
		}
	}
	err = build_dst(p, sel, touched);
	if (!err)
		mark_services(p);
cleanup:
	free(map.k);
	free(map.v);
	for (size_t i = 0; sel && i < p->n_w; i++)
		clist_free(&sel[i]);
	free(sel);
	free(touched);
	if (err) {
		shunt_policy_free(p);
		return err;
	}
	*out = p;
	return 0;
}

/* ---------- lookups ---------- */

int shunt_policy_workload_by_addr(const struct shunt_policy *p, const struct sockaddr *sa)
{
	struct addr_entry key = {0};
	const struct addr_entry *e;

	if (sockaddr_key(sa, &key.c.family, key.c.addr))
		return -ENOENT;
	/* a service's clusterIP: n_w + its index (shunt_policy_l7_verdict
	 * judges it by the service's backends) */
	e = p->n_svc_hosts
		    ? bsearch(&key, p->svc_hosts, p->n_svc_hosts, sizeof(*p->svc_hosts), addr_cmp)
		    : NULL;
	if (e)
		return (int)p->n_w + e->idx;
	e = bsearch(&key, p->hosts, p->n_hosts, sizeof(*p->hosts), addr_cmp);
	if (e)
		return e->idx;
	for (size_t i = 0; i < p->n_nets; i++)
		if (cidr_contains(&p->nets[i].c, key.c.family, key.c.addr))
			return p->nets[i].idx;
	return -ENOENT;
}

int shunt_policy_workload_count(const struct shunt_policy *p)
{
	return (int)p->n_w;
}

const char *shunt_policy_workload_name(const struct shunt_policy *p, int idx)
{
	return idx >= 0 && (size_t)idx < p->n_w ? p->w[idx].qname : NULL;
}

const char *shunt_policy_workload_principal(const struct shunt_policy *p, int idx)
{
	return idx >= 0 && (size_t)idx < p->n_w ? p->w[idx].principal : NULL;
}

const struct shunt_norm_opts *shunt_policy_norm_opts(const struct shunt_policy *p)
{
	return &p->norm;
}
