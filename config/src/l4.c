// SPDX-License-Identifier: Apache-2.0
/*
 * L3/L4 entries: per destination, the verdict for each (source identity,
 * port) computed from the L4 parts of its rules with three-valued logic
 * (an ipBlock that only some of a source's addresses fall in is "maybe",
 * which needs the proxy, or in no-proxy mode is resolved towards deny).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compiled.h"
#include "shunt/l4.h"

enum tri { T_NO = 0, T_YES = 1, T_MAYBE = 2 };

static enum tri t_and(enum tri a, enum tri b)
{
	if (a == T_NO || b == T_NO)
		return T_NO;
	return a == T_YES && b == T_YES ? T_YES : T_MAYBE;
}

static enum tri t_or(enum tri a, enum tri b)
{
	if (a == T_YES || b == T_YES)
		return T_YES;
	return a == T_MAYBE || b == T_MAYBE ? T_MAYBE : T_NO;
}

static enum tri t_not(enum tri a)
{
	return a == T_MAYBE ? T_MAYBE : (a == T_YES ? T_NO : T_YES);
}

/* A source class: one workload (its principal, namespace, addresses), the
 * world (nothing known), or "any other workload" (principal/namespace that
 * no pattern except "*" matches, address unknown). */
struct l4src {
	const char *principal, *ns;
	const struct shunt_cidr *addrs; /* NULL: address unknown */
	size_t n_addrs;
};

static bool pat_match(const char *pattern, const char *s)
{
	return s && istio_str_match(pattern, s, strlen(s));
}

static enum tri any_pat(const struct shunt_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (pat_match(l->v[i], s))
			return T_YES;
	return T_NO;
}

/* Does the source's address fall in any block? YES if all its addresses do,
 * NO if none does, MAYBE otherwise or when the address is unknown. */
static enum tri in_blocks(const struct shunt_cidr *blocks, size_t nb, const struct l4src *s)
{
	size_t hits = 0;

	if (!s->addrs || !s->n_addrs)
		return T_MAYBE;
	for (size_t a = 0; a < s->n_addrs; a++) {
		const struct shunt_cidr *x = &s->addrs[a];

		for (size_t b = 0; b < nb; b++) {
			/* the workload's block lies inside the policy block */
			if (blocks[b].prefix <= x->prefix &&
			    cidr_contains(&blocks[b], x->family, x->addr)) {
				hits++;
				break;
			}
		}
	}
	return hits == s->n_addrs ? T_YES : hits == 0 ? T_NO : T_MAYBE;
}

static enum tri source_tri(const struct shunt_source *src, const struct l4src *s)
{
	enum tri r = T_YES;

	if (src->principals.n)
		r = t_and(r, any_pat(&src->principals, s->principal));
	if (src->not_principals.n)
		r = t_and(r, t_not(any_pat(&src->not_principals, s->principal)));
	if (src->namespaces.n)
		r = t_and(r, any_pat(&src->namespaces, s->ns));
	if (src->not_namespaces.n)
		r = t_and(r, t_not(any_pat(&src->not_namespaces, s->ns)));
	if (src->ip_blocks.n)
		r = t_and(r, in_blocks(src->ip_blocks.v, src->ip_blocks.n, s));
	if (src->not_ip_blocks.n)
		r = t_and(r, t_not(in_blocks(src->not_ip_blocks.v, src->not_ip_blocks.n, s)));
	return r;
}

static bool port_in(const struct shunt_portlist *l, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == port)
			return true;
	return false;
}

static enum tri cond_tri(const struct shunt_condition *c, const struct l4src *s, uint16_t port)
{
	enum tri any = T_NO, none = T_YES;

	for (size_t pass = 0; pass < 2; pass++) {
		const struct shunt_strlist *l = pass ? &c->not_values : &c->values;

		for (size_t i = 0; i < l->n; i++) {
			enum tri m = T_NO;

			switch (c->key) {
			case SHUNT_COND_SOURCE_IP: {
				struct shunt_cidr b;
				const char *why;

				if (!cidr_parse(l->v[i], &b, &why))
					m = in_blocks(&b, 1, s);
				break;
			}
			case SHUNT_COND_SOURCE_NAMESPACE:
				m = pat_match(l->v[i], s->ns) ? T_YES : T_NO;
				break;
			case SHUNT_COND_SOURCE_PRINCIPAL:
				m = pat_match(l->v[i], s->principal) ? T_YES : T_NO;
				break;
			case SHUNT_COND_DESTINATION_PORT:
				m = (uint16_t)atoi(l->v[i]) == port ? T_YES : T_NO;
				break;
			}
			if (pass)
				none = t_and(none, t_not(m));
			else
				any = t_or(any, m);
		}
	}
	return c->values.n ? t_and(any, none) : none;
}

