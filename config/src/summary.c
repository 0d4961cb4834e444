// SPDX-License-Identifier: Apache-2.0
/*
 * Human-readable meaning of a config, for `shuntctl validate`: workloads
 * with their principals, policies with the workloads they select and their
 * rules, and per destination who may call which port (from the L4 table).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compiled.h"
#include "shunt/l4.h"

static void put_list(FILE *f, const char *name, const struct shunt_strlist *l)
{
	if (!l->n)
		return;
	fprintf(f, " %s [", name);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s%s", i ? ", " : "", l->v[i]);
	fputc(']', f);
}

static void put_cidrs(FILE *f, const char *name, const struct shunt_cidrlist *l)
{
	char buf[64];

	if (!l->n)
		return;
	fprintf(f, " %s [", name);
	for (size_t i = 0; i < l->n; i++) {
		cidr_format(&l->v[i], buf, sizeof(buf));
		fprintf(f, "%s%s", i ? ", " : "", buf);
	}
	fputc(']', f);
}

static void put_ports(FILE *f, const char *name, const struct shunt_portlist *l)
{
	if (!l->n)
		return;
	fprintf(f, " %s [", name);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s%u", i ? ", " : "", l->v[i]);
	fputc(']', f);
}

/* A list that may be "*" (SHUNT_SEL_ALL), explicit or empty (nothing). */
static void put_sel(FILE *f, const char *name, enum shunt_sel sel,
		    const struct shunt_portlist *ports, const struct shunt_cidrlist *cidrs)
{
	if (sel == SHUNT_SEL_UNSET)
		return;
	if (sel == SHUNT_SEL_ALL)
		fprintf(f, " %s [*]", name);
	else if ((ports && !ports->n) || (cidrs && !cidrs->n))
		fprintf(f, " %s [] (none)", name);
	else if (ports)
		put_ports(f, name, ports);
	else
		put_cidrs(f, name, cidrs);
}

static void put_workload_capture(FILE *f, const struct shunt_workload *w)
{
	const struct shunt_workload_capture *c = &w->capture;

	if (w->sidecar == 0)
		fprintf(f, " sidecar false (never captured)");
	put_sel(f, "includeInboundPorts", c->include_inbound, &c->include_inbound_ports, NULL);
	put_ports(f, "excludeInboundPorts", &c->exclude_inbound_ports);
	put_ports(f, "excludeOutboundPorts", &c->exclude_outbound_ports);
	put_ports(f, "includeOutboundPorts", &c->include_outbound_ports);
	put_sel(f, "includeOutboundCidrs", c->include_outbound, NULL, &c->include_outbound_cidrs);
	put_sel(f, "excludeOutboundCidrs", c->exclude_outbound, NULL, &c->exclude_outbound_cidrs);
}

static void put_capture(FILE *f, const struct shunt_capture_config *c)
{
	static const char *const modes[] = {"off", "l7", "istio"};

	if (!c->present) {
		fprintf(f, "capture: not configured (shuntd flags decide)\n");
		return;
	}
	fprintf(f, "capture: mode %s, proxyUid ", modes[c->mode]);
	if (c->proxy_uid == SHUNT_CFG_PROXY_UID_NONE)
		fprintf(f, "none");
	else
		fprintf(f, "%lld", (long long)c->proxy_uid);
	fprintf(f, ", proxyMark %u, outbound %u, inbound %u%s, l4Policy %s, l7Proxy %s\n ",
		c->proxy_mark, c->outbound_port, c->inbound_port,
		c->inbound_capture ? "" : " (inbound capture off)", c->l4_policy ? "on" : "off",
		c->l7_proxy ? "on" : "off");
	put_list(f, "proxyCgroups", &c->proxy_cgroups);
	put_ports(f, "excludeOutboundPorts", &c->exclude_outbound_ports);
	put_ports(f, "excludeInboundPorts", &c->exclude_inbound_ports);
	put_ports(f, "includeOutboundPorts", &c->include_outbound_ports);
	if (c->include_outbound == SHUNT_SEL_UNSET)
		fprintf(f, " includeOutboundCidrs [*]");
	put_sel(f, "includeOutboundCidrs", c->include_outbound, NULL, &c->include_outbound_cidrs);
	put_cidrs(f, "excludeOutboundCidrs", &c->exclude_outbound_cidrs);
	fputc('\n', f);
}

