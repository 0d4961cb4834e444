// SPDX-License-Identifier: Apache-2.0
#include "capture_cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shunt/l4.h"

/* A trie key (IPv4 as ::ffff:a.b.c.d/96+n) and its text from a config CIDR. */
static void cidr_to_opt(const struct shunt_cidr *c, struct shunt_opt_cidr *oc)
{
	memset(oc, 0, sizeof(*oc));
	if (c->family == AF_INET) {
		oc->key.addr[10] = oc->key.addr[11] = 0xff;
		memcpy(&oc->key.addr[12], c->addr, 4);
		oc->key.prefixlen = 96u + c->prefix;
	} else {
		memcpy(oc->key.addr, c->addr, 16);
		oc->key.prefixlen = c->prefix;
	}
	shunt_format_cidr(oc->text, sizeof(oc->text), &oc->key);
}

static int add_ports(uint16_t *v, size_t *n, const struct shunt_portlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (*n >= SHUNT_OPTS_MAX_LIST)
			return -E2BIG;
		v[(*n)++] = l->v[i];
	}
	return 0;
}

static int add_cidrs(struct shunt_opt_cidr *v, size_t *n, const struct shunt_cidrlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (*n >= SHUNT_OPTS_MAX_LIST)
			return -E2BIG;
		cidr_to_opt(&l->v[i], &v[(*n)++]);
	}
	return 0;
}

int shunt_capture_apply_config(struct shunt_opts *o, const struct shunt_capture_config *c,
			       char *err, size_t errlen)
{
	int e = 0;

	if (!c->present)
		return 0;
	if (c->has_mode && !(o->set & SHUNT_OPT_SET_CAPTURE))
		o->capture = (enum shunt_capture_mode)c->mode;
	if (c->has_proxy_uid && !(o->set & SHUNT_OPT_SET_PROXY_UID))
		o->proxy_uid = c->proxy_uid < 0 ? SHUNT_UID_NONE : (uint32_t)c->proxy_uid;
	if (c->has_proxy_mark && !(o->set & SHUNT_OPT_SET_PROXY_MARK))
		o->proxy_mark = c->proxy_mark;
	if (c->has_outbound_port && !(o->set & SHUNT_OPT_SET_OUT_PORT))
		o->outbound_port = c->outbound_port;
	if (c->has_inbound_port && !(o->set & SHUNT_OPT_SET_IN_PORT))
		o->inbound_port = c->inbound_port;
	if (c->has_inbound_capture && !(o->set & SHUNT_OPT_SET_IN_CAPTURE))
		o->inbound_capture = c->inbound_capture;
	if (c->has_l4_policy && !(o->set & SHUNT_OPT_SET_L4_POLICY))
		o->l4_policy = c->l4_policy;
	if (c->has_l7_proxy && !(o->set & SHUNT_OPT_SET_NO_L7_PROXY))
		o->no_l7_proxy = !c->l7_proxy;
	if (c->include_outbound != SHUNT_SEL_UNSET && !(o->set & SHUNT_OPT_SET_OUT_INCLUDE)) {
		o->out_include_all = c->include_outbound == SHUNT_SEL_ALL;
		o->n_out_include = 0;
		e = add_cidrs(o->out_include, &o->n_out_include, &c->include_outbound_cidrs);
	}
	if (!e)
		e = add_cidrs(o->out_exclude, &o->n_out_exclude, &c->exclude_outbound_cidrs);
	if (!e)
		e = add_ports(o->excl_out, &o->n_excl_out, &c->exclude_outbound_ports);
	if (!e)
		e = add_ports(o->excl_in, &o->n_excl_in, &c->exclude_inbound_ports);
	if (!e)
		e = add_ports(o->incl_out, &o->n_incl_out, &c->include_outbound_ports);
	for (size_t i = 0; !e && i < c->proxy_cgroups.n; i++) {
		if (o->n_proxy_cgroups >= SHUNT_OPTS_MAX_LIST)
			e = -E2BIG;
		else
			o->proxy_cgroups[o->n_proxy_cgroups++] = c->proxy_cgroups.v[i];
	}
	if (e) {
		snprintf(err, errlen, "too many capture entries (max %d per list)",
			 SHUNT_OPTS_MAX_LIST);
		return e;
	}
	if (o->outbound_port == o->inbound_port) {
		snprintf(err, errlen, "capture: outbound and inbound port are both %u",
			 o->outbound_port);
		return -EINVAL;
	}
	return 0;
}

