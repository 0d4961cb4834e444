// SPDX-License-Identifier: Apache-2.0
/*
 * shuntctl: inspect a running shuntd through its pinned maps, and validate
 * config files.
 *   shuntctl [--pin-dir DIR] status [--json]
 *   shuntctl [--pin-dir DIR] conns [--json]
 *   shuntctl validate FILE...
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shunt_agent.h"
#include "shunt_opts.h"

#ifdef SHUNT_HAVE_CONFIG
#include "shunt/config.h"
#include "shunt/policy.h"
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: shuntctl [--pin-dir DIR] status [--json]\n"
		   "       shuntctl [--pin-dir DIR] conns [--json]\n"
		   "       shuntctl validate FILE...\n");
}

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0; /* shuntctl reports its own errors */
}

static int open_pinned(const char *pin_dir, struct shunt_pinned *p)
{
	int err = shunt_pinned_open(pin_dir, p);

	if (err == -ENOENT)
		fprintf(stderr, "shuntctl: no shunt state pinned in %s/%s (is shuntd running?)\n",
			pin_dir, SHUNT_PIN_VERSION);
	else if (err)
		fprintf(stderr, "shuntctl: failed to open pinned state in %s: %s\n", pin_dir,
			strerror(-err));
	return err;
}

static const char *mode_name(uint32_t m)
{
	return m == SHUNT_MODE_ON ? "on" : m == SHUNT_MODE_DRAIN ? "drain" : "unknown";
}

static int json_print(json_t *j)
{
	int err = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) ? -EIO : 0;

	fputc('\n', stdout);
	json_decref(j);
	return err;
}

/* Eligibility policy as shuntd loaded it: excluded ports, include/exclude CIDRs. */
static void read_policy(const struct shunt_pinned *p, json_t *ports, json_t *inc, json_t *exc)
{
	__u16 port, *pprev = NULL, pnext;
	struct shunt_cidr_key ck, *cprev = NULL, cnext;
	char text[80];
	__u32 v;

	while (p->ports >= 0 && bpf_map_get_next_key(p->ports, pprev, &pnext) == 0) {
		port = pnext;
		pprev = &port;
		json_array_append_new(ports, json_integer(port));
	}
	while (p->cidrs >= 0 && bpf_map_get_next_key(p->cidrs, cprev, &cnext) == 0) {
		ck = cnext;
		cprev = &ck;
		if (bpf_map_lookup_elem(p->cidrs, &ck, &v))
			continue;
		shunt_format_cidr(text, sizeof(text), &ck);
		json_array_append_new(v == SHUNT_CIDR_INCLUDE ? inc : exc, json_string(text));
	}
}

static void print_list(const char *label, json_t *arr)
{
	size_t i;
	json_t *e;

	printf("%s", label);
	if (!json_array_size(arr))
		printf(" -");
	json_array_foreach (arr, i, e) {
		if (json_is_integer(e))
			printf(" %lld", (long long)json_integer_value(e));
		else
			printf(" %s", json_string_value(e));
	}
	putchar('\n');
}

/* Capture settings as shuntd loaded them (connect4/6 maps). */
struct capture_view {
	json_t *out_inc, *out_exc;	       /* global outbound ranges */
	json_t *incl_out, *excl_out, *excl_in; /* global ports */
	int n_overrides;		       /* workloads with their own capture settings */
	int n_wports, n_wranges;	       /* their port and range entries */
	int n_nosidecar;		       /* workloads with "sidecar": false */
	int n_services;			       /* services with a clusterIP in the address map */
};

/* SHUNT_IDENTITY_SERVICE_FIRST of config/include/shunt/l4.h (shuntctl may be
 * built without the config library) */
#define SVC_IDENTITY_FIRST 0x80000000u

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* Distinct values among v[0..n) (sorts v). */
static int count_distinct(uint32_t *v, size_t n)
{
	int d = 0;

	if (!n)
		return 0; /* v may be NULL */
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (!i || v[i] != v[i - 1])
			d++;
	return d;
}

/* Append identity id to the growable array *ids. */
static int ids_push(uint32_t **ids, size_t *n, size_t *cap, uint32_t id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint32_t *t = realloc(*ids, c * sizeof(*t));

		if (!t)
			return -ENOMEM;
		*ids = t;
		*cap = c;
	}
	(*ids)[(*n)++] = id;
	return 0;
}