static void put_addr(FILE *f, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN + 8];

	shunt_sockaddr_format(ss, a, sizeof(a));
	fputs(a, f);
}

static void put_rule(FILE *f, const struct shunt_rule *r)
{
	static const char *const keys[] = {"source.ip", "source.namespace", "source.principal",
					   "destination.port"};

	if (!r->n_from && !r->n_to && !r->n_when) {
		fprintf(f, " any request");
		return;
	}
	for (size_t i = 0; i < r->n_from; i++) {
		const struct shunt_source *s = &r->from[i];

		fprintf(f, "%s", i ? " | or from" : " from");
		put_list(f, "principals", &s->principals);
		put_list(f, "notPrincipals", &s->not_principals);
		put_list(f, "namespaces", &s->namespaces);
		put_list(f, "notNamespaces", &s->not_namespaces);
		put_cidrs(f, "ipBlocks", &s->ip_blocks);
		put_cidrs(f, "notIpBlocks", &s->not_ip_blocks);
	}
	for (size_t i = 0; i < r->n_to; i++) {
		const struct shunt_operation *o = &r->to[i];
		bool empty = !o->methods.n && !o->not_methods.n && !o->paths.n && !o->not_paths.n &&
			     !o->hosts.n && !o->not_hosts.n && !o->ports.n && !o->not_ports.n;

		fprintf(f, "%s", i ? " | or to" : " to");
		if (empty)
			fprintf(f, " anything");
		put_list(f, "methods", &o->methods);
		put_list(f, "notMethods", &o->not_methods);
		put_list(f, "paths", &o->paths);
		put_list(f, "notPaths", &o->not_paths);
		put_list(f, "hosts", &o->hosts);
		put_list(f, "notHosts", &o->not_hosts);
		put_ports(f, "ports", &o->ports);
		put_ports(f, "notPorts", &o->not_ports);
	}
	for (size_t i = 0; i < r->n_when; i++) {
		fprintf(f, " when %s", keys[r->when[i].key]);
		put_list(f, "in", &r->when[i].values);
		put_list(f, "notIn", &r->when[i].not_values);
	}
}

static const char *l4_name(uint8_t v)
{
	return v == SHUNT_L4_ALLOW ? "allow" : v == SHUNT_L4_DENY ? "deny" : "L7 proxy decides";
}

static void put_access(FILE *f, const struct shunt_policy *p)
{
	struct shunt_l4_entry *v = NULL;
	size_t n = 0;

	if (shunt_policy_l4_entries(p, &v, &n)) {
		fprintf(f, "  (out of memory)\n");
		return;
	}
	/* entries are sorted by destination: walk them alongside the workloads */
	size_t pos = 0, end;

	for (size_t w = 0; w < p->n_w; w++) {
		uint32_t dst = shunt_identity_of((int)w);
		bool any = false;

		while (pos < n && v[pos].dst_identity < dst)
			pos++;
		for (end = pos; end < n && v[end].dst_identity == dst; end++)
			;

		if (!p->dst[w]) {
			fprintf(f, "  %s: no policy selects it: every caller, every port allowed\n",
				p->w[w].qname);
			continue;
		}
		fprintf(f, "  %s (%s):\n", p->w[w].qname,
			p->dst[w]->has_allow ? "ALLOW policies select it: default deny"
					     : "no ALLOW policy: default allow");
		/* specific ports first, then "other ports" */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = pos; i < end; i++) {
				const struct shunt_l4_entry *e = &v[i];
				char port[16];

				if ((pass == 0) != (e->port != 0))
					continue;
				any = true;
				if (e->port)
					snprintf(port, sizeof(port), "port %u", e->port);
				else
					snprintf(port, sizeof(port), "other ports");
				if (e->src_identity == SHUNT_IDENTITY_ANY)
					fprintf(f, "    %-12s any other caller: %s\n", port,
						l4_name(e->verdict));
				else if (e->src_identity == SHUNT_IDENTITY_WORLD)
					fprintf(f, "    %-12s callers outside the registry: %s\n",
						port, l4_name(e->verdict));
				else
					fprintf(f, "    %-12s %s: %s\n", port,
						p->w[e->src_identity - SHUNT_IDENTITY_FIRST].qname,
						l4_name(e->verdict));
			}
		}
		if (!any)
			fprintf(f, "    (no entries)\n");
	}
	free(v);
}

