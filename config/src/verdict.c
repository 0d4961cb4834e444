// SPDX-License-Identifier: Apache-2.0
/*
 * L7 verdict: DENY rules first, then AUDIT (log only), then ALLOW; default
 * allow when no ALLOW policy selects the destination, default deny
 * otherwise. Only clauses whose path pattern matches are examined.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compiled.h"

static bool pat_match(const char *pattern, const char *s)
{
	return s && istio_str_match(pattern, s, strlen(s));
}

static bool any_pat(const struct shunt_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (pat_match(l->v[i], s))
			return true;
	return false;
}

static bool any_cidr(const struct shunt_cidrlist *l, const struct src_info *s)
{
	for (size_t i = 0; s->family && i < l->n; i++)
		if (cidr_contains(&l->v[i], s->family, s->addr))
			return true;
	return false;
}

static bool source_match(const struct shunt_source *src, const struct src_info *s)
{
	if (src->principals.n && !any_pat(&src->principals, s->principal))
		return false;
	if (src->not_principals.n && any_pat(&src->not_principals, s->principal))
		return false;
	if (src->namespaces.n && !any_pat(&src->namespaces, s->ns))
		return false;
	if (src->not_namespaces.n && any_pat(&src->not_namespaces, s->ns))
		return false;
	if (src->ip_blocks.n && !any_cidr(&src->ip_blocks, s))
		return false;
	if (src->not_ip_blocks.n && any_cidr(&src->not_ip_blocks, s))
		return false;
	return true;
}

static bool port_in(const struct shunt_portlist *l, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == port)
			return true;
	return false;
}

static bool cond_value_match(enum shunt_cond_key k, const char *v, const struct src_info *s,
			     uint16_t port)
{
	switch (k) {
	case SHUNT_COND_SOURCE_IP: {
		struct shunt_cidr c;
		const char *why;

		return s->family && !cidr_parse(v, &c, &why) &&
		       cidr_contains(&c, s->family, s->addr);
	}
	case SHUNT_COND_SOURCE_NAMESPACE:
		return pat_match(v, s->ns);
	case SHUNT_COND_SOURCE_PRINCIPAL:
		return pat_match(v, s->principal);
	case SHUNT_COND_DESTINATION_PORT:
		return (uint16_t)atoi(v) == port;
	}
	return false;
}

static bool when_match(const struct shunt_condition *c, const struct src_info *s, uint16_t port)
{
	bool any = false;

	for (size_t i = 0; i < c->values.n && !any; i++)
		any = cond_value_match(c->key, c->values.v[i], s, port);
	if (c->values.n && !any)
		return false;
	for (size_t i = 0; i < c->not_values.n; i++)
		if (cond_value_match(c->key, c->not_values.v[i], s, port))
			return false;
	return true;
}

/* Host patterns are lower-case; the host is compared case-insensitively,
 * with and without its :port. */
static bool host_match1(const char *pat, const char *h, size_t hl)
{
	size_t pl = strlen(pat);

	if (pl == 1 && pat[0] == '*')
		return true;
	if (pat[0] == '*')
		return hl >= pl - 1 && !strncasecmp(h + hl - (pl - 1), pat + 1, pl - 1);
	if (pat[pl - 1] == '*')
		return hl >= pl - 1 && !strncasecmp(h, pat, pl - 1);
	return hl == pl && !strncasecmp(h, pat, pl);
}

static bool host_match(const struct shunt_strlist *l, const char *h, size_t hl)
{
	size_t bare = hl;

	if (!h)
		return false;
	/* strip :port (not inside an IPv6 literal) */
	for (size_t i = hl; i > 0; i--) {
		if (h[i - 1] == ':') {
			if (i < hl && (h[0] != '[' || (i >= 2 && h[i - 2] == ']')))
				bare = i - 1;
			break;
		}
		if (h[i - 1] < '0' || h[i - 1] > '9')
			break;
	}
	for (size_t i = 0; i < l->n; i++)
		if (host_match1(l->v[i], h, hl) || (bare != hl && host_match1(l->v[i], h, bare)))
			return true;
	return false;
}