/* The L4 part of a clause (sources, ports, when) for (source, port). */
static enum tri clause_l4(const struct clause *c, const struct l4src *s, uint16_t port)
{
	const struct shunt_rule *r = c->rule;
	enum tri t = T_YES;

	if (c->op) {
		if (c->op->ports.n && !port_in(&c->op->ports, port))
			return T_NO;
		if (c->op->not_ports.n && port_in(&c->op->not_ports, port))
			return T_NO;
	}
	if (r->n_from) {
		enum tri any = T_NO;

		for (size_t i = 0; i < r->n_from; i++)
			any = t_or(any, source_tri(&r->from[i], s));
		t = t_and(t, any);
	}
	for (size_t i = 0; i < r->n_when && t != T_NO; i++)
		t = t_and(t, cond_tri(&r->when[i], s, port));
	return t;
}

static uint8_t l4_verdict(const struct dindex *x, const struct l4src *s, uint16_t port,
			  bool no_proxy)
{
	enum tri deny = T_NO, allow = T_NO;
	bool deny_l7 = false, allow_l7 = false;

	for (size_t i = 0; i < x->n_cl; i++) {
		const struct clause *c = &x->cl[i];
		enum tri t;

		if (c->pol->action == SHUNT_ACTION_AUDIT)
			continue;
		t = clause_l4(c, s, port);
		if (t == T_NO)
			continue;
		if (c->pol->action == SHUNT_ACTION_DENY) {
			/* no proxy: a DENY rule loses its HTTP fields (wider) */
			if (c->has_http && !no_proxy)
				deny_l7 = true;
			else
				deny = t_or(deny, t);
		} else if (c->has_http) {
			/* no proxy: an ALLOW rule needing HTTP fields is dropped */
			if (!no_proxy)
				allow_l7 = true;
		} else {
			allow = t_or(allow, t);
		}
	}
	if (deny == T_YES)
		return SHUNT_L4_DENY;
	/* nothing could allow it, whatever the HTTP request says */
	if (x->has_allow && allow == T_NO && !allow_l7)
		return SHUNT_L4_DENY;
	if (deny == T_MAYBE)
		return no_proxy ? SHUNT_L4_DENY : SHUNT_L4_L7;
	if (deny_l7)
		return SHUNT_L4_L7;
	if (!x->has_allow || allow == T_YES)
		return SHUNT_L4_ALLOW;
	return no_proxy ? SHUNT_L4_DENY : SHUNT_L4_L7;
}

uint32_t shunt_identity_of(int workload_idx)
{
	return workload_idx < 0 ? SHUNT_IDENTITY_WORLD
				: (uint32_t)workload_idx + SHUNT_IDENTITY_FIRST;
}

struct evec {
	struct shunt_l4_entry *v;
	size_t n, cap;
};

static int push(struct evec *e, uint32_t src, uint32_t dst, uint16_t port, uint8_t verdict)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		struct shunt_l4_entry *nv = realloc(e->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = (struct shunt_l4_entry){src, dst, port, verdict};
	return 0;
}

static int add_u16(uint16_t **v, size_t *n, uint16_t x)
{
	uint16_t *nv;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i] == x)
			return 0;
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = x;
	return 0;
}

struct refctx {
	const struct shunt_policy *p;
	struct smap by_principal, by_ns;
	bool *mark;
	int *refs;
	size_t n_refs;
};

static void ref_add(struct refctx *r, int w)
{
	if (!r->mark[w]) {
		r->mark[w] = true;
		r->refs[r->n_refs++] = w;
	}
}

