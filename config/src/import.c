// SPDX-License-Identifier: Apache-2.0
/*
 * Import of Kubernetes objects as `kubectl get -o json` prints them:
 * security.istio.io AuthorizationPolicy (v1, v1beta1) and cilium.io/v2
 * CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy, one object or a List. Cilium policies are
 * converted into AuthorizationPolicy form: ingress -> ALLOW "<name>", ingressDeny -> DENY
 * "<name>-deny"; endpoint selectors are resolved against the workload registry into principals
 * (shunt identifies sources by service account). Anything that cannot be converted exactly is an
 * error naming the field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int read_text_file(const char *path, char **text, struct shunt_diags *d, bool check_mode);

struct polvec {
	struct shunt_authz_policy *v;
	size_t n, cap;
};

static struct shunt_authz_policy *polvec_add(struct polvec *pv)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 8;
		struct shunt_authz_policy *nv = realloc(pv->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		pv->v = nv;
		pv->cap = cap;
	}
	memset(&pv->v[pv->n], 0, sizeof(pv->v[0]));
	return &pv->v[pv->n++];
}

static void unsupported_keys(struct vctx *v, json_t *obj, const char *const *keys, const char *why)
{
	for (size_t i = 0; keys[i]; i++) {
		size_t old;

		if (!json_object_get(obj, keys[i]))
			continue;
		old = vctx_push_key(v, keys[i]);
		verr_key(v, "'%s' is not supported: %s", keys[i], why);
		vctx_pop(v, old);
	}
}

static void known_keys(struct vctx *v, json_t *obj, const char *const *known)
{
	const char *k;
	json_t *val;

	json_object_foreach (obj, k, val) {
		size_t old, i;
		const char *near;

		for (i = 0; known[i] && strcmp(known[i], k); i++)
			;
		if (known[i])
			continue;
		old = vctx_push_key(v, k);
		near = closest_key(k, known);
		if (near)
			verr_key(v, "unknown key '%s'; did you mean '%s'?", k, near);
		else
			verr_key(v, "unknown or unsupported key '%s'", k);
		vctx_pop(v, old);
	}
}

static int strlist_push(struct shunt_strlist *l, const char *s)
{
	char **nv;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 0;
	nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	nv[l->n] = strdup(s);
	if (!nv[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cidr_push(struct shunt_cidrlist *l, const struct shunt_cidr *c)
{
	struct shunt_cidr *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	l->v = nv;
	nv[l->n++] = *c;
	return 0;
}

/* Cilium label keys may carry a source prefix ("k8s:", "any:"). */
static const char *label_key(const char *k)
{
	if (!strncmp(k, "k8s:", 4))
		return k + 4;
	if (!strncmp(k, "any:", 4))
		return k + 4;
	return k;
}

static bool is_ns_label(const char *k)
{
	return !strcmp(label_key(k), "io.kubernetes.pod.namespace");
}

/* Parses a Cilium EndpointSelector's matchLabels; returns -EINVAL after
 * reporting. ns_out gets the namespace label (if any). */
static int selector_labels(struct vctx *v, json_t *sel, json_t **ml_out, const char **ns_out)
{
	static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
	json_t *ml;
	const char *k;
	json_t *val;
	int before = v->nerr;

	*ml_out = NULL;
	*ns_out = NULL;
	if (!json_is_object(sel)) {
		verr(v, "expected an endpoint selector object");
		return -EINVAL;
	}
	known_keys(v, sel, keys);
	if (json_object_get(sel, "matchExpressions")) {
		size_t old = vctx_push_key(v, "matchExpressions");

		verr_key(v, "'matchExpressions' is not supported; use matchLabels");
		vctx_pop(v, old);
	}
	ml = json_object_get(sel, "matchLabels");
	if (ml) {
		size_t old = vctx_push_key(v, "matchLabels");

		if (!json_is_object(ml)) {
			verr(v, "expected an object of string labels");
		} else {
			json_object_foreach (ml, k, val) {
				size_t o2 = vctx_push_key(v, k);

				if (!json_is_string(val))
					verr(v, "expected a string label value");
				else if (is_ns_label(k))
					*ns_out = json_string_value(val);
				vctx_pop(v, o2);
			}
		}
		vctx_pop(v, old);
		*ml_out = ml;
	}
	return v->nerr > before ? -EINVAL : 0;
}