/* Flags an identity gets on its cgroups (cg) and on its addresses (addr). */
struct wflags {
	uint32_t cg, addr;
	bool nosidecar;
};

static int wport_add(struct shunt_icpt_tables *t, size_t cap, uint32_t id, uint16_t port,
		     uint32_t flags)
{
	for (size_t i = 0; i < t->n_wport; i++) {
		if (t->wport[i].key.identity == id && t->wport[i].key.port == port) {
			t->wport[i].flags |= flags;
			return 0;
		}
	}
	if (t->n_wport >= cap)
		return -E2BIG;
	memset(&t->wport[t->n_wport], 0, sizeof(t->wport[0]));
	t->wport[t->n_wport].key.identity = id;
	t->wport[t->n_wport].key.port = port;
	t->wport[t->n_wport].flags = flags;
	t->n_wport++;
	return 0;
}

/* Ports of one workload; sets its identity flags. */
static int workload_ports(struct shunt_icpt_tables *t, size_t cap, uint32_t id,
			  const struct shunt_workload_capture *wc, struct wflags *f)
{
	size_t first = t->n_wport, i;
	int err = 0;

	for (i = 0; !err && i < wc->exclude_outbound_ports.n; i++)
		err = wport_add(t, cap, id, wc->exclude_outbound_ports.v[i],
				SHUNT_PORT_NO_OUTBOUND);
	for (i = 0; !err && i < wc->exclude_inbound_ports.n; i++)
		err = wport_add(t, cap, id, wc->exclude_inbound_ports.v[i], SHUNT_PORT_NO_INBOUND);
	for (i = 0; !err && i < wc->include_outbound_ports.n; i++)
		err = wport_add(t, cap, id, wc->include_outbound_ports.v[i],
				SHUNT_PORT_OUT_INCLUDE);
	if (wc->include_inbound == SHUNT_SEL_LIST) {
		f->addr |= SHUNT_IDENT_IN_ONLY;
		for (i = 0; !err && i < wc->include_inbound_ports.n; i++)
			err = wport_add(t, cap, id, wc->include_inbound_ports.v[i],
					SHUNT_PORT_IN_INCLUDE);
	}
	if (t->n_wport > first) {
		f->cg |= SHUNT_IDENT_WPORTS;
		f->addr |= SHUNT_IDENT_WPORTS;
	}
	return err;
}

static void own_cidrs(struct shunt_icpt_tables *t, uint32_t id, const struct shunt_cidrlist *l,
		      int kind)
{
	struct shunt_opt_cidr oc;

	for (size_t i = 0; i < l->n; i++) {
		cidr_to_opt(&l->v[i], &oc);
		shunt_out_cidr_entry(&t->out_cidr[t->n_out_cidr++], id, &oc.key, kind);
	}
}