static bool method_in(uint32_t mask, const struct shunt_strlist *l, uint32_t mbit, const char *m,
		      size_t ml)
{
	if (mbit)
		return (mask & mbit) != 0;
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == ml && !memcmp(l->v[i], m, ml))
			return true;
	return false;
}

static bool notpath_match(const struct shunt_strlist *l, const char *path, size_t plen, bool icase)
{
	for (size_t i = 0; i < l->n; i++)
		if (pathpat_match(l->v[i], path, plen, icase))
			return true;
	return false;
}

bool clause_match(const struct clause *c, const struct src_info *s, uint32_t mbit,
		  const char *method, size_t mlen, const char *path, size_t plen, const char *host,
		  size_t hlen, uint16_t port, bool icase)
{
	const struct shunt_operation *op = c->op;
	const struct shunt_rule *r = c->rule;
	bool ok;

	if (op) {
		if (op->ports.n && !port_in(&op->ports, port))
			return false;
		if (op->not_ports.n && port_in(&op->not_ports, port))
			return false;
		if (op->methods.n && !method_in(c->methods, &op->methods, mbit, method, mlen))
			return false;
		if (op->not_methods.n &&
		    method_in(c->not_methods, &op->not_methods, mbit, method, mlen))
			return false;
		if (op->not_paths.n && notpath_match(&op->not_paths, path, plen, icase))
			return false;
		if (op->hosts.n && !host_match(&op->hosts, host, hlen))
			return false;
		if (op->not_hosts.n && host && host_match(&op->not_hosts, host, hlen))
			return false;
	}
	if (r->n_from) {
		ok = false;
		for (size_t i = 0; i < r->n_from && !ok; i++)
			ok = source_match(&r->from[i], s);
		if (!ok)
			return false;
	}
	for (size_t i = 0; i < r->n_when; i++)
		if (!when_match(&r->when[i], s, port))
			return false;
	return true;
}

struct vq {
	const struct dindex *x;
	const struct shunt_l7_query *q;
	const struct src_info *s;
	const char *path;
	uint32_t mbit;
	bool icase;
	bool need_explicit; /* ALLOW pass of an explicit_method_only query */
	const struct clause *hit;
};

static bool scan(struct vq *v, const struct clist *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		const struct clause *c = &v->x->cl[l->v[i]];

		if (v->need_explicit && !(c->op && c->op->methods.n))
			continue;

		if (clause_match(c, v->s, v->mbit, v->q->method, v->q->method_len, v->path,
				 v->q->path_len, v->q->host, v->q->host_len, v->q->dst_port,
				 v->icase)) {
			v->hit = c;
			return true;
		}
	}
	return false;
}

static bool on_clauses(void *ctx, const struct clist *l)
{
	struct vq *v = ctx;
	const struct csub_ent *e;

	if (!l->sub)
		return scan(v, l);
	if (scan(v, &l->sub->general))
		return true;
	/* principal-restricted clauses: only the caller's bucket can match */
	return v->s->principal && (e = csub_find(l->sub, v->s->phash)) && scan(v, &e->l);
}

/* A service's clusterIP: the request may land on any backend, so the
 * strictest backend verdict applies (DENY if one denies; the port is mapped
 * to its targetPort; a port the service does not list is denied, as
 * kube-proxy forwards nothing there). No policy selecting a backend: allow. */