static bool workload_has_labels(const struct shunt_workload *w, json_t *ml)
{
	const char *k;
	json_t *val;

	json_object_foreach (ml, k, val) {
		size_t i;

		if (is_ns_label(k))
			continue;
		for (i = 0; i < w->n_labels; i++)
			if (!strcmp(w->labels[i].key, label_key(k)) &&
			    !strcmp(w->labels[i].value, json_string_value(val)))
				break;
		if (i == w->n_labels)
			return false;
	}
	return true;
}

/* fromEndpoints[i] -> one source (principals or namespaces). */
static void convert_endpoint(struct vctx *v, const struct shunt_config *c, json_t *sel,
			     const char *pol_ns, struct shunt_source *src)
{
	json_t *ml;
	const char *ns;
	size_t nlabels = 0;

	if (selector_labels(v, sel, &ml, &ns))
		return;
	if (ml) {
		const char *k;
		json_t *val;

		json_object_foreach (ml, k, val)
			nlabels += !is_ns_label(k);
	}
	if (!ns)
		ns = pol_ns; /* a namespaced policy's selectors stay in its namespace;
				cluster-wide ones (pol_ns NULL) see every namespace */
	if (nlabels == 0) {
		if (strlist_push(ns ? &src->namespaces : &src->principals, ns ? ns : "*"))
			v->oom = true;
		return;
	}
	for (size_t i = 0; i < c->n_workloads; i++) {
		const struct shunt_workload *w = &c->workloads[i];

		if ((ns && strcmp(w->ns, ns)) || !workload_has_labels(w, ml))
			continue;
		/* every workload sharing this identity must be selected too */
		for (size_t j = 0; j < c->n_workloads; j++) {
			const struct shunt_workload *x = &c->workloads[j];

			if (!strcmp(x->principal, w->principal) && !workload_has_labels(x, ml)) {
				verr(v,
				     "selector matches workload '%s/%s' but not '%s/%s', which has "
				     "the same service account; shunt identifies sources by "
				     "service account",
				     w->ns, w->name, x->ns, x->name);
				return;
			}
		}
		if (strlist_push(&src->principals, w->principal))
			v->oom = true;
	}
	if (!src->principals.n)
		verr(v,
		     "selector matches no workload in %s%s%s; shunt resolves Cilium "
		     "selectors against the workloads of the config (load workloads first)",
		     ns ? "namespace '" : "any namespace", ns ? ns : "", ns ? "'" : "");
}

/* A Cilium regex that is a literal (with '\.' escapes) -> its text. */
static char *regex_literal(const char *re, bool *trailing_any)
{
	size_t n = strlen(re);
	char *out = malloc(n + 1), *o = out;

	*trailing_any = false;
	if (!out)
		return NULL;
	if (n >= 2 && !strcmp(re + n - 2, ".*")) {
		*trailing_any = true;
		n -= 2;
	}
	if (n && re[0] == '^')
		re++, n--;
	if (n && re[n - 1] == '$' && !*trailing_any)
		n--;
	for (size_t i = 0; i < n; i++) {
		char ch = re[i];

		if (ch == '\\' && i + 1 < n && strchr(".-/_~", re[i + 1])) {
			*o++ = re[++i];
			continue;
		}
		if (strchr(".*+?()[]{}|^$\\", ch)) {
			free(out);
			return NULL;
		}
		*o++ = ch;
	}
	*o = '\0';
	return out;
}