/* Own outbound ranges of one workload (each list it sets replaces the global one). */
static void workload_cidrs(struct shunt_icpt_tables *t, const struct shunt_opts *o, uint32_t id,
			   const struct shunt_workload_capture *wc, struct wflags *f)
{
	static const struct shunt_cidr_key all = {0};
	size_t i;

	if (wc->include_outbound == SHUNT_SEL_UNSET && wc->exclude_outbound == SHUNT_SEL_UNSET)
		return;
	f->cg |= SHUNT_IDENT_OWN_CIDRS;
	if (wc->include_outbound == SHUNT_SEL_ALL ||
	    (wc->include_outbound == SHUNT_SEL_UNSET && o->out_include_all)) {
		shunt_out_cidr_entry(&t->out_cidr[t->n_out_cidr++], id, &all, SHUNT_CIDR_INCLUDE);
	} else if (wc->include_outbound == SHUNT_SEL_LIST) {
		own_cidrs(t, id, &wc->include_outbound_cidrs, SHUNT_CIDR_INCLUDE);
	} else {
		for (i = 0; i < o->n_out_include; i++)
			shunt_out_cidr_entry(&t->out_cidr[t->n_out_cidr++], id,
					     &o->out_include[i].key, SHUNT_CIDR_INCLUDE);
	}
	if (wc->exclude_outbound != SHUNT_SEL_UNSET) {
		/* its own list, possibly empty: no exclusion at all */
		own_cidrs(t, id, &wc->exclude_outbound_cidrs, SHUNT_CIDR_EXCLUDE);
	} else {
		for (i = 0; i < o->n_out_exclude; i++)
			shunt_out_cidr_entry(&t->out_cidr[t->n_out_cidr++], id,
					     &o->out_exclude[i].key, SHUNT_CIDR_EXCLUDE);
	}
}

int shunt_capture_tables(const struct shunt_config *cfg, const struct shunt_opts *o,
			 struct shunt_icpt_tables *t)
{
	size_t nports = 0, ncidrs = 0, i;
	struct wflags *f = NULL;
	uint32_t maxid = 0;
	int err = 0;

	for (i = 0; i < cfg->n_workloads; i++) {
		const struct shunt_workload_capture *wc = &cfg->workloads[i].capture;

		nports += wc->exclude_outbound_ports.n + wc->exclude_inbound_ports.n +
			  wc->include_inbound_ports.n + wc->include_outbound_ports.n;
		ncidrs += wc->include_outbound_cidrs.n + wc->exclude_outbound_cidrs.n +
			  o->n_out_include + o->n_out_exclude + 1;
		if (shunt_identity_of((int)i) > maxid)
			maxid = shunt_identity_of((int)i);
	}
	f = calloc((size_t)maxid + 1, sizeof(*f));
	t->wport = calloc(nports + 1, sizeof(*t->wport));
	t->out_cidr = calloc(ncidrs + 1, sizeof(*t->out_cidr));
	if (!f || !t->wport || !t->out_cidr) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; !err && i < cfg->n_workloads; i++) {
		const struct shunt_workload *w = &cfg->workloads[i];
		uint32_t id = shunt_identity_of((int)i);

		if (w->sidecar == 0) {
			/* no sidecar: never captured itself, never an inbound target */
			f[id].nosidecar = true;
			f[id].cg |= SHUNT_IDENT_NOSIDECAR;
			continue;
		}
		err = workload_ports(t, nports, id, &w->capture, &f[id]);
		workload_cidrs(t, o, id, &w->capture, &f[id]);
	}
	if (err)
		goto cleanup;
	for (i = 0; i < t->n_cg; i++) {
		uint32_t id = t->cg[i].v.identity;

		if ((t->cg[i].v.flags & SHUNT_IDENT_HAS) && id <= maxid)
			t->cg[i].v.flags |= f[id].cg;
	}
	for (i = 0; i < t->n_addr; i++) {
		uint32_t id = t->addr[i].v.identity;

		if (!(t->addr[i].v.flags & SHUNT_IDENT_HAS) || id > maxid)
			continue;
		t->addr[i].v.flags |= f[id].addr;
		if (f[id].nosidecar) /* NOSIDECAR here only for shuntctl status */
			t->addr[i].v.flags =
				(t->addr[i].v.flags & ~SHUNT_IDENT_MESHED) | SHUNT_IDENT_NOSIDECAR;
	}
	t->n_out_cidr = shunt_out_cidrs_close(t->out_cidr, t->n_out_cidr);
cleanup:
	free(f);
	if (err)
		shunt_capture_tables_free(t);
	return err;
}

void shunt_capture_tables_free(struct shunt_icpt_tables *t)
{
	free(t->wport);
	free(t->out_cidr);
	t->wport = NULL;
	t->out_cidr = NULL;
	t->n_wport = 0;
	t->n_out_cidr = 0;
}