static void read_capture_ports(const struct shunt_pinned *p, struct capture_view *cv)
{
	__u16 port, *prev = NULL, next;
	uint32_t ports[SHUNT_MAX_PORTS], flags[SHUNT_MAX_PORTS], order[SHUNT_MAX_PORTS];
	size_t n = 0, i;
	__u32 v;

	while (p->icpt_ports >= 0 && n < SHUNT_MAX_PORTS &&
	       bpf_map_get_next_key(p->icpt_ports, prev, &next) == 0) {
		port = next;
		prev = &port;
		if (bpf_map_lookup_elem(p->icpt_ports, &port, &v))
			continue;
		order[n] = ((uint32_t)port << 16) | (uint32_t)n;
		ports[n] = port;
		flags[n] = v;
		n++;
	}
	qsort(order, n, sizeof(order[0]), cmp_u32); /* ascending port numbers */
	for (i = 0; i < n; i++) {
		size_t k = order[i] & 0xffff;

		if (flags[k] & SHUNT_PORT_OUT_INCLUDE)
			json_array_append_new(cv->incl_out, json_integer(ports[k]));
		if (flags[k] & SHUNT_PORT_NO_OUTBOUND)
			json_array_append_new(cv->excl_out, json_integer(ports[k]));
		if (flags[k] & SHUNT_PORT_NO_INBOUND)
			json_array_append_new(cv->excl_in, json_integer(ports[k]));
	}
}

/* Global ranges and per-workload overrides. Returns 0 or -ENOMEM. */
static int read_capture(const struct shunt_pinned *p, struct capture_view *cv)
{
	struct shunt_icpt_out_cidr *oc = NULL, *t;
	struct shunt_out_cidr_key ok, ocur, *oprev = NULL;
	struct shunt_wport_key wk, wcur, *wprev = NULL;
	struct shunt_cidr_key ak, acur, *aprev = NULL;
	__u64 cgk, ccur, *cprev = NULL;
	struct shunt_ident id;
	uint32_t *ids = NULL, *nosc = NULL, *svcs = NULL;
	size_t n_oc = 0, cap_oc = 0, n_ids = 0, cap_ids = 0, n_nosc = 0, cap_nosc = 0, i;
	size_t n_svcs = 0, cap_svcs = 0;
	char text[80];
	int err = 0;

	read_capture_ports(p, cv);
	while (p->out_cidrs >= 0 && bpf_map_get_next_key(p->out_cidrs, oprev, &ok) == 0) {
		if (n_oc == cap_oc) {
			cap_oc = cap_oc ? cap_oc * 2 : 64;
			t = realloc(oc, cap_oc * sizeof(*oc));
			if (!t) {
				err = -ENOMEM;
				goto cleanup;
			}
			oc = t;
		}
		ocur = ok;
		oprev = &ocur;
		oc[n_oc].key = ok;
		if (bpf_map_lookup_elem(p->out_cidrs, &ok, &oc[n_oc].flags))
			continue;
		n_oc++;
	}
	for (i = 0; i < n_oc; i++) {
		if (oc[i].key.identity != SHUNT_IDENT_ANY) {
			cv->n_wranges++;
			err = ids_push(&ids, &n_ids, &cap_ids, oc[i].key.identity);
			if (err)
				goto cleanup;
			continue;
		}
		shunt_format_out_cidr(text, sizeof(text), &oc[i].key);
		if (shunt_out_cidr_listed(oc, n_oc, i, SHUNT_CIDR_INCLUDE))
			json_array_append_new(cv->out_inc, json_string(text));
		if (shunt_out_cidr_listed(oc, n_oc, i, SHUNT_CIDR_EXCLUDE))
			json_array_append_new(cv->out_exc, json_string(text));
	}
	while (p->icpt_wports >= 0 && bpf_map_get_next_key(p->icpt_wports, wprev, &wk) == 0) {
		wcur = wk;
		wprev = &wcur;
		cv->n_wports++;
		err = ids_push(&ids, &n_ids, &cap_ids, wk.identity);
		if (err)
			goto cleanup;
	}
	/* includeInboundPorts [] (IN_ONLY without port entries); "sidecar": false
	 * workloads by address too (they may have no cgroup) */
	while (p->addr_ident >= 0 && bpf_map_get_next_key(p->addr_ident, aprev, &ak) == 0) {
		acur = ak;
		aprev = &acur;
		if (bpf_map_lookup_elem(p->addr_ident, &ak, &id))
			continue;
		if (id.flags & SHUNT_IDENT_IN_ONLY)
			err = ids_push(&ids, &n_ids, &cap_ids, id.identity);
		if (!err && (id.flags & SHUNT_IDENT_NOSIDECAR))
			err = ids_push(&nosc, &n_nosc, &cap_nosc, id.identity);
		if (!err && id.identity >= SVC_IDENTITY_FIRST && id.identity != SHUNT_IDENT_ANY)
			err = ids_push(&svcs, &n_svcs, &cap_svcs, id.identity);
		if (err)
			goto cleanup;
	}
	while (p->cg_ident >= 0 && bpf_map_get_next_key(p->cg_ident, cprev, &cgk) == 0) {
		ccur = cgk;
		cprev = &ccur;
		if (!bpf_map_lookup_elem(p->cg_ident, &cgk, &id) &&
		    (id.flags & SHUNT_IDENT_NOSIDECAR))
			err = ids_push(&nosc, &n_nosc, &cap_nosc, id.identity);
		if (err)
			goto cleanup;
	}
	cv->n_overrides = count_distinct(ids, n_ids);
	cv->n_nosidecar = count_distinct(nosc, n_nosc);
	cv->n_services = count_distinct(svcs, n_svcs);
cleanup:
	free(oc);
	free(ids);
	free(nosc);
	free(svcs);
	return err;
}