static void ref_names(struct refctx *r, const struct shunt_strlist *l, bool principal)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *pat = l->v[i];

		if (!strcmp(pat, "*"))
			continue; /* covered by the ANY class */
		if (strchr(pat, '*')) {
			for (size_t w = 0; w < r->p->n_w; w++)
				if (pat_match(pat,
					      principal ? r->p->w[w].principal : r->p->w[w].ns))
					ref_add(r, (int)w);
		} else {
			struct smap_ent *e =
				smap_find(principal ? &r->by_principal : &r->by_ns, pat);

			for (size_t k = 0; e && k < e->l.n; k++)
				ref_add(r, (int)e->l.v[k]);
		}
	}
}

static void ref_all(struct refctx *r)
{
	for (size_t w = 0; w < r->p->n_w; w++)
		ref_add(r, (int)w);
}

/* Workloads whose verdict may differ from the ANY class. */
static void collect_refs(struct refctx *r, const struct dindex *x)
{
	for (size_t q = 0; q < x->n_pols; q++) {
		const struct cpol *p = x->cp[q];

		for (size_t i = 0; i < p->n_rules; i++) {
			const struct shunt_rule *rule = &p->rules[i];

			for (size_t k = 0; k < rule->n_from; k++) {
				const struct shunt_source *src = &rule->from[k];

				ref_names(r, &src->principals, true);
				ref_names(r, &src->not_principals, true);
				ref_names(r, &src->namespaces, false);
				ref_names(r, &src->not_namespaces, false);
				if (src->ip_blocks.n || src->not_ip_blocks.n)
					ref_all(r);
			}
			for (size_t k = 0; k < rule->n_when; k++)
				if (rule->when[k].key != SHUNT_COND_DESTINATION_PORT)
					ref_all(r);
		}
	}
}

static int by_dindex(const void *a, const void *b, void *ctx)
{
	struct dindex *const *dst = ctx;
	uintptr_t x = (uintptr_t)dst[*(const int *)a], y = (uintptr_t)dst[*(const int *)b];

	if (x != y)
		return x < y ? -1 : 1;
	return *(const int *)a - *(const int *)b;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct shunt_l4_entry *x = a, *y = b;

	if (x->dst_identity != y->dst_identity)
		return x->dst_identity < y->dst_identity ? -1 : 1;
	if (x->src_identity != y->src_identity)
		return x->src_identity < y->src_identity ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/* Entries for one dindex, emitted for every workload using it. */
static int dindex_entries(const struct shunt_policy *p, const struct dindex *x, const int *users,
			  size_t n_users, bool no_proxy, struct refctx *rc, struct evec *e)
{
	uint16_t *ports = NULL;
	size_t n_ports = 0;
	int *refs;
	size_t n_refs;
	uint8_t *any_v = NULL;
	struct l4src any = {.principal = "\x01", .ns = "\x01"}, world = {0};
	int err = 0;

	if ((err = add_u16(&ports, &n_ports, 0)))
		goto cleanup;
	for (size_t i = 0; i < x->n_cl; i++) {
		const struct clause *c = &x->cl[i];

		for (size_t k = 0; c->op && k < c->op->ports.n && !err; k++)
			err = add_u16(&ports, &n_ports, c->op->ports.v[k]);
		for (size_t k = 0; c->op && k < c->op->not_ports.n && !err; k++)
			err = add_u16(&ports, &n_ports, c->op->not_ports.v[k]);
		for (size_t k = 0; k < c->rule->n_when && !err; k++) {
			const struct shunt_condition *cd = &c->rule->when[k];

			if (cd->key != SHUNT_COND_DESTINATION_PORT)
				continue;
			for (size_t m = 0; m < cd->values.n && !err; m++)
				err = add_u16(&ports, &n_ports, (uint16_t)atoi(cd->values.v[m]));
			for (size_t m = 0; m < cd->not_values.n && !err; m++)
				err = add_u16(&ports, &n_ports,
					      (uint16_t)atoi(cd->not_values.v[m]));
		}
		if (err)
			goto cleanup;
	}
	rc->n_refs = 0;
	collect_refs(rc, x);
	refs = rc->refs;
	n_refs = rc->n_refs;
	for (size_t r = 0; r < n_refs; r++)
		rc->mark[refs[r]] = false;
	any_v = calloc(n_ports, 1);
	if (!any_v) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t k = 0; k < n_ports; k++)
		any_v[k] = l4_verdict(x, &any, ports[k], no_proxy);
	for (size_t u = 0; u < n_users; u++) {
		uint32_t dst = shunt_identity_of(users[u]);

		for (size_t k = 0; k < n_ports; k++) {
			uint8_t wv = l4_verdict(x, &world, ports[k], no_proxy);

			if ((err = push(e, SHUNT_IDENTITY_ANY, dst, ports[k], any_v[k])))
				goto cleanup;
			if (wv != any_v[k] &&
			    (err = push(e, SHUNT_IDENTITY_WORLD, dst, ports[k], wv)))
				goto cleanup;
		}
		for (size_t r = 0; r < n_refs; r++) {
			const struct cworkload *w = &p->w[refs[r]];
			struct l4src s = {w->principal, w->ns, w->addrs, w->n_addrs};

			for (size_t k = 0; k < n_ports; k++) {
				uint8_t v = l4_verdict(x, &s, ports[k], no_proxy);

				if (v != any_v[k] &&
				    (err = push(e, shunt_identity_of(refs[r]), dst, ports[k], v)))
					goto cleanup;
			}
		}
	}
cleanup:
	free(ports);
	free(any_v);
	return err;
}