static void convert_http(struct vctx *v, json_t *h, struct shunt_operation *op)
{
	static const char *const keys[] = {"method",  "path",	       "host",
					   "headers", "headerMatches", NULL};
	static const char *const unsup[] = {"headers", "headerMatches", NULL};
	json_t *j;

	if (!json_is_object(h)) {
		verr(v, "expected an HTTP rule object");
		return;
	}
	known_keys(v, h, keys);
	unsupported_keys(v, h, unsup, "header matching is not part of shunt's policy model");
	if ((j = json_object_get(h, "method"))) {
		size_t old = vctx_push_key(v, "method");
		const char *m = json_is_string(j) ? json_string_value(j) : "";
		char *copy = strdup(m), *save = NULL;
		bool ok = *m != '\0';

		for (const char *p = m; *p && ok; p++)
			ok = (*p >= 'A' && *p <= 'Z') || *p == '|';
		if (!ok || !copy) {
			verr(v,
			     "method regex '%s' is not supported; expected literal methods such as "
			     "\"GET\" or \"GET|HEAD\"",
			     m);
		} else {
			for (char *t = strtok_r(copy, "|", &save); t;
			     t = strtok_r(NULL, "|", &save))
				if (strlist_push(&op->methods, t))
					v->oom = true;
		}
		free(copy);
		vctx_pop(v, old);
	}
	if ((j = json_object_get(h, "path"))) {
		size_t old = vctx_push_key(v, "path");
		const char *re = json_is_string(j) ? json_string_value(j) : "";
		bool any;
		char *lit = regex_literal(re, &any), *pat;
		const char *why;

		if (!lit || (lit[0] != '/' && !(any && lit[0] == '\0'))) {
			verr(v,
			     "path regex '%s' is not supported; expected a literal path, "
			     "optionally ending in '.*'",
			     re);
		} else if (!(any && (!strcmp(lit, "") || !strcmp(lit, "/")))) {
			pat = malloc(strlen(lit) + 2);
			if (pat) {
				strcpy(pat, lit);
				if (any)
					strcat(pat, "*");
				if (pathpat_validate(pat, &why))
					verr(v, "path '%s' cannot be matched by shunt: %s", re,
					     why);
				else if (strlist_push(&op->paths, pat))
					v->oom = true;
			}
			free(pat);
		}
		free(lit);
		vctx_pop(v, old);
	}
	if ((j = json_object_get(h, "host"))) {
		size_t old = vctx_push_key(v, "host");
		const char *re = json_is_string(j) ? json_string_value(j) : "";
		bool any;
		char *lit = regex_literal(re, &any);

		if (!lit || any || !*lit) {
			verr(v, "host regex '%s' is not supported; expected a literal host name",
			     re);
		} else {
			for (char *p = lit; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			if (strlist_push(&op->hosts, lit))
				v->oom = true;
		}
		free(lit);
		vctx_pop(v, old);
	}
}

/* toPorts[i] -> operations appended to r->to */
static void convert_toports(struct vctx *v, json_t *tp, struct shunt_rule *r, bool deny)
{
	static const char *const keys[] = {
		"ports",    "rules", "terminatingTLS", "originatingTLS", "serverNames",
		"listener", NULL};
	static const char *const unsup[] = {"terminatingTLS", "originatingTLS", "serverNames",
					    "listener", NULL};
	struct shunt_portlist ports = {0};
	json_t *pa, *rules, *e;
	size_t i, old;

	if (!json_is_object(tp)) {
		verr(v, "expected a port rule object");
		return;
	}
	known_keys(v, tp, keys);
	unsupported_keys(v, tp, unsup, "TLS interception and listeners are not supported by shunt");
	pa = json_object_get(tp, "ports");
	old = vctx_push_key(v, "ports");
	if (json_is_array(pa)) {
		ports.v = calloc(json_array_size(pa) + 1, sizeof(uint16_t));
		json_array_foreach (pa, i, e) {
			static const char *const pkeys[] = {"port", "protocol", "endPort", NULL};
			size_t o2 = vctx_push_index(v, i), o3;
			json_t *pj, *proto;
			long port = -1;

			if (!json_is_object(e) || !ports.v) {
				verr(v, "expected {\"port\": \"80\", \"protocol\": \"TCP\"}");
				vctx_pop(v, o2);
				continue;
			}
			known_keys(v, e, pkeys);
			unsupported_keys(v, e, (const char *const[]){"endPort", NULL},
					 "port ranges are not supported; list the ports");
			proto = json_object_get(e, "protocol");
			if (proto && !(json_is_string(proto) &&
				       (!strcmp(json_string_value(proto), "TCP") ||
					!strcmp(json_string_value(proto), "ANY")))) {
				o3 = vctx_push_key(v, "protocol");
				verr(v,
				     "only TCP is supported by shunt; expected \"TCP\" or \"ANY\"");
				vctx_pop(v, o3);
			}
			pj = json_object_get(e, "port");
			o3 = vctx_push_key(v, "port");
			if (json_is_string(pj)) {
				char *end;

				port = strtol(json_string_value(pj), &end, 10);
				if (*end || !*json_string_value(pj))
					port = -2;
			} else if (json_is_integer(pj)) {
				port = (long)json_integer_value(pj);
			}
			if (port == -2)
				verr(v, "named port '%s' is not supported; expected a port number",
				     json_string_value(pj));
			else if (port < 0 || port > 65535)
				verr(v, "expected a port 0..65535 (0: all ports)");
			else if (port > 0)
				ports.v[ports.n++] = (uint16_t)port;
			vctx_pop(v, o3);
			vctx_pop(v, o2);
		}
	} else if (pa) {
		verr(v, "expected an array of ports");
	}
	vctx_pop(v, old);
	rules = json_object_get(tp, "rules");
	old = vctx_push_key(v, "rules");
	if (rules && deny) {
		verr_key(v, "L7 rules are not allowed in ingressDeny");
	} else if (rules) {
		static const char *const rkeys[] = {"http", "kafka", "dns", "l7proto", "l7", NULL};
		json_t *http = json_object_get(rules, "http");

		if (!json_is_object(rules)) {
			verr(v, "expected an object");
		} else {
			known_keys(v, rules, rkeys);
			unsupported_keys(
				v, rules,
				(const char *const[]){"kafka", "dns", "l7proto", "l7", NULL},
				"shunt only understands HTTP rules");
		}
		if (json_is_array(http) && json_array_size(http)) {
			size_t o2 = vctx_push_key(v, "http");

			json_array_foreach (http, i, e) {
				size_t o3 = vctx_push_index(v, i);
				struct shunt_operation *op, *nt;

				nt = realloc(r->to, (r->n_to + 2) * sizeof(*nt));
				if (!nt) {
					v->oom = true;
					vctx_pop(v, o3);
					break;
				}
				r->to = nt;
				op = &r->to[r->n_to++];
				memset(op, 0, sizeof(*op));
				convert_http(v, e, op);
				if (ports.n) {
					op->ports.v = calloc(ports.n, sizeof(uint16_t));
					if (op->ports.v) {
						memcpy(op->ports.v, ports.v,
						       ports.n * sizeof(uint16_t));
						op->ports.n = ports.n;
					}
				}
				vctx_pop(v, o3);
			}
			vctx_pop(v, o2);
			vctx_pop(v, old);
			free(ports.v);
			return;
		}
	}
	vctx_pop(v, old);
	/* L4 only: one operation with the ports (none: all ports) */
	{
		struct shunt_operation *nt = realloc(r->to, (r->n_to + 2) * sizeof(*nt));

		if (!nt) {
			v->oom = true;
			free(ports.v);
			return;
		}
		r->to = nt;
		memset(&r->to[r->n_to], 0, sizeof(r->to[0]));
		r->to[r->n_to].ports = ports;
		r->n_to++;
	}
}

static void convert_cilium_rule(struct vctx *v, const struct shunt_config *c, json_t *rj,
				const char *ns, struct shunt_rule *r, bool deny, bool *empty)
{
	static const char *const keys[] = {
		"fromEndpoints",  "fromCIDR",	  "fromCIDRSet", "fromEntities", "toPorts",
		"fromRequires",	  "fromServices", "fromNodes",	 "fromGroups",	 "icmps",
		"authentication", "toPorts",	  NULL};
	static const char *const unsup[] = {
		"fromRequires", "fromServices",	  "fromNodes", "fromGroups",
		"icmps",	"authentication", NULL};
	json_t *a, *e;
	size_t i, old, nsrc = 0, cap = 0;
	bool all = false;

	memset(r, 0, sizeof(*r));
	*empty = false;
	if (!json_is_object(rj)) {
		verr(v, "expected a rule object");
		return;
	}
	known_keys(v, rj, keys);
	unsupported_keys(v, rj, unsup,
			 "shunt cannot evaluate it; use fromEndpoints, fromCIDR, fromCIDRSet or "
			 "fromEntities");
	for (i = 0; i < 4; i++) {
		static const char *const peers[] = {"fromEndpoints", "fromCIDR", "fromCIDRSet",
						    "fromEntities"};

		a = json_object_get(rj, peers[i]);
		if (!a)
			continue;
		old = vctx_push_key(v, peers[i]);
		if (!json_is_array(a))
			verr(v, "expected an array");
		else if (!json_array_size(a))
			verr(v, "empty list; omit '%s' or give at least one peer", peers[i]);
		else
			cap += i == 1 ? 1 : json_array_size(a);
		vctx_pop(v, old);
	}
	if (cap == 0 && !json_object_get(rj, "toPorts")) {
		*empty = true; /* Cilium: a rule without peers or ports selects nothing */
		return;
	}
	r->from = calloc(cap + 1, sizeof(*r->from));
	if (!r->from) {
		v->oom = true;
		return;
	}
	if ((a = json_object_get(rj, "fromEndpoints"))) {
		old = vctx_push_key(v, "fromEndpoints");
		json_array_foreach (a, i, e) {
			size_t o2 = vctx_push_index(v, i);

			if (nsrc < cap)
				convert_endpoint(v, c, e, ns, &r->from[nsrc++]);
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	if ((a = json_object_get(rj, "fromCIDR"))) {
		struct shunt_source *s = &r->from[nsrc < cap ? nsrc++ : cap];

		old = vctx_push_key(v, "fromCIDR");
		json_array_foreach (a, i, e) {
			size_t o2 = vctx_push_index(v, i);
			struct shunt_cidr cd;
			const char *why;

			if (!json_is_string(e) || cidr_parse(json_string_value(e), &cd, &why))
				verr(v, "bad CIDR; expected e.g. \"10.0.0.0/8\"");
			else if (cidr_push(&s->ip_blocks, &cd))
				v->oom = true;
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	if ((a = json_object_get(rj, "fromCIDRSet"))) {
		old = vctx_push_key(v, "fromCIDRSet");
		json_array_foreach (a, i, e) {
			static const char *const ckeys[] = {"cidr", "except", "cidrGroupRef", NULL};
			size_t o2 = vctx_push_index(v, i), o3;
			struct shunt_source *s = &r->from[nsrc < cap ? nsrc++ : cap];
			json_t *x;
			struct shunt_cidr cd;
			const char *why;
			size_t k;

			if (!json_is_object(e)) {
				verr(v, "expected {\"cidr\": ..., \"except\": [...]}");
				vctx_pop(v, o2);
				continue;
			}
			known_keys(v, e, ckeys);
			unsupported_keys(v, e, (const char *const[]){"cidrGroupRef", NULL},
					 "CiliumCIDRGroup references cannot be resolved offline");
			x = json_object_get(e, "cidr");
			o3 = vctx_push_key(v, "cidr");
			if (!json_is_string(x) || cidr_parse(json_string_value(x), &cd, &why))
				verr(v, "bad CIDR; expected e.g. \"10.0.0.0/8\"");
			else if (cidr_push(&s->ip_blocks, &cd))
				v->oom = true;
			vctx_pop(v, o3);
			o3 = vctx_push_key(v, "except");
			json_array_foreach (json_object_get(e, "except"), k, x) {
				size_t o4 = vctx_push_index(v, k);

				if (!json_is_string(x) ||
				    cidr_parse(json_string_value(x), &cd, &why))
					verr(v, "bad CIDR; expected e.g. \"10.0.0.0/8\"");
				else if (cidr_push(&s->not_ip_blocks, &cd))
					v->oom = true;
				vctx_pop(v, o4);
			}
			vctx_pop(v, o3);
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	if ((a = json_object_get(rj, "fromEntities"))) {
		old = vctx_push_key(v, "fromEntities");
		json_array_foreach (a, i, e) {
			size_t o2 = vctx_push_index(v, i);
			const char *ent = json_is_string(e) ? json_string_value(e) : "";

			if (!strcmp(ent, "all")) {
				all = true;
			} else if (!strcmp(ent, "cluster")) {
				if (strlist_push(&r->from[nsrc < cap ? nsrc++ : cap].principals,
						 "*"))
					v->oom = true;
			} else if (!strcmp(ent, "world")) {
				if (strlist_push(&r->from[nsrc < cap ? nsrc++ : cap].not_principals,
						 "*"))
					v->oom = true;
			} else {
				verr(v,
				     "entity '%s' is not supported; expected \"all\", \"cluster\" "
				     "or \"world\"",
				     ent);
			}
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	r->n_from = all ? 0 : nsrc;
	if (all) {
		/* "all" makes the other peers irrelevant */
		for (i = 0; i < nsrc; i++) {
			strlist_free(&r->from[i].principals);
			strlist_free(&r->from[i].not_principals);
			strlist_free(&r->from[i].namespaces);
			free(r->from[i].ip_blocks.v);
			free(r->from[i].not_ip_blocks.v);
		}
		memset(r->from, 0, (cap + 1) * sizeof(*r->from));
	}
	if ((a = json_object_get(rj, "toPorts"))) {
		old = vctx_push_key(v, "toPorts");
		json_array_foreach (a, i, e) {
			size_t o2 = vctx_push_index(v, i);

			convert_toports(v, e, r, deny);
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	if (!r->to)
		r->to = calloc(1, sizeof(*r->to));
}

static void convert_cilium_spec(struct vctx *v, const struct shunt_config *c, json_t *spec,
				struct shunt_authz_policy *allow, struct shunt_authz_policy *deny,
				bool clusterwide)
{
	static const char *const keys[] = {
		"endpointSelector",  "ingress",	    "ingressDeny", "egress",
		"egressDeny",	     "description", "labels",	   "nodeSelector",
		"enableDefaultDeny", NULL};
	static const char *const unsup[] = {"nodeSelector", NULL};
	json_t *sel, *a, *e;
	size_t old, i;

	if (!json_is_object(spec)) {
		verr(v, "expected an object");
		return;
	}
	known_keys(v, spec, keys);
	unsupported_keys(v, spec, unsup, "host policies are out of scope; use endpointSelector");
	for (i = 0; i < 2; i++) {
		const char *k = i ? "egressDeny" : "egress";

		if (!json_object_get(spec, k))
			continue;
		old = vctx_push_key(v, k);
		verr_key(v,
			 "'%s' is not supported: shunt enforces at the destination; write ingress "
			 "rules for the destination workload",
			 k);
		vctx_pop(v, old);
	}
	if ((e = json_object_get(spec, "enableDefaultDeny"))) {
		json_t *ing = json_object_get(e, "ingress");

		if (ing && json_is_false(ing)) {
			old = vctx_push_key(v, "enableDefaultDeny");
			verr(v, "ingress default deny cannot be disabled in shunt (Istio ALLOW "
				"semantics)");
			vctx_pop(v, old);
		}
	}
	sel = json_object_get(spec, "endpointSelector");
	old = vctx_push_key(v, "endpointSelector");
	if (!sel) {
		verr(v, "missing required key 'endpointSelector'");
	} else {
		json_t *ml;
		const char *ns;

		if (!selector_labels(v, sel, &ml, &ns)) {
			const char *k;
			json_t *val;

			if (ns && clusterwide) {
				/* a cluster-wide policy for one namespace: a namespaced
				 * policy there */
				char *ns1 = strdup(ns), *ns2 = strdup(ns);

				free(allow->ns);
				free(deny->ns);
				allow->ns = ns1;
				deny->ns = ns2;
				if (!ns1 || !ns2)
					v->oom = true;
			} else if (ns && strcmp(ns, allow->ns)) {
				verr(v,
				     "endpointSelector names namespace '%s' but the policy is in "
				     "'%s'",
				     ns, allow->ns);
			}
			json_object_foreach (ml, k, val) {
				struct shunt_authz_policy *pp[2] = {allow, deny};

				if (is_ns_label(k))
					continue;
				for (int t = 0; t < 2; t++) {
					struct shunt_label *nl =
						realloc(pp[t]->match_labels,
							(pp[t]->n_match_labels + 1) * sizeof(*nl));

					if (!nl) {
						v->oom = true;
						break;
					}
					pp[t]->match_labels = nl;
					nl[pp[t]->n_match_labels].key = strdup(label_key(k));
					nl[pp[t]->n_match_labels].value =
						strdup(json_string_value(val));
					pp[t]->n_match_labels++;
				}
			}
			allow->has_selector = deny->has_selector = allow->n_match_labels > 0;
		}
	}
	vctx_pop(v, old);
	for (int t = 0; t < 2; t++) {
		struct shunt_authz_policy *p = t ? deny : allow;
		const char *k = t ? "ingressDeny" : "ingress";

		if (!(a = json_object_get(spec, k)))
			continue;
		old = vctx_push_key(v, k);
		if (!json_is_array(a)) {
			verr(v, "expected an array of rules");
		} else {
			struct shunt_rule *nr = realloc(
				p->rules, (p->n_rules + json_array_size(a) + 1) * sizeof(*nr));

			if (!nr) {
				v->oom = true;
			} else {
				p->rules = nr;
				json_array_foreach (a, i, e) {
					size_t o2 = vctx_push_index(v, i);
					bool empty;

					convert_cilium_rule(v, c, e, clusterwide ? NULL : p->ns,
							    &p->rules[p->n_rules], t == 1, &empty);
					if (!empty)
						p->n_rules++;
					vctx_pop(v, o2);
				}
			}
		}
		vctx_pop(v, old);
		/* marks that the section exists (an empty ingress list still
		 * turns on default deny in Cilium) */
		p->origin = p->origin ? p->origin : strdup(v->path);
	}
}

static void import_cilium(struct vctx *v, const struct shunt_config *c, json_t *obj,
			  struct polvec *out, bool clusterwide)
{
	static const char *const keys[] = {"apiVersion", "kind",   "metadata", "spec",
					   "specs",	 "status", NULL};
	struct shunt_authz_policy allow = {0}, deny = {0};
	json_t *m = json_object_get(obj, "metadata"), *j, *e;
	size_t old, i;
	char *allow_origin, *deny_origin;

	known_keys(v, obj, keys);
	j = json_object_get(obj, "apiVersion");
	if (!json_is_string(j) || strcmp(json_string_value(j), "cilium.io/v2")) {
		old = vctx_push_key(v, "apiVersion");
		verr(v, "unsupported apiVersion; expected \"cilium.io/v2\"");
		vctx_pop(v, old);
	}
	old = vctx_push_key(v, "metadata");
	if (!json_is_object(m) || !json_is_string(json_object_get(m, "name"))) {
		verr(v, "expected metadata with name and namespace");
		vctx_pop(v, old);
		return;
	}
	allow.name = strdup(json_string_value(json_object_get(m, "name")));
	/* the names must load again from the native form: same checks, and
	 * room for the "-deny" suffix of the DENY half */
	{
		size_t o2 = vctx_push_key(v, "name");

		if (allow.name && check_k8s_name(v, allow.name) && strlen(allow.name) > 248)
			verr(v, "name longer than 248 characters (the DENY half is '<name>-deny')");
		vctx_pop(v, o2);
	}
	j = json_object_get(m, "namespace");
	if (!clusterwide && j) {
		size_t o2 = vctx_push_key(v, "namespace");

		if (!json_is_string(j))
			verr(v, "expected a string");
		else
			check_k8s_name(v, json_string_value(j));
		vctx_pop(v, o2);
	}
	if (clusterwide && j) {
		size_t o2 = vctx_push_key(v, "namespace");

		verr_key(v, "a CiliumClusterwideNetworkPolicy has no namespace");
		vctx_pop(v, o2);
	}
	/* cluster-wide: the root namespace, whose policies apply everywhere */
	allow.ns = strdup(clusterwide	      ? c->options.root_namespace
			  : json_is_string(j) ? json_string_value(j)
					      : "default");
	vctx_pop(v, old);
	deny.ns = strdup(allow.ns);
	deny.name = malloc(strlen(allow.name) + 6);
	if (deny.name)
		sprintf(deny.name, "%s-deny", allow.name);
	allow.action = SHUNT_ACTION_ALLOW;
	deny.action = SHUNT_ACTION_DENY;
	if ((j = json_object_get(obj, "spec"))) {
		old = vctx_push_key(v, "spec");
		convert_cilium_spec(v, c, j, &allow, &deny, clusterwide);
		vctx_pop(v, old);
	}
	if ((j = json_object_get(obj, "specs"))) {
		old = vctx_push_key(v, "specs");
		json_array_foreach (j, i, e) {
			size_t o2 = vctx_push_index(v, i);

			/* each spec may select differently: only one selector is
			 * representable per policy */
			if (i > 0 || json_object_get(obj, "spec"))
				verr(v, "multiple specs are not supported; split the policy");
			else
				convert_cilium_spec(v, c, e, &allow, &deny, clusterwide);
			vctx_pop(v, o2);
		}
		vctx_pop(v, old);
	}
	allow_origin = allow.origin;
	deny_origin = deny.origin;
	allow.origin = strdup(v->path);
	deny.origin = strdup(v->path);
	for (int t = 0; t < 2; t++) {
		struct shunt_authz_policy *p = t ? &deny : &allow, *dst;
		/* any ingress or ingressDeny section puts the endpoint in
		 * default deny (Cilium): the ALLOW policy exists then, even
		 * without rules */
		bool present = t ? deny_origin != NULL : (allow_origin || deny_origin);

		if (present && (dst = polvec_add(out))) {
			*dst = *p;
		} else {
			if (present)
				v->oom = true;
			authz_policy_free(p);
		}
	}
	free(allow_origin);
	free(deny_origin);
}

static void import_object(struct vctx *v, const struct shunt_config *c, json_t *obj,
			  struct polvec *out)
{
	json_t *kind = json_object_get(obj, "kind");
	const char *k = json_is_string(kind) ? json_string_value(kind) : "";

	if (!json_is_object(obj)) {
		verr(v, "expected a Kubernetes object");
		return;
	}
	if (!strcmp(k, "AuthorizationPolicy")) {
		struct shunt_authz_policy *p = polvec_add(out);

		if (!p) {
			v->oom = true;
			return;
		}
		parse_authz_policy(v, obj, p, &c->options, true);
		p->origin = strdup(v->path);
		if (!json_object_get(obj, "apiVersion")) {
			size_t old = vctx_push_key(v, "apiVersion");

			verr(v, "missing apiVersion; expected \"security.istio.io/v1\" or "
				"\"security.istio.io/v1beta1\"");
			vctx_pop(v, old);
		}
	} else if (!strcmp(k, "CiliumNetworkPolicy")) {
		import_cilium(v, c, obj, out, false);
	} else if (!strcmp(k, "CiliumClusterwideNetworkPolicy")) {
		import_cilium(v, c, obj, out, true);
	} else {
		size_t old = vctx_push_key(v, "kind");

		verr(v,
		     "unsupported kind '%s'; expected AuthorizationPolicy, CiliumNetworkPolicy, "
		     "CiliumClusterwideNetworkPolicy or a List of them",
		     k);
		vctx_pop(v, old);
	}
}

int shunt_config_import_string(struct shunt_config *c, const char *json, const char *name,
			       struct shunt_diags *d)
{
	struct vctx v = {.file = name ? name : "<import>", .d = d};
	size_t first = d ? d->n : 0;
	struct polvec pv = {0};
	json_t *root = NULL, *items, *e;
	const char *kind;
	int err;
	size_t i;

	strcpy(v.path, "$");
	v.plen = 1;
	err = config_parse_text(json, strlen(json), v.file, &root, d);
	if (err)
		goto cleanup;
	kind = json_string_value(json_object_get(root, "kind"));
	items = json_object_get(root, "items");
	if (kind && strlen(kind) >= 4 && !strcmp(kind + strlen(kind) - 4, "List")) {
		size_t old = vctx_push_key(&v, "items");

		if (!json_is_array(items)) {
			verr(&v, "expected an array of objects");
		} else {
			json_array_foreach (items, i, e) {
				size_t o2 = vctx_push_index(&v, i);

				import_object(&v, c, e, &pv);
				vctx_pop(&v, o2);
			}
		}
		vctx_pop(&v, old);
	} else {
		import_object(&v, c, root, &pv);
	}
	if (!v.nerr && !v.oom) {
		struct shunt_authz_policy *all =
			realloc(c->policies, (c->n_policies + pv.n + 1) * sizeof(*all));

		if (!all) {
			v.oom = true;
		} else {
			size_t n0 = c->n_policies;

			c->policies = all;
			if (pv.n)
				memcpy(all + n0, pv.v, pv.n * sizeof(*all));
			check_unique_policies(&v, all, n0 + pv.n, n0);
			if (v.nerr) {
				/* roll back: the caller's config is unchanged */
				memset(all + n0, 0, pv.n * sizeof(*all));
			} else {
				c->n_policies += pv.n;
				pv.n = 0;
			}
		}
	}
	err = v.oom ? -ENOMEM : v.nerr ? -EINVAL : 0;
cleanup:
	for (i = 0; i < pv.n; i++)
		authz_policy_free(&pv.v[i]);
	free(pv.v);
	if (d) {
		jpos_resolve(json, strlen(json), d, first);
		diags_sort(d, first);
	}
	json_decref(root);
	return err;
}

int shunt_config_import_file(struct shunt_config *c, const char *path, struct shunt_diags *d)
{
	char *text;
	int err = read_text_file(path, &text, d, false);

	if (err)
		return err;
	err = shunt_config_import_string(c, text, path, d);
	free(text);
	return err;
}