static int count_redirecting(const struct shunt_sock_key *k, const struct shunt_conn *c, void *arg)
{
	if (c->state == SHUNT_CONN_REDIRECT)
		(*(int *)arg)++;
	return 0;
}

static int cmd_status(const char *pin_dir, bool json)
{
	struct shunt_agent_info info = {};
	struct shunt_dp_config cfg = {};
	struct shunt_capture_cfg cap = {};
	struct shunt_pinned p;
	uint64_t cnt[SHUNT_CNT__MAX];
	bool have_info, alive, icpt;
	int n_l4, n_cg, n_addr;
	json_t *ports = NULL, *inc = NULL, *exc = NULL;
	struct capture_view cv = {0};
	__u32 zero = 0;
	unsigned int i;
	int err, nconns, nredir = 0;

	err = open_pinned(pin_dir, &p);
	if (err)
		return err;
	err = shunt_counters_read(p.counters, cnt);
	if (err) {
		fprintf(stderr, "shuntctl: failed to read counters: %s\n", strerror(-err));
		goto cleanup;
	}
	have_info = p.agent >= 0 && bpf_map_lookup_elem(p.agent, &zero, &info) == 0;
	if (p.config >= 0)
		bpf_map_lookup_elem(p.config, &zero, &cfg);
	alive = have_info && kill((pid_t)info.pid, 0) == 0;
	if (p.capture >= 0)
		bpf_map_lookup_elem(p.capture, &zero, &cap);
	icpt = p.link_connect4 >= 0;
	n_l4 = p.l4 >= 0 ? shunt_map_count(p.l4, sizeof(struct shunt_l4_key)) : 0;
	n_cg = p.cg_ident >= 0 ? shunt_map_count(p.cg_ident, sizeof(__u64)) : 0;
	n_addr = p.addr_ident >= 0 ? shunt_map_count(p.addr_ident, sizeof(struct shunt_cidr_key))
				   : 0;
	nconns = p.conns >= 0 ? shunt_conns_foreach(p.conns, count_redirecting, &nredir) : 0;
	ports = json_array();
	inc = json_array();
	exc = json_array();
	read_policy(&p, ports, inc, exc);
	cv.out_inc = json_array();
	cv.out_exc = json_array();
	cv.incl_out = json_array();
	cv.excl_out = json_array();
	cv.excl_in = json_array();
	err = read_capture(&p, &cv);
	if (err) {
		fprintf(stderr, "shuntctl: failed to read the capture maps: %s\n", strerror(-err));
		goto cleanup;
	}

	if (json) {
		json_t *ij;

		json_t *j = json_object(), *c = json_object(), *progs = json_array();

		json_object_set_new(j, "pin_dir", json_string(pin_dir));
		json_object_set_new(j, "agent_pid", json_integer(have_info ? info.pid : 0));
		json_object_set_new(j, "agent_running", json_boolean(alive));
		json_object_set_new(j, "cgroup", json_string(have_info ? info.cgroup : ""));
		json_object_set_new(j, "mode", json_string(mode_name(cfg.mode)));
		json_object_set_new(j, "small_writes",
				    json_string(shunt_small_writes_name(cfg.small_writes)));
		json_object_set_new(j, "small_min_run", json_integer(cfg.small_min_run));
		json_object_set_new(j, "small_max_avg", json_integer(cfg.small_max_avg));
		json_object_set_new(j, "small_max_avg_pod", json_integer(cfg.small_max_avg_pod));
		json_object_set_new(j, "active_connections", json_integer(nconns));
		json_object_set_new(j, "redirecting_connections", json_integer(nredir));
		json_object_set_new(j, "exclude_ports", json_incref(ports));
		json_object_set_new(j, "include_cidrs", json_incref(inc));
		json_object_set_new(j, "exclude_cidrs", json_incref(exc));
		json_array_append_new(
			progs, json_pack("{s:s, s:I, s:s, s:I, s:b}", "name", "shunt_sockops", "id",
					 (json_int_t)info.sockops_prog_id, "attach",
					 "cgroup_sock_ops", "link_id",
					 (json_int_t)info.sockops_link_id, "pinned", p.link >= 0));
		json_array_append_new(
			progs, json_pack("{s:s, s:I, s:s, s:b}", "name", "shunt_sk_msg", "id",
					 (json_int_t)info.sk_msg_prog_id, "attach",
					 "sk_msg_verdict(shunt_sockhash)", "pinned", p.prog >= 0));
		json_object_set_new(j, "programs", progs);
		ij = json_pack("{s:b, s:s, s:b, s:b, s:i, s:i, s:i, s:I, s:i, s:i, s:i}",
			       "attached", icpt, "capture", shunt_capture_name(cap.mode), "policy",
			       (cap.flags & SHUNT_CAP_POLICY) != 0, "inbound_capture",
			       (cap.flags & SHUNT_CAP_INBOUND) != 0, "outbound_port",
			       (int)cap.outbound_port, "inbound_port", (int)cap.inbound_port,
			       "proxy_uid",
			       cap.proxy_uid == SHUNT_UID_NONE ? -1 : (int)cap.proxy_uid,
			       "proxy_mark", (json_int_t)cap.proxy_mark, "l4_entries", n_l4,
			       "identity_cgroups", n_cg, "identity_address_blocks", n_addr);
		json_object_set(ij, "include_outbound_cidrs", cv.out_inc);
		json_object_set(ij, "exclude_outbound_cidrs", cv.out_exc);
		json_object_set(ij, "include_outbound_ports", cv.incl_out);
		json_object_set(ij, "exclude_outbound_ports", cv.excl_out);
		json_object_set(ij, "exclude_inbound_ports", cv.excl_in);
		json_object_set_new(ij, "workload_capture_overrides", json_integer(cv.n_overrides));
		json_object_set_new(ij, "workload_capture_port_entries", json_integer(cv.n_wports));
		json_object_set_new(ij, "workload_capture_range_entries",
				    json_integer(cv.n_wranges));
		json_object_set_new(ij, "workloads_without_sidecar", json_integer(cv.n_nosidecar));
		json_object_set_new(ij, "services", json_integer(cv.n_services));
		json_object_set_new(j, "interception", ij);
		for (i = 0; i < SHUNT_CNT__MAX; i++)
			json_object_set_new(c, shunt_counter_name(i),
					    json_integer((json_int_t)cnt[i]));
		json_object_set_new(j, "counters", c);
		err = json_print(j);
		goto cleanup;
	}
	printf("shunt state in %s/%s\n", pin_dir, SHUNT_PIN_VERSION);
	if (have_info)
		printf("agent:        shuntd pid %u (%s)\n", info.pid,
		       alive ? "running"
			     : "NOT running: pinned state left behind, restart "
			       "shuntd to replace it");
	printf("cgroup:       %s\n", have_info ? info.cgroup : "?");
	printf("mode:         %s, small-writes %s (window %u sends, avg < %u B on loopback, < %u B "
	       "between pods)\n",
	       mode_name(cfg.mode), shunt_small_writes_name(cfg.small_writes), cfg.small_min_run,
	       cfg.small_max_avg, cfg.small_max_avg_pod);
	printf("programs:     shunt_sockops id %u via link id %u (cgroup sock_ops)%s\n",
	       info.sockops_prog_id, info.sockops_link_id, p.link >= 0 ? "" : " [link not pinned]");
	printf("              shunt_sk_msg id %u (sk_msg verdict on shunt_sockhash)\n",
	       info.sk_msg_prog_id);
	print_list("exclude ports:", ports);
	print_list("include cidrs:", inc);
	print_list("exclude cidrs:", exc);
	if (icpt) {
		printf("interception: connect4/connect6/getsockopt/setsockopt attached; capture %s "
		       "(outbound 127.0.0.1:%u, inbound :%u%s), proxy uid %d mark %u; "
		       "L3/L4 policy %s (%d entries, %d cgroups, %d address blocks)\n",
		       shunt_capture_name(cap.mode), cap.outbound_port, cap.inbound_port,
		       (cap.flags & SHUNT_CAP_INBOUND) ? "" : " off",
		       cap.proxy_uid == SHUNT_UID_NONE ? -1 : (int)cap.proxy_uid, cap.proxy_mark,
		       (cap.flags & SHUNT_CAP_POLICY) ? "on" : "off", n_l4, n_cg, n_addr);
		print_list("  outbound include cidrs:", cv.out_inc);
		print_list("  outbound exclude cidrs:", cv.out_exc);
		print_list("  include outbound ports:", cv.incl_out);
		print_list("  exclude outbound ports:", cv.excl_out);
		print_list("  exclude inbound ports: ", cv.excl_in);
		printf("  per-workload capture:   %d workloads with own settings (%d port entries, "
		       "%d range entries), %d without sidecar\n",
		       cv.n_overrides, cv.n_wports, cv.n_wranges, cv.n_nosidecar);
		printf("  services:               %d with a clusterIP (judged by their "
		       "backends' policy)\n",
		       cv.n_services);
	} else {
		printf("interception: off\n");
	}
	printf("connections:  %d tracked sockets open, %d redirecting, %d on plain TCP\n", nconns,
	       nredir, nconns - nredir);
	printf("counters:\n");
	for (i = 0; i < SHUNT_CNT__MAX; i++)
		printf("  %-24s %" PRIu64 "\n", shunt_counter_name(i), cnt[i]);
cleanup:
	json_decref(ports);
	json_decref(inc);
	json_decref(exc);
	json_decref(cv.out_inc);
	json_decref(cv.out_exc);
	json_decref(cv.incl_out);
	json_decref(cv.excl_out);
	json_decref(cv.excl_in);
	shunt_pinned_close(&p);
	return err;
}