static int services_entries(const struct shunt_policy *p, struct evec *e);

int shunt_policy_l4_entries_opts(const struct shunt_policy *p, unsigned flags,
				 struct shunt_l4_entry **v, size_t *n)
{
	struct evec e = {0};
	struct refctx rc = {.p = p};
	int *users = NULL;
	int err = 0;

	*v = NULL;
	*n = 0;
	users = calloc(p->n_w + 1, sizeof(*users));
	rc.mark = calloc(p->n_w + 1, sizeof(*rc.mark));
	rc.refs = calloc(p->n_w + 1, sizeof(*rc.refs));
	if (!users || !rc.mark || !rc.refs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < p->n_w; i++) {
		if ((err = smap_add(&rc.by_principal, p->w[i].principal, (uint32_t)i)) ||
		    (err = smap_add(&rc.by_ns, p->w[i].ns, (uint32_t)i)))
			goto cleanup;
	}
	/* group workloads sharing a dindex: sort indices by dindex address */
	for (size_t i = 0; i < p->n_w; i++)
		users[i] = (int)i;
	qsort_r(users, p->n_w, sizeof(*users), by_dindex, p->dst);
	for (size_t i = 0; i < p->n_w;) {
		size_t j = i;

		while (j < p->n_w && p->dst[users[j]] == p->dst[users[i]])
			j++;
		if (p->dst[users[i]]) {
			err = dindex_entries(p, p->dst[users[i]], users + i, j - i,
					     flags & SHUNT_L4_NO_PROXY, &rc, &e);
			if (err)
				goto cleanup;
		}
		i = j;
	}
	if (e.n)
		qsort(e.v, e.n, sizeof(*e.v), entry_cmp);
	/* the services' entries, derived from the workloads' (see l4.h) */
	if ((err = services_entries(p, &e)))
		goto cleanup;
	*v = e.v;
	*n = e.n;
	e.v = NULL;
cleanup:
	free(e.v);
	free(users);
	free(rc.mark);
	free(rc.refs);
	smap_free(&rc.by_principal);
	smap_free(&rc.by_ns);
	return err;
}

int shunt_policy_l4_entries(const struct shunt_policy *p, struct shunt_l4_entry **v, size_t *n)
{
	return shunt_policy_l4_entries_opts(p, 0, v, n);
}

static const struct shunt_l4_entry *find(const struct shunt_l4_entry *v, size_t n, uint32_t src,
					 uint32_t dst, uint16_t port)
{
	struct shunt_l4_entry key = {src, dst, port, 0};

	if (!n)
		return NULL;
	return bsearch(&key, v, n, sizeof(*v), entry_cmp);
}

uint8_t shunt_l4_lookup(const struct shunt_l4_entry *v, size_t n, uint32_t src, uint32_t dst,
			uint16_t port)
{
	const struct shunt_l4_entry *e;

	if ((e = find(v, n, src, dst, port)) || (e = find(v, n, SHUNT_IDENTITY_ANY, dst, port)) ||
	    (e = find(v, n, src, dst, 0)) || (e = find(v, n, SHUNT_IDENTITY_ANY, dst, 0)))
		return e->verdict;
	return SHUNT_L4_ALLOW;
}

/* ---- services ---- */

uint32_t shunt_service_identity(size_t service_idx)
{
	return SHUNT_IDENTITY_SERVICE_FIRST + (uint32_t)service_idx;
}