static void put_src(FILE *f, const struct shunt_policy *p, uint32_t src)
{
	if (src == SHUNT_IDENTITY_ANY)
		fprintf(f, "any other caller");
	else if (src == SHUNT_IDENTITY_WORLD)
		fprintf(f, "callers outside the registry");
	else
		fprintf(f, "%s", p->w[src - SHUNT_IDENTITY_FIRST].qname);
}

/* Services: VIPs, ports, backends and (with p) their derived L3/L4 entries. */
static void put_services(FILE *f, const struct shunt_config *c, const struct shunt_policy *p)
{
	struct shunt_l4_entry *v = NULL;
	size_t n = 0;
	char buf[64];

	fprintf(f, "services (%zu):\n", c->n_services);
	if (p && c->n_services && shunt_policy_l4_entries(p, &v, &n))
		fprintf(f, "  (out of memory)\n");
	for (size_t j = 0; j < c->n_services; j++) {
		const struct shunt_service *s = &c->services[j];
		uint32_t id = shunt_service_identity(j);
		bool any = false;

		fprintf(f, "  %s/%s  clusterIPs", s->ns, s->name);
		for (size_t k = 0; k < s->cluster_ips.n; k++) {
			cidr_format(&s->cluster_ips.v[k], buf, sizeof(buf));
			fprintf(f, " %s", buf);
		}
		fprintf(f, " ports");
		for (size_t k = 0; k < s->n_ports; k++)
			fprintf(f, " %u->%u", s->ports[k].port, s->ports[k].target_port);
		if (!s->n_ports)
			fprintf(f, " (no TCP port)");
		fprintf(f, " selector");
		for (size_t k = 0; k < s->n_selector; k++)
			fprintf(f, " %s=%s", s->selector[k].key, s->selector[k].value);
		fprintf(f, "\n    backends:");
		for (size_t w = 0; w < c->n_workloads; w++) {
			if (shunt_service_selects(s, &c->workloads[w])) {
				fprintf(f, " %s/%s", c->workloads[w].ns, c->workloads[w].name);
				any = true;
			}
		}
		fprintf(f, "%s\n", any ? "" : " (none)");
		if (!p)
			continue;
		any = false;
		for (size_t i = 0; i < n; i++) {
			if (v[i].dst_identity != id)
				continue;
			any = true;
			if (v[i].port)
				fprintf(f, "    port %-7u ", v[i].port);
			else
				fprintf(f, "    other ports  ");
			put_src(f, p, v[i].src_identity);
			fprintf(f, ": %s\n", l4_name(v[i].verdict));
		}
		if (!any)
			fprintf(f, "    no policy selects a backend: every caller allowed\n");
	}
	free(v);
}