struct conns_ctx {
	bool json;
	json_t *arr;
	uint64_t now_ns;
};

/* SHUNT_SPLICE_* flags as "linked,in,on" ("-": none). */
static const char *splice_flags(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", (f & SHUNT_SPLICE_LINKED) ? "linked," : "",
		 (f & SHUNT_SPLICE_IN) ? "in," : "", (f & SHUNT_SPLICE_ON) ? "on," : "");
	if (!buf[0])
		snprintf(buf, len, "-");
	else
		buf[strlen(buf) - 1] = '\0';
	return buf;
}

static int on_conn(const struct shunt_sock_key *k, const struct shunt_conn *c, void *arg)
{
	struct conns_ctx *x = arg;
	char l[80], r[80], sp[24];
	double age = c->start_ns && x->now_ns > c->start_ns ? (x->now_ns - c->start_ns) / 1e9 : 0;

	shunt_format_endpoint(l, sizeof(l), k->family, k->local_ip, k->local_port);
	shunt_format_endpoint(r, sizeof(r), k->family, k->remote_ip, k->remote_port);
	if (x->json) {
		json_array_append_new(
			x->arr,
			json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:s}",
				  "local", l, "remote", r, "netns", (json_int_t)k->netns, "side",
				  c->active ? "client" : "server", "state",
				  shunt_conn_state_name(c->state), "cookie", (json_int_t)c->cookie,
				  "msgs_redirected", (json_int_t)c->msgs, "bytes_redirected",
				  (json_int_t)c->bytes, "msgs_passed", (json_int_t)c->pass_msgs,
				  "age_seconds", age, "splice",
				  splice_flags(c->splice, sp, sizeof(sp))));
		return 0;
	}
	printf("%-28s %-28s %-6s %-17s %10" PRIu64 " %14" PRIu64 " %10" PRIu64
	       " %8.1f %-12s %" PRIu64 "\n",
	       l, r, c->active ? "client" : "server", shunt_conn_state_name(c->state),
	       (uint64_t)c->msgs, (uint64_t)c->bytes, (uint64_t)c->pass_msgs, age,
	       splice_flags(c->splice, sp, sizeof(sp)), (uint64_t)k->netns);
	return 0;
}