static int service_verdict(const struct shunt_policy *p, const struct csvc *x,
			   const struct shunt_l7_query *q, struct shunt_verdict *v)
{
	struct shunt_l7_query bq = *q;
	struct shunt_verdict bv;
	size_t k;
	int err;

	if (!x->selected) {
		if (q->explicit_method_only) {
			v->action = SHUNT_DENY;
			v->policy = "default-deny";
		}
		return 0;
	}
	for (k = 0; k < x->n_ports && x->ports[k].port != q->dst_port; k++)
		;
	if (k == x->n_ports) {
		v->action = SHUNT_DENY;
		v->policy = "default-deny";
		return 0;
	}
	bq.dst_port = x->ports[k].target_port;
	for (size_t b = 0; b < x->n_backends; b++) {
		/* a workload reaching itself is never judged (as at connect()) */
		if (x->backends[b] == q->src_workload)
			continue;
		bq.dst_workload = x->backends[b];
		if ((err = shunt_policy_l7_verdict(p, &bq, &bv)))
			return err;
		if (bv.audit && !v->audit) {
			v->audit = true;
			v->audit_policy = bv.audit_policy;
		}
		if (bv.action == SHUNT_DENY) {
			v->action = SHUNT_DENY;
			v->policy = bv.policy;
			return 0;
		}
		if (!v->policy)
			v->policy = bv.policy;
	}
	return 0;
}

int shunt_policy_l7_verdict(const struct shunt_policy *p, const struct shunt_l7_query *q,
			    struct shunt_verdict *v)
{
	struct src_info s = {0};
	char lower[4096];
	struct vq ctx;
	const struct dindex *x;

	memset(v, 0, sizeof(*v));
	v->action = SHUNT_ALLOW;
	if (q->dst_workload >= 0 && (size_t)q->dst_workload >= p->n_w) {
		size_t j = (size_t)q->dst_workload - p->n_w;

		if (j >= p->n_svcs)
			return -EINVAL;
		if (q->src_workload >= 0 && (size_t)q->src_workload >= p->n_w) {
			struct shunt_l7_query sq = *q;

			sq.src_workload = -1; /* a clusterIP is never a source */
			return service_verdict(p, &p->svcs[j], &sq, v);
		}
		return service_verdict(p, &p->svcs[j], q, v);
	}
	x = q->dst_workload < 0 ? NULL : p->dst[q->dst_workload];
	if (!x) {
		if (q->explicit_method_only) {
			v->action = SHUNT_DENY;
			v->policy = "default-deny";
		}
		return 0;
	}
	if (q->src_workload >= 0 && (size_t)q->src_workload < p->n_w) {
		s.principal = p->w[q->src_workload].principal;
		s.phash = p->w[q->src_workload].phash;
		s.ns = p->w[q->src_workload].ns;
	}
	if (q->src_addr)
		sockaddr_key(q->src_addr, &s.family, s.addr);
	ctx = (struct vq){.x = x, .q = q, .s = &s, .path = q->path, .icase = p->icase};
	ctx.mbit = method_bit(q->method, q->method_len);
	if (p->icase) {
		/* paths from shunt_path_normalize are lower-case already; be
		 * robust to callers that did not use the policy's options. */
		if (q->path_len >= sizeof(lower))
			return -ENAMETOOLONG;
		for (size_t i = 0; i < q->path_len; i++)
			lower[i] = (q->path[i] >= 'A' && q->path[i] <= 'Z')
					   ? (char)(q->path[i] - 'A' + 'a')
					   : q->path[i];
		ctx.path = lower;
	}
	if (pindex_visit(&x->act[SHUNT_ACTION_AUDIT], ctx.path, q->path_len, on_clauses, &ctx)) {
		v->audit = true;
		v->audit_policy = ctx.hit->pol->qname;
	}
	ctx.hit = NULL;
	if (pindex_visit(&x->act[SHUNT_ACTION_DENY], ctx.path, q->path_len, on_clauses, &ctx)) {
		v->action = SHUNT_DENY;
		v->policy = ctx.hit->pol->qname;
		return 0;
	}
	if (!x->has_allow && !q->explicit_method_only)
		return 0;
	ctx.hit = NULL;
	ctx.need_explicit = q->explicit_method_only;
	if (pindex_visit(&x->act[SHUNT_ACTION_ALLOW], ctx.path, q->path_len, on_clauses, &ctx)) {
		v->policy = ctx.hit->pol->qname;
		return 0;
	}
	v->action = SHUNT_DENY;
	v->policy = "default-deny";
	return 0;
}