int shunt_config_summary(const struct shunt_config *c, const struct shunt_policy *p, FILE *f)
{
	static const char *const actions[] = {"ALLOW", "DENY", "AUDIT"};
	struct smap sel = {0};
	char buf[64];
	int err = 0;

	fprintf(f, "config %s\n", c->source ? c->source : "<config>");
	fprintf(f,
		"options: escapedSlashes=%s caseInsensitivePaths=%s rootNamespace=%s "
		"trustDomain=%s\n",
		c->options.decode_escaped_slashes ? "decode-and-merge" : "reject",
		c->options.case_insensitive_paths ? "true" : "false", c->options.root_namespace,
		c->options.trust_domain);
	fprintf(f, "workloads (%zu):\n", c->n_workloads);
	for (size_t i = 0; i < c->n_workloads; i++) {
		const struct shunt_workload *w = &c->workloads[i];

		fprintf(f, "  %s/%s  principal %s\n   ", w->ns, w->name, w->principal);
		if (w->n_addresses) {
			fprintf(f, " addresses");
			for (size_t k = 0; k < w->n_addresses; k++) {
				cidr_format(&w->addresses[k], buf, sizeof(buf));
				fprintf(f, " %s", buf);
			}
		}
		put_list(f, "cgroups", &w->cgroups);
		if (w->n_labels) {
			fprintf(f, " labels");
			for (size_t k = 0; k < w->n_labels; k++)
				fprintf(f, " %s=%s", w->labels[k].key, w->labels[k].value);
		}
		put_workload_capture(f, w);
		fputc('\n', f);
	}
	/* policy "ns/name" -> workloads it selects, in one pass */
	for (size_t w = 0; p && w < p->n_w; w++) {
		const struct dindex *x = p->dst[w];

		for (size_t k = 0; x && k < x->n_pols; k++)
			if (smap_add(&sel, x->cp[k]->qname, (uint32_t)w))
				err = -ENOMEM;
	}
	fprintf(f, "policies (%zu):\n", c->n_policies);
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct shunt_authz_policy *pol = &c->policies[i];

		fprintf(f, "  %s/%s %s", pol->ns, pol->name, actions[pol->action]);
		bool root = !strcmp(pol->ns, c->options.root_namespace);

		for (size_t k = 0; k < c->options.extra_root_namespaces.n; k++)
			root |= !strcmp(pol->ns, c->options.extra_root_namespaces.v[k]);
		if (root)
			fprintf(f, ", root namespace: all namespaces");
		if (pol->has_selector && pol->n_match_labels) {
			fprintf(f, ", selector");
			for (size_t k = 0; k < pol->n_match_labels; k++)
				fprintf(f, " %s=%s", pol->match_labels[k].key,
					pol->match_labels[k].value);
		} else {
			fprintf(f, ", every workload of the namespace");
		}
		if (p) {
			char q[600];
			const struct smap_ent *e;

			snprintf(q, sizeof(q), "%s/%s", pol->ns, pol->name);
			e = smap_find(&sel, q);
			fprintf(f, "; selects:");
			for (size_t k = 0; e && k < e->l.n; k++)
				fprintf(f, " %s", p->w[e->l.v[k]].qname);
			if (!e)
				fprintf(f, " (nothing)");
		}
		fputc('\n', f);
		if (!pol->n_rules)
			fprintf(f, "    no rules: matches nothing%s\n",
				pol->action == SHUNT_ACTION_ALLOW
					? " (selected workloads deny everything)"
					: "");
		for (size_t r = 0; r < pol->n_rules; r++) {
			fprintf(f, "    rule %zu:", r + 1);
			put_rule(f, &pol->rules[r]);
			fputc('\n', f);
		}
	}
	if (p) {
		fprintf(f, "access (L3/L4; \"L7 proxy decides\" = HTTP rules apply):\n");
		put_access(f, p);
	}
	if (c->n_services)
		put_services(f, c, p);
	fprintf(f, "proxy: %zu listener(s), workers %u", c->proxy.n_listeners, c->proxy.workers);
	if (c->proxy.has_admin) {
		fprintf(f, ", admin ");
		put_addr(f, &c->proxy.admin);
	}
	fputc('\n', f);
	for (size_t i = 0; i < c->proxy.n_listeners; i++) {
		const struct shunt_listener *l = &c->proxy.listeners[i];

		fprintf(f, "  %s ", l->name);
		put_addr(f, &l->address);
		fprintf(f, " -> ");
		if (l->upstream_original_dst)
			fprintf(f, "original destination");
		else
			put_addr(f, &l->upstream);
		/* the defaults (http, enforced) stay unsaid */
		if (l->mode == SHUNT_LISTENER_TCP)
			fprintf(f, ", tcp relay");
		if (!l->enforce)
			fprintf(f, ", not enforced");
		fputc('\n', f);
	}
	fprintf(f, "accelerate: cgroup %s\n", c->accelerate.cgroup ? c->accelerate.cgroup : "-");
	put_capture(f, &c->capture);
	smap_free(&sel);
	if (err)
		return err;
	return ferror(f) ? -EIO : 0;
}