static int cmd_conns(const char *pin_dir, bool json)
{
	struct conns_ctx x = {.json = json};
	struct shunt_pinned p;
	struct timespec ts;
	int err;

	err = open_pinned(pin_dir, &p);
	if (err)
		return err;
	if (p.conns < 0) {
		fprintf(stderr, "shuntctl: shunt_conns map not pinned\n");
		err = -ENOENT;
		goto cleanup;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns() clock */
	x.now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (json)
		x.arr = json_array();
	else
		printf("%-28s %-28s %-6s %-17s %10s %14s %10s %8s %-12s %s\n", "LOCAL", "REMOTE",
		       "SIDE", "STATE", "MSGS", "BYTES", "TCP_MSGS", "AGE_S", "SPLICE", "NETNS");
	err = shunt_conns_foreach(p.conns, on_conn, &x);
	if (err >= 0)
		err = 0;
	if (json)
		err = json_print(x.arr);
cleanup:
	shunt_pinned_close(&p);
	return err;
}

static int cmd_validate(int argc, char **argv)
{
#ifdef SHUNT_HAVE_CONFIG
	int i, bad = 0;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < argc; i++) {
		struct shunt_diags d = {0};
		struct shunt_config *cfg = NULL;
		struct shunt_policy *pol = NULL;
		int err = shunt_config_load_file(argv[i], &cfg, &d);

		if (!err)
			err = shunt_policy_compile(cfg, &pol, &d);
		if (err) {
			if (d.n)
				shunt_diags_print(&d, stderr);
			else
				fprintf(stderr, "shuntctl: %s: %s\n", argv[i], strerror(-err));
			bad = 1;
		} else {
			if (argc > 1)
				printf("== %s\n", argv[i]);
			shunt_config_summary(cfg, pol, stdout);
		}
		shunt_policy_free(pol);
		shunt_config_free(cfg);
		shunt_diags_free(&d);
	}
	return bad ? 2 : 0;
#else
	fprintf(stderr, "shuntctl: validate is unavailable (built without config/)\n");
	return 2;
#endif
}

int main(int argc, char **argv)
{
	const char *pin_dir = SHUNT_DEFAULT_PIN_DIR;
	const char *cmd;
	bool json = false;
	int i = 1, err;

	libbpf_set_print(on_libbpf_print);
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--pin-dir") && i + 1 < argc) {
			pin_dir = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "shuntctl: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[i++];
	if (!strcmp(cmd, "validate"))
		return cmd_validate(argc - i, argv + i);
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			fprintf(stderr, "shuntctl: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!strcmp(cmd, "status"))
		err = cmd_status(pin_dir, json);
	else if (!strcmp(cmd, "conns"))
		err = cmd_conns(pin_dir, json);
	else {
		fprintf(stderr, "shuntctl: unknown command %s\n", cmd);
		usage(stderr);
		return 2;
	}
	if (err == -ENOENT || err == -EPERM || err == -EACCES)
		return 2;
	return err ? 1 : 0;
}