bool shunt_service_selects(const struct shunt_service *s, const struct shunt_workload *w)
{
	if (!s->n_selector || !s->ns || !w->ns || strcmp(s->ns, w->ns))
		return false;
	return labels_include(w->labels, w->n_labels, s->selector, s->n_selector);
}

static uint8_t merge_verdict(uint8_t a, uint8_t b)
{
	if (a == SHUNT_L4_DENY || b == SHUNT_L4_DENY)
		return SHUNT_L4_DENY;
	return a == SHUNT_L4_L7 || b == SHUNT_L4_L7 ? SHUNT_L4_L7 : SHUNT_L4_ALLOW;
}

/* Append the entries of service j (see l4.h), derived from the first wn
 * entries of e: the workloads', sorted. Lookups re-read e->v, which a push
 * may move. mark has room for identities 0..n_w (cleared on return), srcs
 * for n_w + 2 identities. */
static int service_entries(const struct shunt_policy *p, size_t j, struct evec *e, size_t wn,
			   uint8_t *mark, uint32_t *srcs)
{
	const struct csvc *x = &p->svcs[j];
	uint32_t svc = shunt_service_identity(j), maxid = (uint32_t)p->n_w;
	size_t ns = 0;
	int err = 0;

	/* no policy selects any backend: allow, no entries */
	if (!x->selected)
		return 0;
	for (size_t b = 0; b < x->n_backends; b++)
		mark[shunt_identity_of(x->backends[b])] |= 1; /* backend */
	srcs[ns++] = SHUNT_IDENTITY_ANY;
	for (size_t i = 0; i < wn; i++) {
		uint32_t d = e->v[i].dst_identity, src = e->v[i].src_identity;

		if (d > maxid || !(mark[d] & 1))
			continue;
		if (src <= maxid && !(mark[src] & 2)) {
			mark[src] |= 2; /* source seen */
			srcs[ns++] = src;
		}
	}
	for (size_t q = 0; q < x->n_ports && !err; q++) {
		uint16_t port = x->ports[q].port, target = x->ports[q].target_port;
		uint8_t any_v = SHUNT_L4_ALLOW;

		/* srcs[0] is ANY: its verdict first, the others only where they differ */
		for (size_t k = 0; k < ns && !err; k++) {
			uint8_t v = SHUNT_L4_ALLOW;

			for (size_t b = 0; b < x->n_backends; b++) {
				uint32_t bid = shunt_identity_of(x->backends[b]);

				if (srcs[k] != bid)
					v = merge_verdict(
						v, shunt_l4_lookup(e->v, wn, srcs[k], bid, target));
			}
			if (k == 0) {
				any_v = v;
				/* DENY is what (ANY, svc, 0) gives anyway */
				if (v != SHUNT_L4_DENY)
					err = push(e, SHUNT_IDENTITY_ANY, svc, port, v);
			} else if (v != any_v) {
				err = push(e, srcs[k], svc, port, v);
			}
		}
	}
	/* ports the service does not list: kube-proxy forwards nothing there */
	if (!err)
		err = push(e, SHUNT_IDENTITY_ANY, svc, 0, SHUNT_L4_DENY);
	for (size_t b = 0; b < x->n_backends; b++)
		mark[shunt_identity_of(x->backends[b])] = 0;
	for (size_t k = 1; k < ns; k++)
		mark[srcs[k]] = 0;
	return err;
}

/* The services' entries, after the workloads' (sorted) in e. Service
 * identities sort after every workload identity, so sorting the appended
 * part keeps the whole sorted. */
static int services_entries(const struct shunt_policy *p, struct evec *e)
{
	uint32_t *srcs = NULL;
	uint8_t *mark = NULL;
	size_t wn = e->n;
	int err = 0;

	if (!p->n_svcs)
		return 0;
	srcs = calloc(p->n_w + 2, sizeof(*srcs));
	mark = calloc(p->n_w + 1, 1);
	if (!srcs || !mark) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t j = 0; j < p->n_svcs && !err; j++)
		err = service_entries(p, j, e, wn, mark, srcs);
	if (!err && e->n > wn)
		qsort(e->v + wn, e->n - wn, sizeof(*e->v), entry_cmp);
cleanup:
	free(srcs);
	free(mark);
	return err;
}
